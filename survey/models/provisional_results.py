"""The open period's results as the periodic job last computed them (one row per view, replaced)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from survey.extensions import db
from survey.models._common import utcnow


class ProvisionalResult(db.Model):
    """The newest provisional table of one view (period × level × questionnaire × options).

    Written by :func:`survey.results.provisional.refresh_provisional` every minute, read by the pages
    and the API instead of computing in the request. Never published: it is replaced in place.
    """

    __tablename__ = "provisional_results"
    __table_args__ = (UniqueConstraint("period", "level", "questionnaire", "options_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Canonical label of the open period: ``2026-11``, ``2026-Q4`` or ``2026``.
    period: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(16))
    questionnaire: Mapped[str] = mapped_column(String(64))
    options_hash: Mapped[str] = mapped_column(String(64))
    #: The content's data version (hash of the count rows read).
    data_version: Mapped[str] = mapped_column(String(64))
    #: When the job finished computing it (UTC); the pages show it.
    computed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: How long the computation took, for operators (seconds).
    seconds: Mapped[float] = mapped_column(Float)
    content_json: Mapped[str] = mapped_column(Text)
