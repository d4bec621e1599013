"""Friendly error pages in the visitor's language (and JSON for JSON clients) that cannot themselves fail.

Every error page offers a real next step (start the rating again, the manager pages, the home page).
A lost database connection answers 503 with ``Retry-After`` (and a rating post gets a page that sends
the same answers again after that delay); any unexpected error rolls the session
back first, so the error page (and the next request) never meets a half-failed transaction. If the
page cannot be rendered at all, a plain bilingual page is sent instead of a crash.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from flask import Flask, current_app, g, jsonify, make_response, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError

from survey.security import security_event

log = logging.getLogger(__name__)

MESSAGES = {
    400: _l("Something in the form was not right. Please go back and try again."),
    403: _l("You do not have access to this page."),
    404: _l("This page does not exist."),
    405: _l("This page does not accept that kind of request."),
    413: _l("What you sent is too large."),
    429: _l("Too many ratings were sent from here in a short time. Please wait a little and try again."),
    500: _l("Something went wrong on our side. Your rating may not have been saved; please try again."),
    503: _l("The service is busy for a moment. Please try again in a few seconds."),
}
#: Messages for pages that are not about ratings.
MANAGER_MESSAGES = {
    429: _l("Too many attempts from here in a short time. Please wait a few minutes and try again."),
    500: _l("Something went wrong on our side. Please try again."),
}
#: A rating form has a handful of fields; more is not ours and is not sent again.
RESEND_MAX_FIELDS = 40
#: Said in both languages when even the error page cannot be rendered.
FALLBACK_TEXT = "Hệ thống đang gặp sự cố, vui lòng thử lại sau. / Something went wrong, please try again later."


def wants_json() -> bool:
    """The client asked for JSON (the enhanced kiosk, an API client) rather than a page."""
    try:
        best = request.accept_mimetypes.best_match(["text/html", "application/json"])
        return request.is_json or best == "application/json"
    except Exception:  # noqa: BLE001 - a malformed header means "a page"
        return False


def _area() -> str | None:
    """Which part of the site the request is for, from its route (also for routes that failed)."""
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    for prefix, area in (("/kiosk/", "kiosk"), ("/r/", "phone"), ("/l/", "link"), ("/manager", "manager")):
        if rule.startswith(prefix):
            return area
    return None


def default_message(status: int):
    if _area() == "manager" and status in MANAGER_MESSAGES:
        return MANAGER_MESSAGES[status]
    return MESSAGES.get(status) or MESSAGES[500 if status >= 500 else 400]


def next_step() -> tuple[str, object]:
    """Where the person can go from an error: the rating's start page, the manager pages, or home."""
    args = dict(request.view_args or {})
    area = _area()
    if area in ("kiosk", "phone") and request.url_rule is None:
        # An unknown address under a kiosk's or a QR code's own: back to that place's start page.
        segments = request.path.split("/")
        if len(segments) > 2 and segments[2]:
            args["token" if area == "kiosk" else "code"] = segments[2]
    if area == "kiosk" and isinstance(args.get("token"), str):
        return url_for("rating.rate_at_kiosk", token=args["token"]), _l("Start again")
    if area == "phone" and isinstance(args.get("code"), str):
        return url_for("rating.rate_by_phone", code=args["code"]), _l("Start again")
    if area == "manager" and request.endpoint != "manager.show_dashboard":
        return url_for("manager.show_dashboard"), _l("Go to the manager pages")
    return url_for("public.show_results"), _l("Go to the home page")


def render_error(status: int, message=None, *, next_url: str | None = None, headers=None,
                 template: str = "errors/error.html", **context):
    """The error page (or JSON) for ``status``; ``next_url`` replaces the default next step (the home
    page when the place itself is unknown). Never raises."""
    try:
        message = message or default_message(status)
        if wants_json():
            response = jsonify(error=True, message=str(message))
        else:
            link, label = next_step()
            if next_url is not None:
                link, label = next_url, _l("Go to the home page")
            response = make_response(render_template(
                template, status=status, message=message, next_url=link, next_label=label, area=_area(), **context,
            ))
    except Exception:  # noqa: BLE001 - the error page must not fail; say it plainly instead
        log.exception("The error page for status %s could not be rendered", status)
        response = make_response(_fallback_page(status, message))
        response.mimetype = "text/html"
    response.status_code = status
    for name, value in headers or ():
        response.headers[name] = value
    return response


