"""Settings an administrator changes in the manager pages (not in the instance configuration), each
change audited: one row per setting."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from survey.extensions import db


class Setting(db.Model):
    __tablename__ = "settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: A stable name, e.g. ``keep_unmasked_comments`` (see survey.settings.queries.DEFAULTS).
    name: Mapped[str] = mapped_column(String(64), unique=True)
    #: The value as JSON text (``true``, ``false``, a number, a string).
    value: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(DateTime)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
