"""Background jobs: RQ on Redis when ``REDIS_URL`` is configured, inline otherwise.

The API for the rest of the code base::

    from survey import jobs

    jobs.enqueue(publish_snapshot, "2026-Q3")        # queued, or run right away without Redis

    @jobs.periodic(seconds=3600)                      # once an hour (aligned to the hour, UTC)
    def refresh_alerts(): ...

A job is a module-level function called with plain (picklable) arguments: pass ids, not ORM
objects. It runs in its own app context with its own database session and commits its own work,
like a view; it sees only what was committed before it was enqueued, so enqueue after the commit.

With Redis, ``survey worker`` runs the queued jobs (each in a forked process, RQ's default) and
``survey worker --with-scheduler`` also enqueues the periodic jobs: any number of schedulers may
run, on any nodes; each period's run is claimed once in Redis. Without Redis, :func:`enqueue` runs
the job synchronously in the caller's process (the SQLite default keeps working), and
``survey worker --with-scheduler`` runs the periodic jobs inline.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app
from werkzeug.utils import ImportStringError, import_string

logger = logging.getLogger(__name__)

#: Periodic jobs registered with :func:`periodic`, by dotted name.
_PERIODIC: dict[str, PeriodicJob] = {}
#: The app queued jobs run in, set by ``survey worker`` (created on first use under a bare ``rq worker``).
_worker_app: Flask | None = None


# ----------------------------------------------------------------------------------------- running


def dotted_name(func: Callable) -> str:
    """``module.function``: what a worker imports. Refuses lambdas, closures and methods, which a
    worker in another process could not find (inline mode refuses them too, so both modes agree)."""
    name = f"{getattr(func, '__module__', None)}.{getattr(func, '__qualname__', '')}"
    try:
        found = import_string(name)
    except ImportStringError:
        found = None
    if found is not func:
        raise TypeError(f"A job must be a module-level function, importable as module.name; got {func!r}")
    return name


def run_job(name: str, args: tuple, kwargs: dict) -> Any:
    """What the queue stores: import the function and call it in a fresh app context."""
    app = _worker_app or _create_worker_app()
    func = import_string(name)
    with app.app_context():
        return func(*args, **kwargs)


def _create_worker_app() -> Flask:
    global _worker_app
    from survey import create_app

    _worker_app = create_app()
    return _worker_app


def bind_worker_app(app: Flask) -> None:
    """Make ``app`` the one queued jobs run in (``survey worker`` does this before it forks)."""
    global _worker_app
    _worker_app = app


@dataclass
class InlineJob:
    """A job that already ran in this process (no Redis): answers like RQ's ``Job`` does."""

    func_name: str
    status: str
    result: Any = None
    exc_info: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def get_status(self, refresh: bool = True) -> str:
        return self.status

    def return_value(self, refresh: bool = False) -> Any:
        return self.result

    @property
    def is_finished(self) -> bool:
        return self.status == "finished"

    @property
    def is_failed(self) -> bool:
        return self.status == "failed"


def _run_inline(app: Flask, func: Callable, name: str, args: tuple, kwargs: dict) -> InlineJob:
    # The same copy a queue would make: a job never shares objects (or a session) with its caller.
    args, kwargs = pickle.loads(pickle.dumps((args, kwargs)))  # nosec B301 - a deep copy of data made on this line
    with app.app_context():
        try:
            result = func(*args, **kwargs)
        except Exception:  # noqa: BLE001 - like a worker: record the failure, do not break the caller
            logger.exception("Inline job %s failed", name)
            return InlineJob(name, "failed", exc_info=traceback.format_exc())
    return InlineJob(name, "finished", result=result)


def enqueue(func: Callable, *args, **kwargs):
    """Run ``func(*args, **kwargs)`` in the background: an RQ ``Job`` when Redis is configured,
    else an :class:`InlineJob` that has already run. Both answer ``.id``, ``.get_status()``
    ("queued", "started", "finished", "failed", …) and ``.return_value()``."""
    app = current_app._get_current_object()
    name = dotted_name(func)
    if not app.config.get("REDIS_URL"):
        return _run_inline(app, func, name, args, kwargs)
    return queue(app).enqueue(
        run_job, args=(name, args, kwargs), job_timeout=app.config["JOB_TIMEOUT_SECONDS"],
        description=name,
    )


