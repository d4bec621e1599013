"""Alerts: a unit whose index dropped, whose complaint cases went unanswered past their deadline, or
whose flagged ratings spiked. Raised and closed by the periodic job ``refresh_alerts``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.extensions import db
from survey.models.units import Unit


class Alert(db.Model):
    """One alert per unit, kind and period (the unique constraint makes raising it idempotent); open
    while ``closed_at`` is empty, closed when its condition clears (reopened if it comes back)."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("unit_id", "kind", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    #: ``index_drop``, ``overdue_cases`` or ``misuse_spike`` (see survey.alerts.operations.KINDS).
    kind: Mapped[str] = mapped_column(String(16))
    #: The results period (``2026-07``) of an index drop, the month of overdue cases, the day of a spike.
    period: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: JSON: the figures behind the alert (the change and its interval, the number of cases or flags).
    details: Mapped[str | None] = mapped_column(Text)
    #: When the alert was e-mailed (empty: not sent, or no SMTP server configured).
    emailed_at: Mapped[datetime | None] = mapped_column(DateTime)

    unit: Mapped[Unit] = relationship()

    @property
    def is_open(self) -> bool:
        return self.closed_at is None
