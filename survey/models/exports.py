"""Large exports prepared in the background: one row per requested file, with its progress."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from survey.extensions import db


class ExportJob(db.Model):
    """An export a manager asked for: written by a background job to ``instance/exports/<token>.<format>``
    (owner-only permissions), downloadable by that manager only, deleted after ``EXPORT_KEEP_MINUTES``."""

    __tablename__ = "export_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random name of the file (never derived from the id, so files cannot be guessed).
    token: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: The unit chosen inside the manager's scope (empty: the whole scope).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    #: ``csv`` or ``xlsx``.
    format: Mapped[str] = mapped_column(String(8))
    #: The language of the masking labels.
    locale: Mapped[str] = mapped_column(String(8))
    #: ``queued``, ``running``, ``finished``, ``failed`` or ``expired`` (file deleted).
    state: Mapped[str] = mapped_column(String(16), default="queued")
    rows_total: Mapped[int | None] = mapped_column(Integer)
    rows_written: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: When the file is deleted.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
