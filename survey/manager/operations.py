"""Signing managers in and out.

- **No hint whether an account exists**: every attempt runs exactly one password-hash check (against
  a dummy hash of the same kind for unknown e-mails), and every refusal says the same thing.
- **Throttled per account and per address, with lockout**: ``SIGN_IN_ACCOUNT_FAILURES`` failures for
  one e-mail (known or not), or ``SIGN_IN_ADDRESS_FAILURES`` from one address, lock that e-mail or
  address for ``SIGN_IN_LOCKOUT_MINUTES``; while locked even the right password is refused. The
  counters live in the rate-limit storage (Redis when configured), so every worker and node shares
  them; they are keyed by a keyed hash of the e-mail, never the address itself.
- **Sessions the server can end** (:class:`~survey.models.UserSession`): signing out ends this
  session, "sign out everywhere" and a password change end all of them, and a session also ends after
  ``MANAGER_SESSION_IDLE_MINUTES`` without a request or ``MANAGER_SESSION_MAX_HOURS`` after sign-in.
  :func:`prune_sessions` (a periodic job) deletes them ``MANAGER_SESSION_KEEP_DAYS`` after they ended.
- **Sign-in in steps**: the password step only opens a *pending* sign-in (kept in the signed session
  cookie for ``SIGN_IN_SECOND_STEP_MINUTES``); the session starts once every step is done: the
  second-factor code (:mod:`survey.manager.twofactor`) when the person has one, a new password when
  theirs was given by someone else, and enrolment in two-factor sign-in for an administrator without it.

Functions flush; the caller commits.
"""

from __future__ import annotations

import functools
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import limits
from flask import current_app, g, request, session
from flask_login import current_user, login_user, logout_user
from sqlalchemy import delete, func, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from survey.audit.log import record
from survey.extensions import db, limiter
from survey.models import User, UserSession
from survey.models._common import utcnow
from survey.models.users import hash_session_token
from survey.security import email_digest, security_event

#: Where the browser keeps its session token (in Flask's signed session cookie).
SESSION_TOKEN_KEY = "manager_session"  # nosec B105 - the name of a session entry, not a secret
#: A session's ``last_seen_at`` is written at most this often (one write a minute, not one per request).
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class SignInResult:
    user: User | None
    #: Seconds until another attempt may be made, when the account or address is locked.
    locked_for: int | None = None


@functools.cache
def _dummy_hash() -> str:
    """A hash made exactly like real ones, checked for unknown e-mails so they take as long as known ones."""
    return generate_password_hash(secrets.token_urlsafe(16))


def _items() -> tuple[limits.RateLimitItem, limits.RateLimitItem, limits.RateLimitItem]:
    config = current_app.config
    return (
        limits.parse(config["SIGN_IN_ACCOUNT_FAILURES"]),
        limits.parse(config["SIGN_IN_ADDRESS_FAILURES"]),
        limits.RateLimitItemPerSecond(1, max(1, round(float(config["SIGN_IN_LOCKOUT_MINUTES"]) * 60))),
    )


def _counters(email: str) -> list[tuple[str, str]]:
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") or "survey"
    return [(prefix, f"account:{email_digest(email)}"), (prefix, f"address:{request.remote_addr}")]


def locked_for(email: str) -> int | None:
    """Seconds left on a lock of this e-mail or of the requesting address, or None."""
    *_, lock = _items()
    strategy = limiter.limiter
    waits = [
        strategy.get_window_stats(lock, prefix, "sign-in-lock", key).reset_time
        for prefix, key in _counters(email) if not strategy.test(lock, prefix, "sign-in-lock", key)
    ]
    if not waits:
        return None
    return max(1, int(max(waits) - time.time()) + 1)


def _record_failure(email: str) -> bool:
    """Count a failed attempt for the e-mail and the address; lock whichever reached its limit.
    Returns whether a lock started."""
    account_item, address_item, lock = _items()
    strategy = limiter.limiter
    locked = False
    for (prefix, key), item in zip(_counters(email), (account_item, address_item)):
        strategy.hit(item, prefix, "sign-in-failures", key)
        if strategy.get_window_stats(item, prefix, "sign-in-failures", key).remaining <= 0:
            strategy.hit(lock, prefix, "sign-in-lock", key)
            strategy.clear(item, prefix, "sign-in-failures", key)  # after the lock: a fresh allowance
            locked = True
    return locked


