"""``survey serve``: real gunicorn processes on free ports — refusals, redacted access logs, and two
nodes sharing one PostgreSQL schema and one Redis."""

from __future__ import annotations

import re
import secrets
import subprocess
import uuid

import pytest
from sqlalchemy import func, select

from survey.cli import init_database
from survey.extensions import db
from survey.models import Rating
from survey.redaction import redact_secret_paths
from tests.conftest import (
    SURVEY_COMMAND, Browser, free_port, hidden_fields, make_app, make_place, overall_field, running_survey, survey_env,
)


def prepared_sqlite(tmp_path):
    """An instance folder with a migrated SQLite database and one place to rate."""
    instance = tmp_path / "instance"
    instance.mkdir()
    app = make_app(f"sqlite:///{instance / 'survey.sqlite'}")
    with app.app_context():
        init_database()
        place = make_place()
        db.session.remove()
        db.engine.dispose()
    return instance, place


@pytest.mark.parametrize("text, expected", [
    ('GET /kiosk/Ab-12_xyZ HTTP/1.1', 'GET /kiosk/[redacted] HTTP/1.1'),
    ('POST /kiosk/Ab-12_xyZ/f/0123abcd?lang=en HTTP/1.1', 'POST /kiosk/[redacted]/f/0123abcd?lang=en HTTP/1.1'),
    ('http://host:8000/l/one-time-link-token', 'http://host:8000/l/[redacted]'),
    ('GET /%6Biosk/Ab-12_xyZ HTTP/1.1', 'GET /kiosk/[redacted] HTTP/1.1'),     # percent-encoded path
    ('GET /kiosk%2FAb-12_xyZ HTTP/1.1', 'GET /kiosk/[redacted] HTTP/1.1'),
    ('GET /r/HN-TTHCC-Q01 HTTP/1.1', 'GET /r/HN-TTHCC-Q01 HTTP/1.1'),         # phone codes are public
    ('GET /manager/kiosks/12 HTTP/1.1', 'GET /manager/kiosks/12 HTTP/1.1'),
    ('GET /static/css/survey.css HTTP/1.1', 'GET /static/css/survey.css HTTP/1.1'),
])
def test_secret_path_segments_are_redacted(text, expected):
    assert redact_secret_paths(text) == expected


def test_app_log_messages_are_redacted(app, caplog):
    with caplog.at_level("ERROR", logger=app.logger.name):
        app.logger.error("Exception on %s [%s]", "/kiosk/secret-kiosk-token", "POST")
    assert "Exception on /kiosk/[redacted] [POST]" in caplog.text and "secret-kiosk-token" not in caplog.text


