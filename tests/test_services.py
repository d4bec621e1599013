"""The same submission rules on PostgreSQL, under real concurrency, and rate limits shared through Redis."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import func, select

from survey.cli import init_database
from survey.extensions import db
from survey.models import Rating
from tests.conftest import hidden_fields, make_app, make_place, overall_field

@pytest.fixture
def pg_app(postgres_uri):
    app = make_app(postgres_uri)
    with app.app_context():
        init_database()
        place = make_place()
    yield app, place
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def race(n: int, work) -> list:
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def first_page(app, url):
    client = app.test_client()
    html = client.get(url).get_data(as_text=True)
    return hidden_fields(html), overall_field(html)


def count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Rating.id)))


@pytest.mark.postgres
def test_same_key_from_many_workers_at_once_stores_one_rating(pg_app):
    app, place = pg_app
    fields, overall = first_page(app, place.phone_url)
    # Phone forms carry a session token: each worker re-uses the same browser's cookie jar.
    client = app.test_client()
    html = client.get(place.phone_url).get_data(as_text=True)
    fields = {**hidden_fields(html), "idempotency_key": fields["idempotency_key"]}

    def post(_):
        return client.post(place.phone_url, data={**fields, overall: "5"},
                           headers={"Accept": "application/json"}).status_code

    statuses = race(8, post)
    assert sorted(statuses) == [200] * 7 + [201]
    assert count(app) == 1


@pytest.mark.postgres
def test_control_characters_in_a_comment_are_dropped_not_a_server_error(pg_app):
    app, place = pg_app
    client = app.test_client()
    html = client.get(place.phone_url).get_data(as_text=True)
    confirm = client.post(place.phone_url, data={**hidden_fields(html), overall_field(html): "4"}).headers["Location"]
    follow = f"{confirm}/6"  # the last follow-up step: procedure and comment
    page = hidden_fields(client.get(follow).get_data(as_text=True))
    response = client.post(follow, data={**page, "comment": "Tốt\x00\x07 lắm\nCảm ơn", "finish": "1"})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Rating.comment)) == "Tốt lắm\nCảm ơn"


@pytest.mark.postgres
def test_burst_of_new_ratings_on_one_kiosk_stores_one(pg_app):
    app, place = pg_app
    pages = [first_page(app, place.kiosk_url) for _ in range(6)]  # six fresh screens, six different keys

    def post(i):
        fields, overall = pages[i]
        return app.test_client().post(place.kiosk_url, data={**fields, overall: "4"},
                                      headers={"Accept": "application/json"}).status_code

    statuses = race(6, post)
    assert sorted(statuses) == [201] + [429] * 5
    assert count(app) == 1


SECOND_WORKER = """
import json, sys
from tests.conftest import make_app, hidden_fields, overall_field
uri, url, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
client = make_app(uri, **config).test_client()
html = client.get(url).get_data(as_text=True)
print(client.post(url, data={**hidden_fields(html), overall_field(html): "4"}).status_code)
"""


@pytest.mark.redis
@pytest.mark.parametrize("shared", [True, False], ids=["redis", "memory-control"])
def test_phone_rate_limit_is_shared_between_worker_processes_through_redis(tmp_path, migrated_sqlite, redis_uri,
                                                                           shared):
    import json
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "shared.sqlite"
    shutil.copy(migrated_sqlite, path)
    uri = f"sqlite:///{path}"
    config = dict(RATELIMIT_STORAGE_URI=redis_uri if shared else "memory://",
                  RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}", PHONE_RATE_LIMIT="2 per hour")
    worker_a = make_app(uri, **config)
    with worker_a.app_context():
        place = make_place()
    statuses = []
    for _ in range(2):
        client = worker_a.test_client()
        html = client.get(place.phone_url).get_data(as_text=True)
        statuses.append(client.post(place.phone_url, data={**hidden_fields(html), overall_field(html): "4"}).status_code)
    worker_b = subprocess.run(
        [sys.executable, "-c", SECOND_WORKER, uri, place.phone_url, json.dumps(config)],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent, timeout=60,
        env={"SURVEY_INSTANCE_PATH": str(tmp_path / "instance-b"), "PATH": ""},
    )
    assert worker_b.returncode == 0, worker_b.stderr
    statuses.append(int(worker_b.stdout.strip().splitlines()[-1]))
    # With Redis the second process sees the first one's count; with per-process memory it does not.
    assert statuses == ([303, 303, 429] if shared else [303, 303, 303])
