"""Complaint cases: a dissatisfied citizen's comment that a manager must answer on time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.extensions import db
from survey.models.ratings import Rating
from survey.models.units import Unit


class ComplaintCase(db.Model):
    """One case per rating (the unique ``rating_id`` makes opening it happen exactly once).

    Its state follows from the times: open → acknowledged → answered → closed. It is overdue while it
    is not answered after ``due_at``; answered on time when ``answered_at <= due_at``."""

    __tablename__ = "complaint_cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id"), unique=True)
    #: The rating's office, copied so the scope and the per-unit figures need no join.
    office_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime)
    due_at: Mapped[datetime] = mapped_column(DateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The manager's answer (the citizen gave no contact on this platform yet: it is kept here).
    answer_text: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    rating: Mapped[Rating] = relationship()
    office: Mapped[Unit] = relationship()

    @property
    def state(self) -> str:
        if self.closed_at is not None:
            return "closed"
        if self.answered_at is not None:
            return "answered"
        if self.acknowledged_at is not None:
            return "acknowledged"
        return "open"

    def overdue(self, now: datetime) -> bool:
        return self.answered_at is None and now > self.due_at

    @property
    def answered_on_time(self) -> bool:
        return self.answered_at is not None and self.answered_at <= self.due_at


class ReplyRequest(db.Model):
    """A citizen who asked for a reply on the negative-reasons screen, with the contact they gave (a
    phone number or an e-mail address). Opens a complaint case even without a comment; the contact is
    shown only on the case page to managers of its scope, never published or exported."""

    __tablename__ = "reply_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id"), unique=True)
    contact: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime)
