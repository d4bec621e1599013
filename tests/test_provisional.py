"""The open period's tables computed by the periodic job and read by the pages (issue #8 at scale).

Computations are counted by wrapping the real :func:`survey.results.service.compute_results`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from survey.demo import seed_demo
from survey.extensions import db
from survey.models import ProvisionalResult, Unit
from survey.models._common import utcnow
from survey.results import provisional, scheduled, service
from survey.results.counts import refresh_counts
from tests.conftest import ROOT, TEST_CONFIG, make_app
from tests.results_helpers import rate

TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory, migrated_sqlite):
    path = tmp_path_factory.mktemp("provisional") / "demo.sqlite"
    shutil.copy(migrated_sqlite, path)
    app = make_app(f"sqlite:///{path}")
    with app.app_context():
        seed_demo(ratings=1500, seed=5, end_date=date(2026, 11, 20))
        db.session.commit()
        db.engine.dispose()
    return path


@pytest.fixture
def demo(tmp_path, demo_database):
    path = tmp_path / "demo.sqlite"
    shutil.copy(demo_database, path)
    service.forget_live_results()
    provisional.forget()
    app = make_app(f"sqlite:///{path}", RESULTS_TODAY=TODAY)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def computations(monkeypatch):
    """The list of (period, level) computed from the counts, by anyone, during the test."""
    made = []
    real = service.compute_results

    def counting(period, level, *args, **kwargs):
        made.append((period, level))
        return real(period, level, *args, **kwargs)

    monkeypatch.setattr(service, "compute_results", counting)
    return made


def office_results(client, **extra):
    response = client.get("/api/v1/results", query_string={"period": "2026-Q4", "level": "office", **extra})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_the_job_stores_every_default_view_of_the_open_periods(demo, computations):
    with demo.app_context():
        outcomes = scheduled.refresh_provisional()
        stored = db.session.execute(select(ProvisionalResult.period, ProvisionalResult.level,
                                           ProvisionalResult.questionnaire)).all()
    views = sorted((p, lv) for p in ("2026-11", "2026-Q4", "2026") for lv in service.LEVELS)
    default = [o for o in outcomes if o["questionnaire"] == "default"]
    assert sorted((o["period"], o["level"]) for o in default) == views
    assert {o["status"] for o in default} == {"computed"}
    # Every questionnaire is computed; one nobody answered in that period is found empty and not stored.
    assert {o["status"] for o in outcomes} <= {"computed", "empty"}
    assert len(computations) == len(outcomes)
    assert sorted(stored) == sorted((o["period"], o["level"], o["questionnaire"]) for o in outcomes
                                    if o["status"] == "computed")


def test_a_request_reads_the_stored_table_without_computing(demo, computations):
    with demo.app_context():
        provisional.refresh_provisional()
        row = db.session.execute(select(ProvisionalResult).where(
            ProvisionalResult.period == "2026-Q4", ProvisionalResult.level == "office",
            ProvisionalResult.questionnaire == "default")).scalar_one()
        stored = json.loads(row.content_json)
    computed_by_job = len(computations)
    client = demo.test_client()
    first = office_results(client)
    page = client.get("/", query_string={"period": "2026-Q4", "level": "office", "lang": "en"})
    assert page.status_code == 200
    assert len(computations) == computed_by_job  # neither request computed anything
    assert first["status"] == "provisional"
    assert [(u["code"], u["n"], u["satisfied"]) for u in first["units"]] == \
        [(u["code"], u["n"], u["satisfied"]) for u in stored["units"]]
    assert first["computed_at"] == stored["computed_at"] + "Z"
    # The page says when: Vietnam time is UTC + 7 hours.
    local = datetime.fromisoformat(stored["computed_at"]) + timedelta(hours=7)
    assert f"computed at {local:%H:%M}" in page.get_data(as_text=True)
    vi = client.get("/", query_string={"period": "2026-Q4", "level": "office", "lang": "vi"}).get_data(as_text=True)
    assert f"tính lúc {local:%H:%M}" in vi


def test_a_rating_becomes_visible_after_the_job_runs(demo, computations, monkeypatch):
    monkeypatch.setattr(provisional, "LOOKUP_SECONDS", 0.0)
    client = demo.test_client()
    with demo.app_context():
        provisional.refresh_provisional()
    before = office_results(client)
    code, n_before = max(((u["code"], u["n"]) for u in before["units"]), key=lambda pair: pair[1])
    with demo.app_context():
        rate(db.session.scalar(select(Unit).where(Unit.code == code)), 5, datetime(2026, 11, 21, 3), 3)
        db.session.commit()
    still = office_results(client)
    assert next(u["n"] for u in still["units"] if u["code"] == code) == n_before  # until the job runs
    demo.config["RESULTS_CACHE_SECONDS"] = 0  # as a minute later: the stored tables are due again
    with demo.app_context():
        refresh_counts()  # the other job of the same minute
        outcomes = scheduled.refresh_provisional()
    assert {o["status"] for o in outcomes if o["questionnaire"] == "default"} == {"computed"}
    computed = len(computations)
    after = office_results(client)
    assert next(u["n"] for u in after["units"] if u["code"] == code) == n_before + 3
    assert len(computations) == computed


def test_a_second_run_within_half_a_minute_computes_nothing(demo, computations):
    with demo.app_context():
        provisional.refresh_provisional()
        done = len(computations)
        again = provisional.refresh_provisional()
    assert {o.status for o in again if o.questionnaire == "default"} == {"fresh"}
    # Only views with no rating at all (nothing stored) are looked at again: they are cheap.
    assert len(computations) == done + sum(o.status == "empty" for o in again)


def test_the_demo_without_a_worker_still_shows_live_results(demo, computations):
    client = demo.test_client()
    first = office_results(client)
    assert first["status"] == "provisional" and first["units"]
    assert computations == [("2026-Q4", "office")]  # computed in the request, as before
    office_results(client)
    assert computations == [("2026-Q4", "office")]  # then reused for the minute
    with demo.app_context():
        assert db.session.scalar(select(func.count()).select_from(ProvisionalResult)) == 0


def test_stored_tables_older_than_the_limit_are_not_served(demo, computations):
    with demo.app_context():
        provisional.refresh_provisional()
        db.session.execute(update(ProvisionalResult).values(
            computed_at=utcnow() - timedelta(seconds=demo.config["RESULTS_PROVISIONAL_MAX_AGE_SECONDS"] + 1)))
        db.session.commit()
    provisional.forget()
    done = len(computations)
    office_results(demo.test_client())
    assert len(computations) == done + 1  # the worker stopped: computed in the request again


@pytest.fixture
def demo_with_redis(demo, redis_uri):
    demo.config.update(REDIS_URL=redis_uri, JOBS_QUEUE=f"test-{uuid.uuid4().hex[:8]}")
    return demo


def test_a_view_another_process_computes_is_skipped(demo_with_redis, computations):
    app = demo_with_redis
    with app.app_context():
        claim = provisional._claim("2026-Q4", "office", "default", service.DEFAULT_OPTIONS)  # "another worker"
        assert isinstance(claim, str)
        assert provisional.refresh_view("2026-Q4", "office", "default").status == "claimed"
        assert computations == []
        provisional._release(claim)
        assert provisional.refresh_view("2026-Q4", "office", "default").status == "computed"
        assert computations == [("2026-Q4", "office")]
        running = provisional._claim("run", "all", "all", service.DEFAULT_OPTIONS)  # a whole run elsewhere
        assert provisional.refresh_provisional() == [] and computations == [("2026-Q4", "office")]
        provisional._release(running)


RUN_JOB = """
import json, sys, time
from datetime import date
from survey import create_app
from survey.results import scheduled
config = json.loads(sys.argv[1])
config["RESULTS_TODAY"] = date(2026, 11, 23)
app = create_app(config)
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
with app.app_context():
    print(json.dumps(scheduled.refresh_provisional()))
