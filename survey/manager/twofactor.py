"""Two-factor sign-in with time-based one-time codes (TOTP, RFC 6238, the codes authenticator apps show).

- **Who**: administrators (national and provincial) must have a second factor; an administrator without
  one is sent to enrolment right after the password step and reaches no other page until it is done.
  Office managers may enrol themselves from their account page, and may turn it off again.
- **The secret** is encrypted at rest (Fernet, with a key derived from the secret key for this purpose
  only; keys of a secret being rotated out still decrypt). It is shown (as a QR code and as text) only
  while enrolment is unconfirmed; after the first correct code nothing shows it again.
- **Codes** are accepted one time step (30 s) either side of the server's clock, for apps whose clock is
  a little off, and each time step at most once: a code seen on a shoulder or in a proxy log cannot be
  used a second time, even within its window. Wrong codes count towards the sign-in lockout like wrong
  passwords (see :mod:`survey.manager.operations`).
- **Reset**: an administrator can remove another person's second factor in their scope (audited); that
  person's sessions end and, if an administrator, they enrol again at their next sign-in.

Functions flush; the caller commits.
"""

from __future__ import annotations

import base64
import hmac
import time

import pyotp
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

from survey.audit.log import record
from survey.extensions import db
from survey.models import User
from survey.models._common import utcnow
from survey.secrets import derived_keys
from survey.security import security_event

#: Key derivation purpose of the key that encrypts TOTP secrets.
SECRET_PURPOSE = "totp-secret"
#: Seconds per code (the RFC 6238 default every authenticator app uses).
STEP_SECONDS = 30
#: Time steps accepted either side of the server's clock.
SKEW_STEPS = 1
DIGITS = 6


class TwoFactorError(ValueError):
    """A refusal with a stable ``code`` (pages translate it)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(base64.urlsafe_b64encode(key)) for key in derived_keys(SECRET_PURPOSE)])


def _encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def _decrypt(stored: str) -> str | None:
    try:
        return _fernet().decrypt(stored.encode()).decode()
    except InvalidToken:  # encrypted under a secret key no longer configured: enrol again
        return None


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def normalise_code(code: str | None) -> str:
    """The digits a person typed (apps show ``123 456``; people paste with spaces or a dash)."""
    return "".join(c for c in (code or "") if c not in " -\t")


def pending_secret(user: User, *, renew: bool = False) -> str:
    """The secret of an enrolment not yet confirmed (made when there is none, or anew with ``renew``):
    shown only until confirmed. The enrolment page renews it each time it is opened, so a key someone
    else saw earlier (with the one-time password) is worthless once the person opens the page."""
    if user.two_factor_enrolled:
        raise TwoFactorError("already_enrolled")
    secret = _decrypt(user.totp_secret) if user.totp_secret and not renew else None
    if secret is None:
        secret = pyotp.random_base32()
        user.totp_secret = _encrypt(secret)
        user.totp_last_step = None
        db.session.flush()
    return secret


def provisioning_uri(user: User, secret: str) -> str:
    """The ``otpauth://`` address an authenticator app reads from the QR code."""
    return _totp(secret).provisioning_uri(name=user.email, issuer_name=current_app.config["TOTP_ISSUER"])


def qr_data_uri(address: str) -> str:
    """The QR code as an SVG ``data:`` URI (the CSP allows images from data: but no inline markup)."""
    import segno

    return segno.make(address, error="m").svg_data_uri(scale=5, border=2)


def check_code(user: User, code: str | None, *, now: float | None = None) -> bool:
    """Whether ``code`` is the user's code for now (± one step) and its time step was not used before;
    an accepted step is remembered, so the same code (or an older one) is refused afterwards."""
    code = normalise_code(code)
    if not user.totp_secret or len(code) != DIGITS or not code.isdigit():
        return False
    secret = _decrypt(user.totp_secret)
    if secret is None:
        return False
    totp = _totp(secret)
    current = int((time.time() if now is None else now) // STEP_SECONDS)
    accepted = None
    for step in range(current - SKEW_STEPS, current + SKEW_STEPS + 1):
        # Compare every candidate (constant work whichever matches).
        if hmac.compare_digest(totp.generate_otp(step), code):
            accepted = step
    if accepted is None or (user.totp_last_step is not None and accepted <= user.totp_last_step):
        return False
    user.totp_last_step = accepted
    db.session.flush()
    return True


def confirm_enrolment(user: User, code: str | None, *, now: float | None = None) -> bool:
    """Finish enrolment with the first code from the app. Audited; returns whether the code was right."""
    if user.two_factor_enrolled:
        raise TwoFactorError("already_enrolled")
    if not check_code(user, code, now=now):
        security_event("two_factor_enrol_failure", user_id=user.id)
        return False
    user.totp_confirmed_at = utcnow()
    db.session.flush()
    security_event("two_factor_enrolled", user_id=user.id)
    record(user, "two_factor_enrolled", user, unit=user.scope_unit)
    return True


def _remove(user: User) -> None:
    user.totp_secret = None
    user.totp_confirmed_at = None
    user.totp_last_step = None


def check_may_disable(user: User) -> None:
    """Raises unless ``user`` has a second factor they may turn off (administrators' is required)."""
    if user.two_factor_required:
        raise TwoFactorError("required")
    if not user.two_factor_enrolled:
        raise TwoFactorError("not_enrolled")


def disable(user: User, code: str | None, *, now: float | None = None) -> bool:
    """An office manager turns their own second factor off, proving it with a current code. Audited."""
    check_may_disable(user)
    if not check_code(user, code, now=now):
        security_event("two_factor_disable_failure", user_id=user.id)
        return False
    _remove(user)
    db.session.flush()
    security_event("two_factor_disabled", user_id=user.id)
    record(user, "two_factor_disabled", user, unit=user.scope_unit)
    return True


def reset(user: User, *, actor: User) -> None:
    """An administrator removes ``user``'s second factor (a lost phone); the caller has checked scope.
    Every session of ``user`` ends. Audited."""
    if actor.id == user.id:
        raise TwoFactorError("own_account")
    had_one = user.two_factor_enrolled
    _remove(user)
    user.sessions_valid_after = utcnow()
    db.session.flush()
    security_event("two_factor_reset", user_id=actor.id, target_user_id=user.id)
    record(actor, "two_factor_reset", user, unit=user.scope_unit, data={"was_enrolled": had_one})
