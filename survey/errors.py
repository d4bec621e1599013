"""Friendly error pages in the visitor's language (and JSON for JSON clients)."""

from flask import Flask, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

MESSAGES = {
    400: _l("Something in the form was not right. Please go back and try again."),
    403: _l("You do not have access to this page."),
    404: _l("This page does not exist."),
    405: _l("This page does not accept that kind of request."),
    413: _l("What you sent is too large."),
    429: _l("Too many ratings were sent from here in a short time. Please wait a little and try again."),
    500: _l("Something went wrong on our side. Your rating may not have been saved; please try again."),
}


def wants_json() -> bool:
    """The client asked for JSON (the enhanced kiosk, an API client) rather than a page."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return request.is_json or best == "application/json"


def render_error(status: int, message=None):
    message = message or MESSAGES.get(status, MESSAGES[400])
    if wants_json():
        return jsonify(error=True, message=str(message)), status
    return render_template("errors/error.html", status=status, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return render_error(400, _l("This page has expired. Please go back, reload it and try again."))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code is None or exc.code < 400:
            return exc
        return render_error(exc.code)
