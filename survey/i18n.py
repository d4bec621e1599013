"""Locale choice and message catalogs (Flask-Babel).

Locale priority: explicit switch (``?lang=``) > session > Accept-Language > default (Vietnamese);
kiosk pages skip Accept-Language, which describes the tablet rather than the citizen.
Catalogs live inside the package, in ``survey/translations/``; the ``.po`` files are committed and
the ``.mo`` files are built: by the wheel's build hook for an installation, and in a source
checkout by ``survey compile-catalogs`` or on the first start (whenever a ``.po`` is newer). An
installed tree is never written to at start-up: its ``.mo`` files come with the wheel.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlencode

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import get_locale

from babel import Locale

from survey.catalogs import CATALOG_DIR, catalog_languages, compile_catalogs, stale_catalogs
from survey.extensions import babel

TRANSLATIONS_DIR = CATALOG_DIR
#: A source checkout (editable install or a clone on ``PYTHONPATH``) has the project file beside the package.
SOURCE_CHECKOUT = (CATALOG_DIR.parent.parent / "pyproject.toml").is_file()


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # a command or a job: messages in the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
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
    """The current page in another language (one tap). Built from the request's own path and query
    string, never by handing request values to ``url_for`` (a visitor's ``?_method=`` or ``?endpoint=``
    would collide with its own parameters); only GET pages keep their query. Never ``//host``."""
    path = "/" + request.path.lstrip("/")
    args = [(key, value) for key, value in request.args.items(multi=True) if key != "lang"] if request.method == "GET" else []
    args.append(("lang", code))
    return f"{quote(request.script_root + path)}?{urlencode(args)}"


def text_direction(locale: str) -> str:
    """``rtl`` or ``ltr``, as the locale's Babel data declares it (Arabic, Persian, Hebrew... are ``rtl``)."""
    return "rtl" if Locale.parse(locale).text_direction == "rtl" else "ltr"


def prepare_catalogs(directory: Path) -> None:
    """Make sure every catalog has its ``.mo``: compile stale ones in a source checkout, refuse to start
    when an installed tree lacks them (it was not built by the build hook)."""
    stale = stale_catalogs(directory)
    if not stale:
        return
    if SOURCE_CHECKOUT and directory == CATALOG_DIR:
        compile_catalogs(directory)  # atomic per file: workers starting together cannot see half a file
        return
    # In an installed tree the files' times come from unpacking and mean nothing; only absence matters.
    absent = [po.with_suffix(".mo") for po in stale if not po.with_suffix(".mo").exists()]
    if absent:
        raise RuntimeError(
            f"Compiled message catalogs missing: {', '.join(map(str, absent))}. Install a wheel built by the "
            "project's build hook, or run `survey compile-catalogs` in a source checkout."
        )


def init_app(app: Flask) -> None:
    directory = Path(app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR)))
    if not app.config.get("LANGUAGES"):  # data-driven: the catalogs present are the languages offered
        app.config["LANGUAGES"] = catalog_languages(directory, app.config["BABEL_DEFAULT_LOCALE"])
    missing = [
        lang for lang in app.config["LANGUAGES"]
        if not any((directory / lang / "LC_MESSAGES" / f"messages.{ext}").exists() for ext in ("po", "mo"))
    ]
    if missing:
        raise RuntimeError(f"No message catalog for configured locale(s) {missing} in {directory}")
    prepare_catalogs(directory)
    babel.init_app(app, locale_selector=select_locale)
    app.before_request(remember_explicit_locale)

    @app.context_processor
    def inject_locale():
        locale = str(get_locale())
        return {"current_locale": locale, "text_direction": text_direction(locale), "languages": app.config["LANGUAGES"], "language_url": language_url}