def authenticate(email: str, password: str) -> SignInResult:
    """The active user with this e-mail and password, or a refusal that reveals nothing more."""
    email = email.strip()
    digest = email_digest(email)
    if (wait := locked_for(email)) is not None:
        security_event("sign_in_refused_locked", level=logging.WARNING, email_hash=digest, retry_after=wait)
        return SignInResult(None, locked_for=wait)
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.lower()))
    # Exactly one hash check whatever the e-mail: the answer's timing must not tell accounts apart.
    password_ok = check_password_hash(user.password_hash if user is not None else _dummy_hash(), password)
    if user is not None and user.is_active and password_ok:
        account_item, *_ = _items()
        prefix, key = _counters(email)[0]
        limiter.limiter.clear(account_item, prefix, "sign-in-failures", key)
        security_event("sign_in_success", user_id=user.id, email_hash=digest)
        return SignInResult(user)
    reason = "unknown_account" if user is None else "inactive_account" if not user.is_active else "wrong_password"
    security_event("sign_in_failure", level=logging.WARNING, user_id=user.id if user else None,
                   email_hash=digest, reason=reason)
    if _record_failure(email):
        security_event("sign_in_lockout", level=logging.WARNING, email_hash=digest,
                       minutes=current_app.config["SIGN_IN_LOCKOUT_MINUTES"])
    return SignInResult(None)


def start_session(user: User) -> UserSession:
    """Sign ``user`` in with a fresh session (nothing carried over from before but the language)."""
    language = session.get("lang")
    session.clear()  # no session fixation: whatever the browser held before sign-in is dropped
    if language:
        session["lang"] = language
    token = secrets.token_urlsafe(32)
    user_session = UserSession(
        user=user, token_hash=hash_session_token(token), ip=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:200] or None,
    )
    db.session.add(user_session)
    db.session.flush()
    session[SESSION_TOKEN_KEY] = token
    login_user(user)
    return user_session


def _session_row(token: str | None) -> UserSession | None:
    if not token or not isinstance(token, str):
        return None
    return db.session.scalar(select(UserSession).where(UserSession.token_hash == hash_session_token(token)))


def user_for_session(user_id: str, token: str | None, *, now: datetime | None = None) -> User | None:
    """Flask-Login's user loader: the user, if this browser's session is still open. Records why a
    session just ended in ``g.session_end`` (``idle``, ``expired``, ``revoked``) for the sign-in page."""
    row = _session_row(token)
    if row is None or str(row.user_id) != str(user_id):
        return None
    now = now or utcnow()
    config = current_app.config
    user = row.user
    reason = None
    if row.ended_at is not None or (user.sessions_valid_after and row.created_at < user.sessions_valid_after):
        reason = "revoked"
    elif not user.is_active:
        reason = "revoked"
    elif user.two_factor_required and not user.two_factor_enrolled:
        reason = "two_factor"  # e.g. signed in before two-factor sign-in was required, or reset since
    elif now - row.last_seen_at > timedelta(minutes=config["MANAGER_SESSION_IDLE_MINUTES"]):
        reason = "idle"
    elif now - row.created_at > timedelta(hours=config["MANAGER_SESSION_MAX_HOURS"]):
        reason = "expired"
    if reason is not None:
        g.session_end = reason
        session.pop(SESSION_TOKEN_KEY, None)
        security_event("session_refused", user_id=user.id, reason=reason)
        return None
    if now - row.last_seen_at >= TOUCH_INTERVAL:
        # Its own short transaction: the loader may run before or after the view's work, which it must not commit.
        with db.engine.begin() as connection:
            connection.execute(update(UserSession).where(UserSession.id == row.id).values(last_seen_at=now))
    return user


