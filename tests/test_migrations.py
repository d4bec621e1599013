"""The migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from survey.extensions import db
from tests.conftest import make_app


def schema_differences(app) -> list:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def migrate_to_head(app) -> None:
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)


def test_upgrade_head_equals_the_models_on_sqlite(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    migrate_to_head(app)
    assert schema_differences(app) == []


def test_downgrade_to_base_removes_every_table(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    migrate_to_head(app)
    with app.app_context():
        downgrade(directory=app.extensions["migrate"].directory, revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}


@pytest.mark.postgres
def test_upgrade_head_equals_the_models_on_postgresql(postgres_uri):
    app = make_app(postgres_uri)
    migrate_to_head(app)
    assert schema_differences(app) == []
    with app.app_context():
        assert "ratings" in inspect(db.engine).get_table_names()
        db.engine.dispose()
