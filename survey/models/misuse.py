"""Reviews of misuse flags: a reviewer confirms a flag (the rating stays out of the figures) or
clears it (the rating comes back). Rows are only added: the history of each decision is kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from survey.extensions import db
from survey.models._common import utcnow


class FlagReview(db.Model):
    __tablename__ = "flag_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id"), index=True)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: ``confirmed`` or ``cleared``.
    decision: Mapped[str] = mapped_column(String(16))
    #: The flag's reason when it was reviewed.
    flag: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
