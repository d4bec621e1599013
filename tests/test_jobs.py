"""Background jobs: inline without Redis, RQ with a real Redis and a real ``survey worker``, and
periodic jobs claimed once per period however many schedulers run."""

from __future__ import annotations

import logging
import subprocess
import threading
import time
import uuid

import pytest
from sqlalchemy import select

from survey import jobs
from survey.extensions import db
from survey.models import Procedure
from tests import job_functions
from tests.conftest import SURVEY_COMMAND, SurveyProcess, make_app, survey_env


def procedure_codes(app, prefix: str) -> list[str]:
    with app.app_context():
        codes = db.session.scalars(select(Procedure.code).where(Procedure.code.like(f"{prefix}%"))).all()
        db.session.remove()
    return sorted(codes)


def tick_times(app, column=Procedure.name_vi) -> list[float]:
    """When each run of ``record_tick`` ran (or, with ``Procedure.name_en``, was enqueued)."""
    with app.app_context():
        names = db.session.scalars(select(column).where(Procedure.code.like("TICK-%"))).all()
        db.session.remove()
    return sorted(float(name) for name in names)


def test_without_redis_a_job_runs_at_once_in_its_own_session(app):
    with app.app_context():
        db.session.add(Procedure(code="CALLER", name_vi="Của người gọi", name_en=None))  # not committed
        job = jobs.enqueue(job_functions.add_procedure, "INLINE-1")
        db.session.rollback()  # the caller's work is undone; the job committed its own
        assert job.get_status() == "finished" and job.is_finished
        assert isinstance(job.return_value(), int)
    assert procedure_codes(app, "INLINE") == ["INLINE-1"]
    assert procedure_codes(app, "CALLER") == []


def test_an_inline_failure_is_recorded_and_logged_not_raised(app, caplog):
    with app.app_context(), caplog.at_level(logging.ERROR, logger="survey.jobs"):
        job = jobs.enqueue(job_functions.fail_on_purpose)
    assert job.get_status() == "failed" and job.is_failed
    assert "fails on purpose" in job.exc_info
    assert "tests.job_functions.fail_on_purpose" in caplog.text


@pytest.mark.parametrize("redis", [False, True])
def test_a_job_must_be_importable_and_its_arguments_picklable(app, redis):
    node = make_app(app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL="redis://127.0.0.1:1/0" if redis else None)

    def nested():
        pass

    with node.app_context():
        for func in (lambda: None, nested, job_functions.add_procedure.__call__):
            with pytest.raises(TypeError, match="module-level function"):
                jobs.enqueue(func)
        if not redis:
            with pytest.raises(TypeError, match="pickle"):
                jobs.enqueue(job_functions.add_procedure, threading.Lock())


def test_periodic_jobs_run_inline_once_per_period(app, monkeypatch):
    monkeypatch.setattr(jobs, "_PERIODIC", {})
    jobs.periodic(seconds=1)(job_functions.record_tick)
    assert [job.name for job in jobs.periodic_jobs(app)] == ["tests.job_functions.record_tick"]
    enqueued_at = []
    enqueue = jobs.enqueue

    def noting_enqueue(func, *args, **kwargs):  # the real enqueue, noting when the scheduler called it
        enqueued_at.append(time.time())
        return enqueue(func, *args, **kwargs)

    monkeypatch.setattr(jobs, "enqueue", noting_enqueue)
    jobs.run_scheduler(app, stop_after=2.6)
    # 2.6 s touch three or four one-second periods: one run each, all of them done.
    assert 3 <= len(enqueued_at) <= 4, enqueued_at
    assert len({int(t) for t in enqueued_at}) == len(enqueued_at), enqueued_at
    assert len(tick_times(app)) == len(enqueued_at)


def test_periodic_registry_refuses_nonsense(app):
    with pytest.raises(ValueError, match="at least one second"):
        jobs.periodic(seconds=0)
    node = make_app(app.config["SQLALCHEMY_DATABASE_URI"], PERIODIC_JOBS=[["tests.job_functions.no_such_job", 60]])
    with pytest.raises(ImportError):
        jobs.periodic_jobs(node)


