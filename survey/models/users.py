"""Office managers and administrators, each scoped to one unit and everything below it, and their
signed-in sessions (kept on the server, so that signing out, a password change or an idle hour ends
them even where a copy of the session cookie survives)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from survey.extensions import db
from survey.models._common import utcnow
from survey.models.units import Unit, UnitLevel

NATIONAL_ADMIN = "national-admin"
PROVINCE_ADMIN = "province-admin"
OFFICE_MANAGER = "office-manager"
#: Every role, and the levels of the unit it is bound to (a national administrator needs none).
ROLE_UNIT_LEVELS: dict[str, tuple[UnitLevel, ...]] = {
    NATIONAL_ADMIN: (),
    PROVINCE_ADMIN: (UnitLevel.PROVINCE,),
    OFFICE_MANAGER: (UnitLevel.OFFICE, UnitLevel.COMMUNE),
}
ROLES = tuple(ROLE_UNIT_LEVELS)
#: Roles that may manage accounts (within their scope).
ADMIN_ROLES = (NATIONAL_ADMIN, PROVINCE_ADMIN)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(256))
    #: The unit this user may see: its own data and everything below it, nothing else.
    scope_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    #: ``national-admin`` (the whole platform), ``province-admin`` (one province's subtree) or
    #: ``office-manager`` (one office, or one commune centre and its reception points).
    role: Mapped[str] = mapped_column(String(16), default=OFFICE_MANAGER)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: Sessions started before this moment are over: set by a password change and by "sign out everywhere".
    sessions_valid_after: Mapped[datetime | None] = mapped_column(DateTime)
    #: The password was given by someone else (``survey create-user``, the accounts page): the person
    #: must choose their own at the next sign-in before they reach any page.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The TOTP secret (RFC 6238), encrypted with a key derived from the secret key; never shown again
    #: once enrolment is confirmed. Set but unconfirmed while the person is enrolling.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    #: When the person proved the authenticator works (null: no second factor yet).
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: The last 30-second time step whose code was accepted: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    scope_unit: Mapped[Unit | None] = relationship()

    def set_password(self, password: str) -> None:
        """A new password; every session signed in with the old one ends."""
        self.password_hash = generate_password_hash(password)
        self.sessions_valid_after = utcnow()

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES

    @property
    def two_factor_required(self) -> bool:
        """Administrators must sign in with a second factor; office managers may choose to."""
        return self.role in ADMIN_ROLES

    @property
    def two_factor_enrolled(self) -> bool:
        return self.totp_confirmed_at is not None

    @property
    def is_active(self) -> bool:  # Flask-Login: deactivated users cannot sign in
        return self.active


def hash_session_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class UserSession(db.Model):
    """One sign-in: the browser keeps a random token in its (signed) session cookie, the server its hash."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: SHA-256 of the session's random token; the token itself is only in the browser's cookie.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: Last request seen (written at most once a minute), for the idle timeout.
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: When the person signed out of this session (null while it may still be used; idle and too-old
    #: sessions, and those before ``User.sessions_valid_after``, are refused without being marked).
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: Address and browser at sign-in, so that a person can recognise their sessions.
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(200))

    user: Mapped[User] = relationship()
