"""Shared fixtures: an app on a fresh SQLite file per test (migrated once, then copied), a client,
a CLI runner, and small factories for places to rate."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from survey import create_app
from survey.cli import init_database
from survey.extensions import db
from survey.models import Kiosk, Procedure, Unit, UnitLevel

TEST_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret",
    "RATELIMIT_STORAGE_URI": "memory://",
    "KIOSK_MIN_INTERVAL_SECONDS": 5,
}


def make_app(database_uri: str, **overrides):
    return create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_uri, **overrides})


@pytest.fixture(autouse=True)
def _instance_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("SURVEY_INSTANCE_PATH", str(tmp_path / "instance"))


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """One database migrated to head with the questionnaire templates; tests get a copy."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    os.environ.setdefault("SURVEY_INSTANCE_PATH", str(path.parent / "instance"))
    app = make_app(f"sqlite:///{path}")
    with app.app_context():
        init_database()
        db.engine.dispose()
    return path


@pytest.fixture
def app(tmp_path, migrated_sqlite):
    """No app context stays pushed: each request must get its own, as in production (``g`` holds
    the request's locale and user). Tests open ``with app.app_context():`` to look at the database."""
    path = tmp_path / "test.sqlite"
    shutil.copy(migrated_sqlite, path)
    app = make_app(f"sqlite:///{path}")
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@dataclass(frozen=True)
class Place:
    """Ids and codes of a place to rate (plain values, usable outside the app context)."""

    office_id: int
    office_code: str
    counter_id: int
    counter_code: str
    kiosk_id: int
    kiosk_token: str
    procedure_ids: list[int]

    @property
    def kiosk_url(self) -> str:
        return f"/kiosk/{self.kiosk_token}"

    @property
    def phone_url(self) -> str:
        return f"/r/{self.counter_code}"


def make_place(code: str = "HN", *, questionnaire_code: str | None = None) -> Place:
    province = db.session.scalar(select(Unit).where(Unit.code == code)) or Unit(
        code=code, level=UnitLevel.PROVINCE, name_vi="Hà Nội", name_en="Ha Noi"
    )
    office = Unit(
        code=f"{code}-TTHCC-{uuid.uuid4().hex[:4]}", level=UnitLevel.OFFICE, parent=province,
        name_vi="Trung tâm Phục vụ hành chính công", name_en="Public Administration Service Centre",
        questionnaire_code=questionnaire_code,
    )
    counter = Unit(code=f"{office.code}-Q01", level=UnitLevel.COUNTER, parent=office,
                   name_vi="Quầy 1", name_en="Counter 1")
    procedures = [
        Procedure(code=f"P-{uuid.uuid4().hex[:6]}", name_vi="Đăng ký khai sinh", name_en="Birth registration"),
        Procedure(code=f"P-{uuid.uuid4().hex[:6]}", name_vi="Đăng ký kết hôn", name_en="Marriage registration"),
    ]
    for procedure in procedures:
        procedure.offices.append(office)
    kiosk = Kiosk(office=office, counter=counter, label="Test kiosk", token_hash="")
    token = kiosk.issue_token()
    db.session.add_all([province, office, counter, kiosk, *procedures])
    db.session.commit()
    return Place(office.id, office.code, counter.id, counter.code, kiosk.id, token, [p.id for p in procedures])


@pytest.fixture
def place(app) -> Place:
    with app.app_context():
        return make_place()


HIDDEN = re.compile(r'<input[^>]*name="(?P<name>csrf_token|idempotency_key)"[^>]*value="(?P<value>[^"]*)"')
ALERT = re.compile(r'role="alert">\s*([^<]+?)\s*<')


def hidden_fields(html: str) -> dict[str, str]:
    return {m["name"]: m["value"] for m in HIDDEN.finditer(html)}


def alerts(html: str) -> list[str]:
    return ALERT.findall(html)


def overall_field(html: str) -> str:
    return re.search(r'<button type="submit" name="(question_\d+)"', html).group(1)


# ---------------------------------------------------------------- PostgreSQL and Redis (skip if absent)

POSTGRES_URL = os.environ.get("SURVEY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SURVEY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def postgres_uri():
    """A private schema in the test PostgreSQL database, dropped afterwards."""
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "no PostgreSQL here"
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} ({type(exc).__name__}); set SURVEY_TEST_POSTGRES_URL")
    schema = f"survey_test_{uuid.uuid4().hex[:10]}"
    with engine.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(text(f'drop schema "{schema}" cascade'))
    engine.dispose()


@pytest.fixture
def redis_uri():
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Redis not reachable at {REDIS_URL} ({type(exc).__name__}); set SURVEY_TEST_REDIS_URL")
    return REDIS_URL