def test_serve_refuses_several_workers_without_redis(tmp_path):
    instance, _ = prepared_sqlite(tmp_path)
    result = subprocess.run([*SURVEY_COMMAND, "serve", "--workers", "3", "--bind", f"127.0.0.1:{free_port()}"],
                            env=survey_env(instance), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "rate limits" in result.stderr and "Redis" in result.stderr and "Listening" not in result.stderr


def test_serve_refuses_production_without_a_secret(tmp_path):
    instance, _ = prepared_sqlite(tmp_path)
    result = subprocess.run([*SURVEY_COMMAND, "serve", "--bind", f"127.0.0.1:{free_port()}"],
                            env=survey_env(instance, SURVEY_ENV="production"), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert "No secret key configured" in result.stderr and "Traceback" not in result.stderr
    assert not (instance / "secret_key").exists()


def test_access_log_redacts_kiosk_tokens_on_real_gunicorn(tmp_path):
    instance, place = prepared_sqlite(tmp_path)
    port, access_log = free_port(), tmp_path / "access.log"
    log_format = '%(h)s "%(r)s" %(s)s "%(f)s" path=%(U)s location=%({location}o)s raw=%({raw_uri}e)s'
    args = ["serve", "--workers", "1", "--threads", "2", "--bind", f"127.0.0.1:{port}",
            "--access-log", str(access_log), "--access-log-format", log_format]
    base = f"http://127.0.0.1:{port}"
    with running_survey(args, survey_env(instance), tmp_path / "server.log", port=port):
        browser = Browser()
        status, html, _ = browser.request(base + place.kiosk_url)
        assert status == 200
        status, _, headers = browser.request(
            base + place.kiosk_url, {**hidden_fields(html), overall_field(html): "5"},
            headers={"Referer": base + place.kiosk_url},
        )
        assert status == 303 and place.kiosk_token in headers["Location"]
        assert browser.request(base + "/l/one-time-link-token-0123456789")[0] == 404
        assert browser.request(base + place.phone_url)[0] == 200
    log = access_log.read_text()
    # One line per request; two threads may write them in another order than the requests came.
    lines = log.splitlines()
    assert len(lines) == 4, log
    assert place.kiosk_token not in log and "one-time-link-token" not in log

    def line(start: str) -> str:
        found = [text for text in lines if f'"{start}' in text]
        assert len(found) == 1, (start, log)
        return found[0]

    assert '"GET /kiosk/[redacted] HTTP/1.1" 200' in line("GET /kiosk/")
    assert '"GET /l/[redacted] HTTP/1.1" 404' in line("GET /l/")
    assert f"GET {place.phone_url} HTTP/1.1" in line("GET /r/")  # what is not secret stays readable
    posted = line("POST /kiosk/")
    assert f'"POST /kiosk/[redacted] HTTP/1.1" 303 "{base}/kiosk/[redacted]"' in posted
    assert "location=/kiosk/[redacted]/" in posted and "path=/kiosk/[redacted]" in posted


@pytest.mark.postgres
@pytest.mark.redis
def test_two_nodes_share_kiosk_pages_and_rate_limits(tmp_path, postgres_uri, redis_uri):
    app = make_app(postgres_uri)
    with app.app_context():
        init_database()
        place = make_place()
        db.session.remove()
        db.engine.dispose()
    shared = dict(
        SURVEY_DATABASE_URL=postgres_uri, SURVEY_REDIS_URL=redis_uri, SURVEY_SECRET_KEY=secrets.token_urlsafe(48),
        SURVEY_RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}", SURVEY_JOBS_QUEUE=f"test-{uuid.uuid4().hex}",
        SURVEY_PHONE_RATE_LIMIT="3 per hour",
    )
    ports = free_port(), free_port()
    with (
        running_survey(["serve", "--workers", "2", "--threads", "2", "--bind", f"127.0.0.1:{ports[0]}"],
                       survey_env(tmp_path / "node-a", **shared), tmp_path / "a.log", port=ports[0]) as node_a,
        running_survey(["serve", "--workers", "2", "--threads", "2", "--bind", f"127.0.0.1:{ports[1]}"],
                       survey_env(tmp_path / "node-b", **shared), tmp_path / "b.log", port=ports[1]) as node_b,
    ):
        a, b = (f"http://127.0.0.1:{port}" for port in ports)
        assert "rate limits shared through Redis" in node_a.output()

        # A kiosk page rendered by node A is posted to node B.
        browser = Browser()
        status, html, _ = browser.request(a + place.kiosk_url)
        assert status == 200
        status, body, headers = browser.request(b + place.kiosk_url, {**hidden_fields(html), overall_field(html): "4"})
        assert status == 303, body
        assert browser.request(b + headers["Location"])[0] == 200

        # Phone posts alternate between the nodes; the limit of 3 counts them together.
        phone = Browser()
        status, html, _ = phone.request(a + place.phone_url)
        fields, overall = hidden_fields(html), overall_field(html)
        statuses = []
        for node in (a, b, a, b, a):
            fields["idempotency_key"] = uuid.uuid4().hex
            statuses.append(phone.request(node + place.phone_url, {**fields, overall: "5"})[0])
        assert statuses == [303, 303, 303, 429, 429], statuses
        assert "Traceback" not in node_a.output() + node_b.output()
    with app.app_context():
        assert db.session.scalar(select(func.count(Rating.id))) == 4
        db.session.remove()
        db.engine.dispose()
