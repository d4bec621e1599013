"""Telling phones apart when many share one address (a centre's guest Wi-Fi).

Each phone gets a signed device cookie (a random id and its HMAC under a key derived for this
purpose). Ratings are counted per device against a human rate; beyond it they are still stored, but
flagged for review (see :mod:`survey.misuse`), never refused. Phones without a valid cookie (cookies
off, a script) share one budget per address. The per-address ceiling of the phone route
(``PHONE_RATE_LIMIT``) only stops floods, far above any Wi-Fi full of citizens.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from flask import current_app, g, request
from flask_limiter.util import get_remote_address
from limits import parse

from survey.extensions import limiter
from survey.secrets import derived_key, derived_keys

COOKIE = "survey_device"
COOKIE_MAX_AGE = 400 * 24 * 3600  # browsers keep a cookie at most 400 days


def _signature(key: bytes, device: str) -> str:
    return hmac.new(key, b"phone-device:" + device.encode(), hashlib.sha256).hexdigest()[:32]


def current_device() -> str | None:
    """This phone's id from its signed cookie; None when it has none or a forged one."""
    device, _, signature = request.cookies.get(COOKIE, "").partition(".")
    if len(device) != 32 or not device.isalnum():
        return None
    posted = signature.encode("utf-8", "replace")
    if any(hmac.compare_digest(posted, _signature(key, device).encode()) for key in derived_keys("phone-device")):
        return device
    return None


def give_device_cookie() -> None:
    """Give a phone without a (valid) device cookie a new one with this response."""
    if current_device() is None:
        g.new_device = uuid.uuid4().hex


def set_device_cookie(response):
    device = g.pop("new_device", None)
    if device is not None:
        response.set_cookie(
            COOKIE, f"{device}.{_signature(derived_key('phone-device'), device)}", max_age=COOKIE_MAX_AGE,
            httponly=True, samesite="Lax", secure=request.is_secure or current_app.config["SESSION_COOKIE_SECURE"],
        )
    return response


def within_human_rate() -> bool:
    """Count one rating for this phone (or, without a cookie, for its address); False beyond the
    human rate ``PHONE_DEVICE_HUMAN_RATE``."""
    device = current_device()
    who = f"device:{device}" if device else f"address:{get_remote_address()}"
    return limiter.limiter.hit(parse(current_app.config["PHONE_DEVICE_HUMAN_RATE"]), "phone-rating", who)
