"""What every response and request passes through for safety, and the security event log.

- **Headers** on every response: a Content-Security-Policy without inline script (``script-src
  'self'``) that forbids framing, ``nosniff``, ``Referrer-Policy: no-referrer`` (kiosk addresses hold
  a secret token), HSTS when the request came over HTTPS, and ``Cache-Control: no-store`` on manager
  pages and whenever someone is signed in.
- **Cookies** get ``Secure`` whenever the request came over HTTPS (behind a proxy: see
  ``TRUSTED_PROXIES``); ``SESSION_COOKIE_SECURE = True`` sets it on every response.
- **Bodies** over ``MAX_CONTENT_LENGTH`` are refused with 413 however they are sent: Werkzeug refuses
  a too-large ``Content-Length`` but reads a chunked body to its end, so :class:`ChunkedBodyLimit`
  reads chunked bodies up to the limit and hands them on with a ``Content-Length``.
- **Form bodies** must name every field; **JSON bodies** must be an object of text, numbers, booleans or lists of those (what a form post
  carries); anything else (``[1]``, ``3``, nested objects, lone surrogates, 10,000 nested brackets) is
  a 400 before any view sees it, and the values are handed to the forms as text.
- **Redirects** go only to this site (:func:`safe_redirect_target`).
- **Security events** (:func:`security_event`) are JSON lines on the ``survey.security`` logger.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import math
import re
import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user

logger = logging.getLogger("survey.security")

#: Every page is served by the app itself: scripts and styles from /static, the favicon as a data: URL.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "worker-src 'self'",  # the kiosk's service worker (survey/static/js/kiosk-sw.js)
    "frame-ancestors 'none'",
])
#: Paths whose every page is personal (signed-in users, the sign-in form): never stored by caches.
PRIVATE_PATHS = ("/manager",)
#: Blueprints that read JSON bodies themselves, typed (a future API); others get form-like text values.
TYPED_JSON_BLUEPRINTS = {"api"}
#: Characters that must never appear in a redirect target (control characters, backslash: browsers
#: read ``/\evil.example`` as ``//evil.example``).
UNSAFE_IN_REDIRECT = re.compile(r"[\x00-\x1f\x7f\\]")
KIOSK_PATH = re.compile(r"^/kiosk/[^/]+")
FORM_MIMETYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


# ------------------------------------------------------------------------------------ security events

class _JsonLineHandler(logging.Handler):
    """One JSON object per line on the *current* standard error (a WSGI server may replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(record.getMessage() + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never break a request
            self.handleError(record)


def _client_address() -> str | None:
    return request.remote_addr


def _route() -> str:
    """The route pattern (``/kiosk/<token>``), never the secret values in the path."""
    if request.url_rule is not None:
        return request.url_rule.rule
    return KIOSK_PATH.sub("/kiosk/<token>", request.path)[:200]


def email_digest(email: str) -> str:
    """A stable pseudonym for an e-mail address (logs and sign-in counters never hold the address)."""
    key = hmac.new(str(current_app.secret_key).encode(), b"survey:email-digest", hashlib.sha256).digest()
    return hmac.new(key, email.strip().lower().encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:32]


def security_event(event: str, *, level: int = logging.INFO, **fields: Any) -> dict:
    """Log one security event as a JSON line: event, time, ip, path (the route pattern), method, the
    signed-in user's id, the kiosk's id (when known) and ``fields``. Returns the record (also attached to
    the log record as ``security_event``)."""
    record: dict[str, Any] = {"event": event, "time": datetime.now(UTC).isoformat(timespec="milliseconds")}
    if has_request_context():
        record.update(ip=_client_address(), method=request.method, path=_route())
        user_id = fields.pop("user_id", None)
        if user_id is None and g.get("_login_user") is not None and current_user.is_authenticated:
            user_id = current_user.id  # only when already loaded: logging must not query the database
        record["user_id"] = user_id
        kiosk_id = fields.pop("kiosk_id", None) or g.get("kiosk_id")
        if kiosk_id is not None:
            record["kiosk_id"] = kiosk_id
    record.update(fields)
    logger.log(level, json.dumps(record, ensure_ascii=False, default=str), extra={"security_event": record})
    return record


def _setup_logger() -> None:
    """Unless the operator configured ``survey.security`` (logging.dictConfig), write its events to stderr."""
    if not logger.handlers:
        logger.addHandler(_JsonLineHandler())
        logger.propagate = False
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


# ------------------------------------------------------------------------------------ redirects

def safe_redirect_target(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None.

    Refuses anything with a scheme or a host (``http://x``, ``//x``), control characters (a tab is
    dropped by browsers, so ``/\\t/evil.example`` becomes ``//evil.example``), backslashes, and paths
    that do not start with a single ``/``. Like Django's ``url_has_allowed_host_and_scheme``, but
    allowing no host at all: after sign-in we only ever go to one of our own pages.
    """
    if not target or not isinstance(target, str) or len(target) > 2000:
        return None
    if not target.isprintable() or UNSAFE_IN_REDIRECT.search(target):  # also Unicode line separators
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    try:
        parts = urlsplit(target)
    except ValueError:
        return None
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    return target


# ------------------------------------------------------------------------------------ request bodies

class ChunkedBodyLimit:
    """WSGI middleware: a body sent without ``Content-Length`` (chunked) is read here, at most one byte
    past the limit, and handed on with a ``Content-Length``; :func:`refuse_large_bodies` then refuses
    it with 413 exactly like a too-large declared length."""

    def __init__(self, wsgi_app, app: Flask):
        self.wsgi_app = wsgi_app
        self.app = app

    def __call__(self, environ, start_response):
        limit = _largest_body(self.app)
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if limit is not None and not environ.get("CONTENT_LENGTH") and (chunked or environ.get("wsgi.input_terminated")):
            body = _read_at_most(environ["wsgi.input"], limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["wsgi.input_terminated"] = True
            environ.pop("HTTP_TRANSFER_ENCODING", None)  # Werkzeug ignores Content-Length on chunked requests
        return self.wsgi_app(environ, start_response)


def _read_at_most(stream, size: int) -> bytes:
    """Read until the end of ``stream`` or ``size`` bytes (a chunked stream returns one chunk per read)."""
    buffer = bytearray()
    while len(buffer) < size:
        data = stream.read(size - len(buffer))
        if not data:
            break
        buffer += data
    return bytes(buffer)


def _largest_body(app: Flask) -> int | None:
    """What the chunked-body reader may read before the view is known: the largest limit of any view."""
    limit = app.config.get("MAX_CONTENT_LENGTH")
    if limit is None:
        return None
    return max(limit, app.config.get("LARGE_BODY_MAX_CONTENT_LENGTH") or 0)


def _body_limit() -> int | None:
    view = current_app.view_functions.get(request.endpoint)
    # Only for a request with a credential (an API key to check, or a signed-in manager): an anonymous
    # one never makes us parse a megabyte.
    if (getattr(view, "accepts_large_body", False) and current_app.config.get("MAX_CONTENT_LENGTH") is not None
            and ("Authorization" in request.headers or _signed_in())):
        return _largest_body(current_app)
    return current_app.config.get("MAX_CONTENT_LENGTH")


def _signed_in() -> bool:
    from flask_login import current_user

    return bool(current_user and current_user.is_authenticated)


def refuse_large_bodies():
    limit = _body_limit()
    if limit is not None and (request.content_length or 0) > limit:
        abort(413)
    if limit != current_app.config.get("MAX_CONTENT_LENGTH"):
        request.max_content_length = limit  # Flask ≥ 3.1: this request may read up to its view's limit


def accepts_large_body(view):
    """Mark a view that takes bodies up to ``LARGE_BODY_MAX_CONTENT_LENGTH`` (e.g. a batch of transactions)
    from requests with an ``Authorization`` header (the view checks it) or of a signed-in manager; others
    keep ``MAX_CONTENT_LENGTH``."""
    view.accepts_large_body = True
    return view


def accepts_files(view):
    """Mark a view that takes file uploads; every other view refuses them (see :func:`check_form_fields`)."""
    view.accepts_files = True
    return view


def check_form_fields():
    """Refuse what no form of ours sends: a multipart part without a usable name (it reaches Flask as
    a field named None, which Flask-WTF's CSRF check cannot handle), and files where a form expects
    text (a file named ``email`` would reach the form as the e-mail address)."""
    if request.method in ("GET", "HEAD", "OPTIONS") or request.mimetype not in FORM_MIMETYPES:
        return
    if None in request.form or None in request.files:
        abort(400)
    view = current_app.view_functions.get(request.endpoint)
    if request.files and not getattr(view, "accepts_files", False):
        abort(400)


def _valid_json_scalar(value) -> bool:
    if isinstance(value, str):
        return _encodable(value)
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (bool, int))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate such as "\ud800"
        return False
    return True


def _as_form_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def check_json_body():
    """Refuse JSON bodies that no form could have sent, and hand the rest to the forms as text values."""
    if not request.is_json or request.method in ("GET", "HEAD", "OPTIONS") or not request.content_length:
        return
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # thousands of nested brackets
        data = None
    if request.blueprint in TYPED_JSON_BLUEPRINTS:
        if data is None or not _json_encodable(data):
            abort(400)
        return
    if not isinstance(data, dict) or not all(
        isinstance(key, str) and _encodable(key)
        and (_valid_json_scalar(value) or (isinstance(value, list) and all(map(_valid_json_scalar, value))))
        for key, value in data.items()
    ):
        abort(400)
    # get_json() caches the parsed object and returns this same dict to the forms (Flask-WTF reads it as
    # form data), so the values are normalised in place: text, as a form post carries, and no nulls.
    for key, value in list(data.items()):
        values = [v for v in (value if isinstance(value, list) else [value]) if v is not None]
        if not values:
            del data[key]
        else:
            data[key] = [_as_form_text(v) for v in values] if isinstance(value, list) else _as_form_text(values[0])


def _json_encodable(data) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError, RecursionError):
        return False
    return True


# ------------------------------------------------------------------------------------ responses

def _signed_in() -> bool:
    try:
        return bool(current_user.is_authenticated)
    except Exception:  # noqa: BLE001 - a broken session or database is not a reason to fail a response
        return False


def set_security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors for browsers without CSP level 2
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
    max_age = current_app.config.get("HSTS_MAX_AGE_SECONDS")
    if request.is_secure and max_age:
        headers.setdefault("Strict-Transport-Security", f"max-age={int(max_age)}")
    if request.endpoint != "static" and (request.path.startswith(PRIVATE_PATHS) or _signed_in()):
        headers["Cache-Control"] = "no-store"
        headers.setdefault("Pragma", "no-cache")
    return response


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, ``Secure`` whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(super().get_cookie_secure(app) or (has_request_context() and request.is_secure))


def init_app(app: Flask) -> None:
    _setup_logger()
    app.wsgi_app = ChunkedBodyLimit(app.wsgi_app, app)
    if type(app.session_interface) is SecureCookieSessionInterface:
        app.session_interface = SessionInterface()
    # Before every other hook (CSRF protection reads the form): refuse what must never be parsed.
    hooks = app.before_request_funcs.setdefault(None, [])
    hooks[0:0] = [refuse_large_bodies, check_json_body, check_form_fields]
    app.after_request(set_security_headers)
