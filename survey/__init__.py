"""The citizen-satisfaction platform: a Flask application built by :func:`create_app`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

ENV_PREFIX = "SURVEY_"


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings from ``survey/config.py``, then ``instance/config.py`` and ``SURVEY_*``
    variables (or ``test_config`` instead of those two). Raises :class:`survey.config.ConfigurationError`
    with a readable message when the settings are unsafe (e.g. production without a secret key)."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=os.environ.get(f"{ENV_PREFIX}INSTANCE_PATH") or None,
    )
    # The instance folder holds the database and the secret key: private to the server's account.
    Path(app.instance_path).mkdir(mode=0o700, parents=True, exist_ok=True)

    from survey import assets, cli, config, database, display, errors, i18n, redaction, secrets, security
    from survey.extensions import csrf, db, limiter, login_manager, migrate

    config.load(app, test_config)
    secrets.init_app(app)
    config.create_private_sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"])
    _trust_proxies(app)
    app.logger.addFilter(redaction.SecretPathFilter())  # e.g. "Exception on /kiosk/<token>": no token in logs

    db.init_app(app)
    database.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    i18n.init_app(app)
    display.init_app(app)
    errors.init_app(app)
    assets.init_app(app)
    security.init_app(app)
    cli.init_app(app)

    from survey.api import bp as api_bp
    from survey.health import bp as health_bp
    from survey.manager.views import bp as manager_bp
    from survey.public.views import bp as public_bp
    from survey.rating.links import bp as link_bp
    from survey.rating.views import bp as rating_bp
    from survey.alerts import scheduled as _alerts_scheduled  # noqa: F401 - registers the periodic job
    from survey.exports import scheduled as _exports_scheduled  # noqa: F401 - registers the periodic job
    from survey.cases import scheduled as _cases_scheduled  # noqa: F401 - registers the periodic job
    from survey.manager import scheduled as _manager_scheduled  # noqa: F401 - registers the periodic job
    from survey.results import scheduled  # noqa: F401 - registers the periodic jobs

    app.register_blueprint(health_bp)
    app.register_blueprint(rating_bp)
    app.register_blueprint(link_bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(manager_bp, url_prefix="/manager")
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    return app


def _trust_proxies(app: Flask) -> None:
    """Behind ``TRUSTED_PROXIES`` reverse proxies, take the client address and scheme from the
    headers they add (the rate limits count per client, not per proxy); with 0, ignore those headers."""
    if count := app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)