def test_worker_without_redis_explains_what_to_do(app, tmp_path):
    result = subprocess.run(
        [*SURVEY_COMMAND, "worker"], capture_output=True, text=True, timeout=60,
        env=survey_env(tmp_path / "instance", SURVEY_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
                       SURVEY_SECRET_KEY="w" * 48),
    )
    assert result.returncode != 0 and "No Redis configured" in result.stderr and "--with-scheduler" in result.stderr


# ------------------------------------------------------------------------------- with Redis


@pytest.fixture
def queued(app, redis_uri, tmp_path):
    """An app with a private queue on the test Redis, the environment a worker needs, and cleanup."""
    name = f"test-{uuid.uuid4().hex}"
    node = make_app(app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=redis_uri, JOBS_QUEUE=name)
    env = survey_env(tmp_path / "worker-instance", SURVEY_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
                     SURVEY_REDIS_URL=redis_uri, SURVEY_JOBS_QUEUE=name, SURVEY_SECRET_KEY="w" * 48)
    yield node, env
    connection = jobs.redis_connection(node)
    queue = jobs.queue(node)
    job_ids = set(queue.job_ids)
    for registry in (queue.finished_job_registry, queue.failed_job_registry, queue.started_job_registry):
        job_ids.update(registry.get_job_ids())
    queue.delete(delete_jobs=True)
    keys = [key for pattern in (f"rq:*{name}*", f"survey:periodic:{name}:*") for key in connection.scan_iter(pattern)]
    keys += [key for job_id in job_ids for key in connection.scan_iter(f"rq:*{job_id}*")]
    if keys:
        connection.delete(*keys)
    connection.close()


@pytest.mark.redis
def test_with_redis_jobs_wait_in_the_queue_for_survey_worker(queued, tmp_path):
    node, env = queued
    with node.app_context():
        stored = jobs.enqueue(job_functions.add_procedure, "QUEUED-1")
        failing = jobs.enqueue(job_functions.fail_on_purpose)
    assert stored.get_status() == "queued"
    assert procedure_codes(node, "QUEUED") == []  # nothing ran in the web process
    result = subprocess.run([*SURVEY_COMMAND, "worker", "--burst"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert procedure_codes(node, "QUEUED") == ["QUEUED-1"]
    assert stored.get_status(refresh=True) == "finished"
    with node.app_context():
        assert stored.return_value() == db.session.scalar(select(Procedure.id).where(Procedure.code == "QUEUED-1"))
    assert failing.get_status(refresh=True) == "failed"


@pytest.mark.redis
def test_two_schedulers_enqueue_each_period_once(queued, tmp_path):
    node, env = queued
    env["SURVEY_PERIODIC_JOBS"] = '[["tests.job_functions.record_tick", 1]]'
    workers = [SurveyProcess(["worker", "--with-scheduler"], env, tmp_path / f"worker-{i}.log") for i in range(2)]
    try:
        deadline = time.monotonic() + 60
        while len(tick_times(node)) < 6:
            for worker in workers:
                assert worker.process.poll() is None, worker.output()
            assert time.monotonic() < deadline, [worker.output() for worker in workers]
            time.sleep(0.2)
    finally:
        for worker in workers:
            worker.stop()
    # Both schedulers ran the whole time, yet each one-second period was enqueued once. A run is
    # enqueued a moment after its period is claimed (under load, at most a second later), so n runs
    # enqueued within seconds first..last cover at most last - first + 2 periods; were every period
    # enqueued by both schedulers, n would be about twice that.
    seconds = [int(enqueued) for enqueued in tick_times(node, Procedure.name_en)]
    assert len(seconds) >= 6 and len(seconds) <= seconds[-1] - seconds[0] + 2, seconds
    assert "Traceback" not in workers[0].output() + workers[1].output()
