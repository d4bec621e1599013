"""Registered kiosk tablets: each holds a secret token bound to one office (and maybe a counter)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.extensions import db
from survey.models._common import utcnow
from survey.models.units import Unit


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Kiosk(db.Model):
    __tablename__ = "kiosks"

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    label: Mapped[str] = mapped_column(String(100))
    #: SHA-256 of the secret token in the kiosk's address; the token itself is shown once.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: Time of the last new rating, for refusing bursts of taps (updated atomically).
    last_rating_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: Health, reported by the kiosk page (heartbeat and offline sync): when it last reached the server,
    #: how many taps it still held in its offline queue then, and how far its clock was from the
    #: server's (seconds, positive when the tablet is behind).
    last_contact_at: Mapped[datetime | None] = mapped_column(DateTime)
    queued_taps: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    clock_skew_seconds: Mapped[int | None] = mapped_column(Integer)

    #: Per-kiosk timings in seconds; None means the config default (``KIOSK_<NAME>_SECONDS``).
    #: Bounds in :data:`survey.kiosks.operations.TIMING_BOUNDS`.
    confirm_seconds: Mapped[int | None] = mapped_column(SmallInteger)
    idle_seconds: Mapped[int | None] = mapped_column(SmallInteger)
    warning_seconds: Mapped[int | None] = mapped_column(SmallInteger)
    thanks_seconds: Mapped[int | None] = mapped_column(SmallInteger)

    office: Mapped[Unit] = relationship(foreign_keys=[office_id])
    counter: Mapped[Unit | None] = relationship(foreign_keys=[counter_id])

    def issue_token(self) -> str:
        """Give the kiosk a new secret token (the old address stops working) and return it."""
        token = secrets.token_urlsafe(24)
        self.token_hash = hash_token(token)
        return token

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
