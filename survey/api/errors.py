"""API errors as ``{"code": "...", "message": "..."}`` with a stable code and a message in the
client's language (``?lang=`` or Accept-Language), never an HTML page."""

from __future__ import annotations

from flask import jsonify
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from survey.api import bp
from survey.errors import MESSAGES

#: Stable codes for HTTP errors raised by Flask/Werkzeug inside the API.
HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
              429: "too_many_requests", 500: "server_error"}


class APIError(Exception):
    def __init__(self, status: int, code: str, message):
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message):
    response = jsonify(code=code, message=str(message))
    response.status_code = status
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.errorhandler(APIError)
def api_error(exc: APIError):
    response = error_response(exc.status, exc.code, exc.message)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="survey"'
    return response


def http_error_response(exc: HTTPException):
    """Called by the app's error handler for any HTTP error under ``/api/`` (also unknown paths and 405s)."""
    message = MESSAGES.get(exc.code) or _l("The request could not be answered.")
    response = error_response(exc.code, HTTP_CODES.get(exc.code, "error"), message)
    if getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response
