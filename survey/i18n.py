"""Locale choice and message catalogs (Flask-Babel).

Locale priority: explicit switch (``?lang=``) > session > Accept-Language > default (Vietnamese);
kiosk pages skip Accept-Language, which describes the tablet rather than the citizen.
Catalogs live in the top-level ``translations/`` folder; ``.po`` files are committed and the
``.mo`` files are compiled from them when the app starts (and whenever a ``.po`` is newer).
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, request, session, url_for
from flask_babel import get_locale

from survey.extensions import babel

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    explicit = request.args.get("lang")
    if explicit in languages:
        return explicit
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    if request.blueprint == "rating" and "token" in (request.view_args or {}):
        # A kiosk's browser language is the tablet's, not the citizen's: every citizen starts in the default.
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def remember_explicit_locale() -> None:
    """Keep a one-tap language switch for the rest of the visit; ``reset`` forgets it (next citizen)."""
    explicit = request.args.get("lang")
    if explicit in current_app.config["LANGUAGES"]:
        session["lang"] = explicit
    elif request.args.get("reset"):
        session.pop("lang", None)


def language_url(code: str) -> str:
    """The current page in another language (one tap); error pages without an endpoint go to their path."""
    if request.endpoint and request.method == "GET":
        return url_for(request.endpoint, **{**(request.view_args or {}), **request.args.to_dict(), "lang": code})
    if request.endpoint and request.view_args is not None:
        return url_for(request.endpoint, **request.view_args, lang=code)
    return f"{request.path}?lang={code}"


def compile_catalogs(directory: Path = TRANSLATIONS_DIR) -> list[Path]:
    """Compile every ``messages.po`` whose ``.mo`` is missing or older; return the files written."""
    written = []
    for po_path in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file)
        with mo_path.open("wb") as mo_file:
            write_mo(mo_file, catalog)
        written.append(mo_path)
    return written


def init_app(app: Flask) -> None:
    directory = Path(app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR)))
    missing = [
        lang for lang in app.config["LANGUAGES"]
        if not (directory / lang / "LC_MESSAGES" / "messages.po").exists()
    ]
    if missing:
        raise RuntimeError(f"No message catalog for configured locale(s) {missing} in {directory}")
    compile_catalogs(directory)
    babel.init_app(app, locale_selector=select_locale)
    app.before_request(remember_explicit_locale)

    @app.context_processor
    def inject_locale():
        locale = str(get_locale())
        return {"current_locale": locale, "languages": app.config["LANGUAGES"], "language_url": language_url}