"""


def test_two_processes_never_compute_the_same_view_twice(demo_with_redis, tmp_path):
    app = demo_with_redis
    config = {**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
              "REDIS_URL": app.config["REDIS_URL"], "JOBS_QUEUE": app.config["JOBS_QUEUE"]}
    start = time.time() + 8  # both import and build their app first, then start together
    env = {"PYTHONPATH": str(ROOT), "SURVEY_INSTANCE_PATH": str(tmp_path / "instance"), "PATH": "/usr/bin:/bin"}
    workers = [subprocess.Popen([sys.executable, "-c", RUN_JOB, json.dumps(config), str(start)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [worker.communicate(timeout=180) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), [err[-2000:] for _, err in outputs]
    runs = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    computed = [(o["period"], o["level"]) for run in runs for o in run
                if o["status"] == "computed" and o["questionnaire"] == "default"]
    assert sorted(computed) == sorted({(p, lv) for p in ("2026-11", "2026-Q4", "2026") for lv in service.LEVELS})
    # The other process found the run going (no outcome) or each view computed or being computed.
    assert all(o["status"] in ("computed", "claimed", "fresh") for run in runs for o in run
               if o["questionnaire"] == "default")


def test_the_scheduler_runs_the_job_every_minute(demo, computations):
    from survey import jobs

    registered = {job.name: job for job in jobs.periodic_jobs(demo)}
    assert registered["survey.results.scheduled.refresh_provisional"].seconds == 60
    jobs.run_scheduler(demo, stop_after=0.5)  # inline, without Redis: each periodic job once
    with demo.app_context():
        stored = db.session.scalar(select(func.count()).select_from(ProvisionalResult)
                                   .where(ProvisionalResult.questionnaire == "default"))
    assert stored == 9


def test_stored_and_replaced_on_either_database(app, computations):
    """The ``app`` fixture's database: SQLite, or PostgreSQL with ``SURVEY_TEST_DATABASE=postgres``."""
    from tests.conftest import make_place

    app.config["RESULTS_TODAY"] = TODAY
    provisional.forget()
    with app.app_context():
        place = make_place()
        office = db.session.get(Unit, place.office_id)
        rate(office, 5, datetime(2026, 11, 2, 3), 30, spread_days=15)
        rate(office, 2, datetime(2026, 11, 2, 4), 10, spread_days=15)
        db.session.commit()
        refresh_counts()
        assert provisional.refresh_view("2026-Q4", "office", "default").status == "computed"
    client = app.test_client()
    done = len(computations)
    row = next(u for u in office_results(client)["units"] if u["code"] == place.office_code)
    assert (row["n"], row["satisfied"]) == (40, 30) and len(computations) == done
    with app.app_context():
        rate(db.session.get(Unit, place.office_id), 4, datetime(2026, 11, 21, 3), 2)
        db.session.commit()
        refresh_counts()
        app.config["RESULTS_CACHE_SECONDS"] = 0
        assert provisional.refresh_view("2026-Q4", "office", "default").status == "computed"  # replaced in place
        assert db.session.scalar(select(func.count()).select_from(ProvisionalResult)) == 1
    provisional.forget()
    row = next(u for u in office_results(client)["units"] if u["code"] == place.office_code)
    assert (row["n"], row["satisfied"]) == (42, 32) and len(computations) == done + 1
