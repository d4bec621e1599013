"""The citizen-satisfaction platform: a Flask application built by :func:`create_app`."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

ENV_PREFIX = "SURVEY_"


def _load_secret_key(instance_path: Path) -> str:
    """A per-machine secret in ``instance/secret_key``, generated on first start (never committed)."""
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=os.environ.get(f"{ENV_PREFIX}INSTANCE_PATH") or None,
    )
    instance_path = Path(app.instance_path)
    instance_path.mkdir(parents=True, exist_ok=True)

    app.config.from_object("survey.config")
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance_path / 'survey.sqlite'}"
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env(ENV_PREFIX.rstrip("_"))
        if "DATABASE_URL" in app.config:
            app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
        if "RATELIMIT_STORAGE_URL" in app.config:
            app.config["RATELIMIT_STORAGE_URI"] = app.config["RATELIMIT_STORAGE_URL"]
    else:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _load_secret_key(instance_path)

    from survey import cli, errors, i18n
    from survey.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)
    cli.init_app(app)

    from survey.manager.views import bp as manager_bp
    from survey.public.views import bp as public_bp
    from survey.rating.views import bp as rating_bp

    app.register_blueprint(rating_bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(manager_bp, url_prefix="/manager")
    return app
