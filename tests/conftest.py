"""Shared fixtures: an app on a fresh database per test, a client, a CLI runner, and small factories
for places to rate.

The database is a fresh SQLite file per test (migrated once, then copied) or, with
``SURVEY_TEST_DATABASE=postgres``, a private PostgreSQL schema per test, migrated to head and dropped
afterwards: the whole suite then runs on PostgreSQL (``.ci/run`` does both when PostgreSQL answers).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
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
    # Long enough for production mode, which a PostgreSQL database implies.
    "SECRET_KEY": "test-secret-test-secret-test-secret-0123456789",
    "RATELIMIT_STORAGE_URI": "memory://",
    "KIOSK_MIN_INTERVAL_SECONDS": 5,
}


#: Apps made during the current test; their connection pools are closed when it ends.
_apps_made: list = []


def make_app(database_uri: str, **overrides):
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_uri, **overrides})
    _apps_made.append(app)
    return app


def _close_pools() -> None:
    while _apps_made:
        app = _apps_made.pop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(autouse=True)
def _close_connection_pools():
    """Close every pool a test's apps opened, so no connection outlives its test (or its schema)."""
    yield
    _close_pools()


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
def fresh_database(tmp_path, request) -> Callable[[], str]:
    """Call it for the URI of a new database migrated to head (SQLite copy or private PostgreSQL schema)."""
    created = []

    def make() -> str:
        if TEST_DATABASE == "postgres":
            engine, uri, schema = _new_postgres_schema(required=True)
            created.append((engine, schema))
            app = make_app(uri)
            with app.app_context():
                init_database()
                db.session.remove()
                db.engine.dispose()
            return uri
        path = tmp_path / f"test-{len(created)}.sqlite"
        shutil.copy(request.getfixturevalue("migrated_sqlite"), path)
        created.append(None)
        return f"sqlite:///{path}"

    yield make
    _close_pools()
    for item in created:
        if item is not None:
            _drop_schema(*item)


@pytest.fixture
def app(fresh_database):
    """No app context stays pushed: each request must get its own, as in production (``g`` holds
    the request's locale and user). Tests open ``with app.app_context():`` to look at the database."""
    app = make_app(fresh_database())
    yield app
    with app.app_context():
        db.session.remove()
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


#: "sqlite" (default) or "postgres": the database behind the ``app`` and ``fresh_database`` fixtures.
TEST_DATABASE = os.environ.get("SURVEY_TEST_DATABASE", "sqlite").strip().lower()
if TEST_DATABASE not in ("sqlite", "postgres"):
    raise pytest.UsageError(f"SURVEY_TEST_DATABASE must be 'sqlite' or 'postgres', not {TEST_DATABASE!r}")


def pytest_collection_modifyitems(config, items):
    if TEST_DATABASE != "postgres":
        return
    skip = pytest.mark.skip(reason="tests SQLite's own behaviour; the suite runs on PostgreSQL (SURVEY_TEST_DATABASE)")
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)


def _new_postgres_schema(*, required: bool = False):
    """(engine, URI whose search_path is a new private schema, schema name); skips without PostgreSQL,
    or fails when the suite was asked to run on PostgreSQL (``required``)."""
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "no PostgreSQL here"
        message = f"PostgreSQL not reachable at {POSTGRES_URL} ({type(exc).__name__}); set SURVEY_TEST_POSTGRES_URL"
        if required:
            pytest.fail(f"SURVEY_TEST_DATABASE=postgres but {message}")
        pytest.skip(message)
    schema = f"survey_test_{uuid.uuid4().hex[:10]}"
    with engine.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    return engine, f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}", schema


def _drop_schema(engine, schema: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(f'drop schema "{schema}" cascade'))
    engine.dispose()


@pytest.fixture
def postgres_uri():
    """A private schema in the test PostgreSQL database, dropped afterwards."""
    engine, uri, schema = _new_postgres_schema()
    yield uri
    _drop_schema(engine, schema)


@pytest.fixture
def redis_uri():
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Redis not reachable at {REDIS_URL} ({type(exc).__name__}); set SURVEY_TEST_REDIS_URL")
    return REDIS_URL


# ---------------------------------------------------------------- `survey` in a subprocess

ROOT = Path(__file__).resolve().parent.parent
SURVEY_COMMAND = [sys.executable, "-c", "from survey.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def survey_env(instance: Path, **variables: str) -> dict[str, str]:
    """This process's environment without its SURVEY_* settings, plus ``variables`` (SURVEY_… names)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURVEY_")}
    env.update(SURVEY_INSTANCE_PATH=str(instance), PYTHONPATH=str(ROOT), **variables)
    return env


class SurveyProcess:
    """``survey ARGS`` running in a subprocess, its output in a file; stopped by its PID."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, command: list[str] | None = None,
                 cwd: Path | None = None):
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen([*(command or SURVEY_COMMAND), *args], env=env, cwd=cwd or ROOT,
                                        stdout=self._log_file, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_port(self, port: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"survey exited with {self.process.returncode}:\n{self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"nothing answered on port {port} in {timeout} s:\n{self.output()}")
                time.sleep(0.1)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_file.close()
        return self.process.returncode


@contextmanager
def running_survey(args: list[str], env: dict[str, str], log: Path, *, port: int | None = None, **kwargs):
    """Start ``survey ARGS``, wait until ``port`` answers (when given), and always stop it afterwards."""
    server = SurveyProcess(args, env, log, **kwargs)
    try:
        if port is not None:
            server.wait_for_port(port)
        yield server
    finally:
        server.stop()


class Browser:
    """A tiny HTTP client with cookies and without following redirects, for real servers."""

    def __init__(self):
        import http.cookiejar
        import urllib.request

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), NoRedirect)

    def request(self, url: str, data: dict | None = None, headers: dict | None = None) -> tuple[int, str, dict]:
        import urllib.error
        import urllib.parse
        import urllib.request

        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(url, data=body, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace"), dict(error.headers)