def end_session(*, everywhere: bool = False) -> None:
    """Sign out: this browser's session ends on the server too (a copied cookie no longer works);
    ``everywhere`` ends every session of the user."""
    now = utcnow()
    user = current_user if current_user.is_authenticated else None
    row = _session_row(session.get(SESSION_TOKEN_KEY))
    if row is not None and row.ended_at is None:
        row.ended_at = now
    if everywhere and user is not None:
        user.sessions_valid_after = now
    db.session.flush()
    security_event("sign_out", user_id=user.id if user else None, everywhere=everywhere)
    logout_user()
    session.pop(SESSION_TOKEN_KEY, None)


# ------------------------------------------------------------------------------------ accounts

class AccountError(ValueError):
    """An account that cannot be created as asked: ``code`` is stable (pages translate it), the
    message says why in English (the command line shows it)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


#: Shortest password accepted from a person (generated ones are longer).
MIN_PASSWORD_LENGTH = 12


def create_user(email: str, role: str, unit_code: str | None, *, name: str | None = None,
                password: str | None = None, actor: User | None = None,
                one_time: bool | None = None) -> tuple[User, str]:
    """A new account bound to a unit that fits its role, and its password (generated when none is
    given; only its hash is stored). A ``one_time`` password (the default for a generated one) must be
    changed at the first sign-in. Flushes; the caller commits."""
    from survey.models import Unit
    from survey.models.users import ROLE_UNIT_LEVELS

    email = email.strip()
    if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        raise AccountError("bad_email", f"Not an e-mail address: {email!r}.")
    if role not in ROLE_UNIT_LEVELS:
        raise AccountError("bad_role", f"Unknown role {role!r}; use one of {', '.join(ROLE_UNIT_LEVELS)}.")
    levels = ROLE_UNIT_LEVELS[role]
    unit = None
    if levels:
        if not unit_code:
            raise AccountError("unit_needed", f"A {role} needs --unit (a unit of level {' or '.join(levels)}).")
        unit = db.session.scalar(select(Unit).where(Unit.code == unit_code))
        if unit is None:
            raise AccountError("no_such_unit", f"No unit with code {unit_code!r}.")
        if unit.level not in levels:
            raise AccountError("unit_level", f"A {role} is bound to a unit of level {' or '.join(levels)}; "
                               f"{unit_code} is at level {unit.level}.")
    elif unit_code:
        raise AccountError("no_unit", f"A {role} sees the whole platform; leave out --unit.")
    if db.session.scalar(select(User.id).where(func.lower(User.email) == email.lower())) is not None:
        raise AccountError("exists", f"There is already an account for {email}.")
    generated = password is None
    if password is None:
        password = secrets.token_urlsafe(12)
    elif len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError("short_password", f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    user = User(email=email, name=name or email.split("@")[0], role=role, scope_unit=unit)
    user.set_password(password)
    user.must_change_password = one_time if one_time is not None else generated
    db.session.add(user)
    db.session.flush()
    security_event("user_created", user_id=user.id, role=role, unit=unit.code if unit else None)
    record(actor, "user_created", user, unit=unit, data={"email": email, "role": role})
    return user, password


def change_password(user: User, new_password: str) -> None:
    """The person's own new password: at least ``MIN_PASSWORD_LENGTH`` characters and not the one it
    replaces. Every other session of the user ends (see :meth:`User.set_password`)."""
    if len(new_password) < MIN_PASSWORD_LENGTH:
        raise AccountError("short_password", f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    if user.check_password(new_password):
        raise AccountError("same_password", "The new password must differ from the old one.")
    user.set_password(new_password)
    user.must_change_password = False
    db.session.flush()
    security_event("password_changed", user_id=user.id)


# ------------------------------------------------------------------------------------ sign-in steps

#: Where a sign-in waiting for its next step is kept (in Flask's signed session cookie).
PENDING_KEY = "pending_sign_in"


def begin_sign_in(user: User, next_target: str | None) -> None:
    """The password was right: remember who is signing in until the remaining steps are done (nothing
    carried over from before but the language; no manager page opens yet)."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    session[PENDING_KEY] = {"user": user.id, "at": int(time.time()), "code_ok": False, "next": next_target}