def redis_connection(app: Flask):
    from redis import Redis

    state = app.extensions.setdefault("survey.jobs", {})
    if "redis" not in state:
        state["redis"] = Redis.from_url(app.config["REDIS_URL"])
    return state["redis"]


def queue(app: Flask):
    """The app's RQ queue (``JOBS_QUEUE``) on ``REDIS_URL``."""
    from rq import Queue

    return Queue(app.config["JOBS_QUEUE"], connection=redis_connection(app))


# ----------------------------------------------------------------------------------------- periodic


@dataclass(frozen=True)
class PeriodicJob:
    """A function run once in every period of ``seconds``, periods counted from ``offset`` seconds
    after the Unix epoch (so ``seconds=86400, offset=0`` is each UTC day, 07:00 in Vietnam)."""

    name: str
    seconds: int
    offset: int = 0

    def period(self, now: float) -> int:
        return int((now - self.offset) // self.seconds)

    def next_start(self, now: float) -> float:
        return (self.period(now) + 1) * self.seconds + self.offset


def periodic(*, seconds: int, offset: int = 0) -> Callable[[Callable], Callable]:
    """Register a module-level function as a periodic job (decorator); returns it unchanged."""
    if int(seconds) < 1:
        raise ValueError("A periodic job needs a period of at least one second")

    def register(func: Callable) -> Callable:
        name = f"{func.__module__}.{func.__qualname__}"
        _PERIODIC[name] = PeriodicJob(name, int(seconds), int(offset))
        return func

    return register


def periodic_jobs(app: Flask) -> list[PeriodicJob]:
    """The registered periodic jobs, plus ``PERIODIC_JOBS`` from the configuration: a list of
    ``[dotted_name, seconds]`` or ``[dotted_name, seconds, offset]`` (these win over the decorator)."""
    found = dict(_PERIODIC)
    for entry in app.config.get("PERIODIC_JOBS") or []:
        name, seconds, *rest = entry
        import_string(name)  # fail at start-up, not at the first period, on a misspelt name
        found[name] = PeriodicJob(name, int(seconds), int(rest[0]) if rest else 0)
    return sorted(found.values(), key=lambda job: job.name)


def _claim(app: Flask, job: PeriodicJob, period: int) -> bool:
    """Whether this scheduler is the first to claim ``period`` of ``job`` (always, without Redis)."""
    if not app.config.get("REDIS_URL"):
        return True
    key = f"survey:periodic:{app.config['JOBS_QUEUE']}:{job.name}:{period}"
    return bool(redis_connection(app).set(key, os.getpid(), nx=True, ex=max(2 * job.seconds, 60)))


def run_scheduler(app: Flask, *, stop_after: float | None = None) -> None:
    """Enqueue (or, without Redis, run) each periodic job once per period, until stopped or until
    ``stop_after`` seconds have passed. A period whose run was missed while no scheduler ran is run
    as soon as one starts."""
    jobs_ = periodic_jobs(app)
    if not jobs_:
        logger.warning("No periodic jobs are registered; the scheduler has nothing to do.")
    for job in jobs_:
        logger.info("Periodic job %s every %d s", job.name, job.seconds)
    try:
        _schedule(app, jobs_, stop_after)
    except KeyboardInterrupt:
        pass


def _schedule(app: Flask, jobs_: list[PeriodicJob], stop_after: float | None) -> None:
    started, parent = time.monotonic(), os.getppid()
    done: dict[str, int] = {}
    while stop_after is None or time.monotonic() - started < stop_after:
        now = time.time()
        for job in jobs_:
            period = job.period(now)
            if done.get(job.name) == period:
                continue
            done[job.name] = period
            if _claim(app, job, period):
                with app.app_context():
                    enqueue(import_string(job.name))
        if os.getppid() != parent:  # the worker that started this scheduler is gone
            return
        wake = min((job.next_start(now) for job in jobs_), default=now + 60)
        time.sleep(min(max(wake - time.time(), 0.01), 5.0))
