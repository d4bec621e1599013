"""Large text and high contrast on the citizen pages (#9): one tap each, remembered on the device.

Each mode is switched by a plain link to the same page with ``?large-text=on|off`` or
``?high-contrast=on|off``: it works without JavaScript and is kept in a ``display`` cookie (a
preference, no secret: readable by the kiosk script, which also keeps it in ``localStorage`` and
switches without reloading, so nothing typed is lost). The page is rendered with the modes as
classes on ``<html>``, so a remembered mode shows from the first paint.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from flask import Flask, after_this_request, current_app, g, request

#: The modes, in the order their buttons appear; each is also the class set on ``<html>``.
MODES = ("large-text", "high-contrast")
COOKIE = "display"
#: A year: a phone or tablet keeps its setting.
COOKIE_MAX_AGE = 365 * 24 * 3600


def _from_cookie() -> set[str]:
    value = request.cookies.get(COOKIE, "")
    return {mode for mode in value.split(".") if mode in MODES}


def display_modes() -> set[str]:
    modes = getattr(g, "display_modes", None)
    return _from_cookie() if modes is None else modes


def remember_display_modes() -> None:
    """Apply ``?large-text=on`` and the like (unknown values are ignored) and keep them in the cookie."""
    switched = {mode: request.args.get(mode) for mode in MODES if request.args.get(mode) in ("on", "off")}
    if not switched:
        return
    modes = _from_cookie()
    for mode, value in switched.items():
        (modes.add if value == "on" else modes.discard)(mode)
    g.display_modes = modes

    @after_this_request
    def keep(response):
        response.set_cookie(
            COOKIE, ".".join(mode for mode in MODES if mode in modes), max_age=COOKIE_MAX_AGE, path="/",
            samesite="Lax", secure=current_app.config.get("SESSION_COOKIE_SECURE", False), httponly=False,
        )
        return response


def display_url(mode: str) -> str:
    """The current page with ``mode`` switched the other way (as ``language_url``: built from the
    request's own path, only GET pages keep their query, never ``//host``)."""
    path = "/" + request.path.lstrip("/")
    args = ([(key, value) for key, value in request.args.items(multi=True) if key != mode]
            if request.method == "GET" else [])
    args.append((mode, "off" if mode in display_modes() else "on"))
    return f"{quote(request.script_root + path)}?{urlencode(args)}"


def init_app(app: Flask) -> None:
    app.before_request(remember_display_modes)

    @app.context_processor
    def inject_display():
        return {"display_modes": display_modes, "display_url": display_url, "DISPLAY_MODES": MODES}