def pending_sign_in() -> tuple[User, dict] | None:
    """The user of the sign-in waiting for a step, and its state, unless it is too old or the account
    was deactivated since."""
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict) or not isinstance(data.get("user"), int) or not isinstance(data.get("at"), int):
        return None
    if time.time() - data["at"] > float(current_app.config["SIGN_IN_SECOND_STEP_MINUTES"]) * 60:
        session.pop(PENDING_KEY, None)
        return None
    user = db.session.get(User, data["user"])
    if user is None or not user.is_active:
        session.pop(PENDING_KEY, None)
        return None
    return user, data


def next_sign_in_step(user: User, state: dict) -> str | None:
    """``code``, ``password``, ``enrol`` or None (done): the code comes first, so the one-time password
    alone cannot change the password of an account that has a second factor."""
    if user.two_factor_enrolled and not state.get("code_ok"):
        return "code"
    if user.must_change_password:
        return "password"
    if user.two_factor_required and not user.two_factor_enrolled:
        return "enrol"
    return None


def mark_code_ok() -> None:
    state = dict(session[PENDING_KEY])
    state["code_ok"] = True
    session[PENDING_KEY] = state


def abandon_sign_in() -> None:
    session.pop(PENDING_KEY, None)


def check_second_factor(user: User, code: str | None) -> SignInResult:
    """The code step of a sign-in: locked accounts and addresses are refused; a wrong or reused code
    counts as a failed sign-in attempt towards the lockout."""
    from survey.manager import twofactor

    digest = email_digest(user.email)
    if (wait := locked_for(user.email)) is not None:
        security_event("sign_in_refused_locked", level=logging.WARNING, email_hash=digest, retry_after=wait)
        return SignInResult(None, locked_for=wait)
    if twofactor.check_code(user, code):
        security_event("two_factor_success", user_id=user.id, email_hash=digest)
        return SignInResult(user)
    security_event("sign_in_failure", level=logging.WARNING, user_id=user.id, email_hash=digest,
                   reason="wrong_code")
    if _record_failure(user.email):
        security_event("sign_in_lockout", level=logging.WARNING, email_hash=digest,
                       minutes=current_app.config["SIGN_IN_LOCKOUT_MINUTES"])
        return SignInResult(None, locked_for=locked_for(user.email))
    return SignInResult(None)


def finish_sign_in(user: User) -> str | None:
    """Every step is done: start the session. Returns where the person wanted to go."""
    state = session.get(PENDING_KEY) or {}
    start_session(user)
    security_event("sign_in_complete", user_id=user.id, two_factor=user.two_factor_enrolled)
    return state.get("next")


# ------------------------------------------------------------------------------------ housekeeping

def prune_sessions(*, now: datetime | None = None) -> int:
    """Delete the sessions that can no longer be used (signed out, idle, too old, or ended by a password
    change or "sign out everywhere") once ``MANAGER_SESSION_KEEP_DAYS`` have passed since they ended.
    Returns how many were deleted; the caller commits."""
    config = current_app.config
    now = now or utcnow()
    keep = timedelta(days=float(config["MANAGER_SESSION_KEEP_DAYS"]))
    idle = timedelta(minutes=float(config["MANAGER_SESSION_IDLE_MINUTES"]))
    longest = timedelta(hours=float(config["MANAGER_SESSION_MAX_HOURS"]))
    cutoff = now - keep
    revoked_users = select(User.id).where(User.sessions_valid_after.is_not(None),
                                          User.sessions_valid_after < cutoff)
    revoked = (UserSession.user_id.in_(revoked_users)
               & (UserSession.created_at < select(User.sessions_valid_after)
                  .where(User.id == UserSession.user_id).scalar_subquery()))
    result = db.session.execute(
        delete(UserSession).where(or_(
            UserSession.ended_at < cutoff,
            UserSession.last_seen_at < cutoff - idle,
            UserSession.created_at < cutoff - longest,
            revoked,
        )).execution_options(synchronize_session=False)
    )
    return result.rowcount or 0
