"""API keys of the one-stop systems that call ``/api/v1``: stored as hashes, each scoped to units."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.extensions import db
from survey.models._common import utcnow
from survey.models.units import Unit

#: Every key starts with this, so a leaked one is recognisable (e.g. by secret scanners).
KEY_PREFIX = "svk_"

api_key_units = Table(
    "api_key_units",
    db.metadata,
    Column("api_key_id", ForeignKey("api_keys.id"), primary_key=True),
    Column("unit_id", ForeignKey("units.id"), primary_key=True),
)


def hash_api_key(key: str) -> str:
    """SHA-256 of the key: keys are 256 random bits, so a fast hash is enough (nothing to guess)."""
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


class ApiKey(db.Model):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Who calls with it, e.g. "Hệ thống một cửa điện tử tỉnh Hà Nội".
    name: Mapped[str] = mapped_column(String(200))
    #: SHA-256 of the key; the key itself is shown once, when it is created.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The key's first characters, to tell keys apart in listings without storing the key.
    key_start: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: When a request last authenticated with it (kept to the minute: at most one write per key a minute).
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)

    #: The key may register and read transactions of these units and everything below them.
    units: Mapped[list[Unit]] = relationship(secondary=api_key_units)

    def issue(self) -> str:
        """Give the key its secret (shown once) and return it."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        self.key_hash = hash_api_key(key)
        self.key_start = key[:12]
        return key

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