def _fallback_page(status: int, message) -> str:
    try:
        text = str(message) if message else FALLBACK_TEXT
    except Exception:  # noqa: BLE001 - a lazy message that cannot be translated now
        text = FALLBACK_TEXT
    return (
        f'<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>{status}</title></head>'
        f'<body><p role="alert">{escape(text)}</p><p><a href="/">Trang chủ / Home</a></p></body></html>'
    )


def _rollback() -> None:
    from survey.extensions import db

    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - a dead connection cannot roll back; the pool replaces it
        log.warning("Rollback after a failed request failed too", exc_info=True)


def _passed_on_headers(exc: HTTPException) -> list[tuple[str, str]]:
    """Headers the exception carries (``Allow`` on a 405, ``Retry-After``), not its own content type."""
    try:
        return [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    except Exception:  # noqa: BLE001
        return []


def resendable_rating_form() -> bool:
    """A rating page's form post (kiosk or phone) that a browser can simply send again."""
    try:
        return (request.method == "POST" and _area() in ("kiosk", "phone") and not wants_json()
                and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"))
    except Exception:  # noqa: BLE001 - when in doubt, the plain error page
        return False


def _same_address() -> str:
    query = request.query_string.decode("latin-1")
    return quote(request.script_root + request.path) + (f"?{query}" if query else "")


def is_transient_database_error(exc: Exception) -> bool:
    """A lost or refused connection, a full pool, a locked SQLite file: trying again later may work."""
    if isinstance(exc, PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and (exc.connection_invalidated or isinstance(exc, OperationalError))


def keep_own_retry_after(response):
    """Flask-Limiter sets ``Retry-After`` to the end of its window (an hour for phones) on every limited
    response; a 503 means "in a few seconds", so its own value is put back (this hook runs last)."""
    if g.get("retry_after"):
        response.headers["Retry-After"] = g.retry_after
    return response


def init_app(app: Flask) -> None:
    app.after_request_funcs.setdefault(None, []).insert(0, keep_own_retry_after)  # after hooks run in reverse
    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        security_event("csrf_failure", level=logging.WARNING, reason=exc.description)
        return render_error(400, _l("This page has expired. Please go back, reload it and try again."))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code is None or exc.code < 400:
            return exc
        if exc.code == 413:
            security_event("body_too_large", level=logging.WARNING, content_length=request.content_length)
        elif exc.code == 429:
            security_event("rate_limited", level=logging.WARNING, limit=str(getattr(exc, "description", "")))
        elif exc.code >= 500:
            _rollback()
            security_event("server_error", level=logging.ERROR, status=exc.code)
        if request.path.startswith("/api/"):
            from survey.api.errors import http_error_response  # the API answers {code, message}

            return http_error_response(exc)
        return render_error(exc.code, headers=_passed_on_headers(exc))

    @app.errorhandler(InternalServerError)
    def internal_error(exc: InternalServerError):
        _rollback()
        original = getattr(exc, "original_exception", None)
        security_event("server_error", level=logging.ERROR, status=500,
                       error=type(original).__name__ if original else None)
        return render_error(500)

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeoutError)
    def database_error(exc):
        _rollback()
        if not is_transient_database_error(exc):
            raise exc  # a real bug (e.g. a constraint): the 500 path above
        retry_after = current_app.config["DATABASE_RETRY_AFTER_SECONDS"]
        log.warning("Database unavailable (%s); answered 503", type(exc).__name__)
        security_event("database_unavailable", level=logging.ERROR, status=503, error=type(exc).__name__)
        headers = [("Retry-After", str(retry_after))]
        g.retry_after = str(retry_after)
        if resendable_rating_form():
            # The citizen's tap is not lost: the page sends the same answers again (same idempotency key).
            fields = [(k, v) for k, v in request.form.items(multi=True) if isinstance(v, str)][:RESEND_MAX_FIELDS]
            return render_error(503, headers=headers, template="errors/retry.html", fields=fields,
                                action=_same_address(), retry_after=retry_after)
        return render_error(503, headers=headers)
