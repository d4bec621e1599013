"""Office managers and administrators, each scoped to one unit and everything below it."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from survey.extensions import db
from survey.models._common import utcnow
from survey.models.units import Unit


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(256))
    #: The unit this user may see: its own data and everything below it, nothing else.
    scope_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    #: ``manager`` (one unit's data) or ``admin`` (the whole platform).
    role: Mapped[str] = mapped_column(String(16), default="manager")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    scope_unit: Mapped[Unit | None] = relationship()

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login: deactivated users cannot sign in
        return self.active
