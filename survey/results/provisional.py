"""The open period's results, computed by the periodic job instead of in a page request.

At national scale a live table takes tens of seconds; computed in the request, a visitor waits that
long every minute and every other request for the same view waits on its lock. Instead
:func:`refresh_provisional` (``survey.results.scheduled``, every minute, claimed once across nodes)
computes the open periods' tables for the default views — each level × questionnaire, for the current
month, quarter and year (``RESULTS_PROVISIONAL_PERIODS``) — and stores each as one
:class:`~survey.models.ProvisionalResult` row, replaced in place. Pages and the API read the newest
stored row (:func:`stored_content`) and show when it was computed.

Only when nothing fresh is stored — first start, a rare view (other options), or a small deployment
with no worker (the SQLite demo), where no row is ever written or the newest one is older than
``RESULTS_PROVISIONAL_MAX_AGE_SECONDS`` — is the table computed in the request as before
(:func:`survey.results.service.live_results`, reused for 60 s).

With Redis, each view's computation is claimed (``SET NX``) so two workers or nodes never compute
the same view at the same time; a view stored less than half a refresh period ago is not computed
again.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime

import analysis
import pandas as pd
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from survey.extensions import db
from survey.models import ProvisionalResult
from survey.models._common import utcnow
from survey.results import service
from survey.results.service import DEFAULT_OPTIONS, LEVELS, ResultOptions

#: Seconds a process reuses its lookup of the newest stored row of a view.
LOOKUP_SECONDS = 5.0
_lookups: dict[tuple, tuple[float, tuple[int, datetime] | None]] = {}
_parsed: dict[tuple, tuple[tuple[int, datetime], dict]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ProvisionalOutcome:
    period: str
    level: str
    questionnaire: str
    #: ``computed``, ``fresh`` (stored recently, not recomputed), ``claimed`` (another process is
    #: computing it) or ``empty`` (no rating at all for this questionnaire and period: nothing stored).
    status: str
    seconds: float = 0.0


def open_periods(today: date | None = None) -> list[str]:
    """The current month, quarter and year (as ``RESULTS_PROVISIONAL_PERIODS`` lists the kinds)."""
    today = today or service.vietnam_today()
    kinds = current_app.config.get("RESULTS_PROVISIONAL_PERIODS", ("M", "Q", "Y"))
    return [analysis.period_label(pd.Period(today, freq=kind)) for kind in kinds]


def default_views(today: date | None = None) -> list[tuple[str, str, str]]:
    """``(period, level, questionnaire)`` of every view the job keeps computed."""
    from survey.results.queries import questionnaire_codes

    return [(period, level, code) for code in questionnaire_codes() for period in open_periods(today)
            for level in LEVELS]


def _view_key(period: str, level: str, questionnaire: str, options: ResultOptions) -> tuple:
    return (str(db.engine.url), period, level, questionnaire, options.hash)


def _claim(period: str, level: str, questionnaire: str, options: ResultOptions):
    """A Redis key held while this process computes the view, or ``True`` without Redis; None when taken."""
    app = current_app._get_current_object()
    if not app.config.get("REDIS_URL"):
        return True
    from survey.jobs import redis_connection

    key = (f"survey:provisional:{app.config['JOBS_QUEUE']}:{db.engine.url.render_as_string(hide_password=True)}:"
           f"{period}:{level}:{questionnaire}:{options.hash}")
    if redis_connection(app).set(key, os.getpid(), nx=True, ex=int(app.config.get("JOB_TIMEOUT_SECONDS", 600))):
        return key
    return None


def _release(claim) -> None:
    if isinstance(claim, str):
        from survey.jobs import redis_connection

        redis_connection(current_app._get_current_object()).delete(claim)


def _stored_row(period: str, level: str, questionnaire: str, options: ResultOptions):
    return db.session.execute(
        select(ProvisionalResult.id, ProvisionalResult.computed_at)
        .where(ProvisionalResult.period == period, ProvisionalResult.level == level,
               ProvisionalResult.questionnaire == questionnaire, ProvisionalResult.options_hash == options.hash)
    ).first()


def _age(computed_at: datetime) -> float:
    return (utcnow() - computed_at).total_seconds()


def refresh_view(period: str, level: str, questionnaire: str, options: ResultOptions = DEFAULT_OPTIONS,
                 *, today: date | None = None) -> ProvisionalOutcome:
    """Compute one view and store it (commits), unless it is fresh or another process computes it."""
    fresh_for = current_app.config.get("RESULTS_CACHE_SECONDS", 60) / 2
    found = _stored_row(period, level, questionnaire, options)
    if found is not None and _age(found.computed_at) < fresh_for:
        return ProvisionalOutcome(period, level, questionnaire, "fresh")
    claim = _claim(period, level, questionnaire, options)
    if claim is None:
        return ProvisionalOutcome(period, level, questionnaire, "claimed")
    try:
        db.session.rollback()  # see what was committed while we waited for the claim
        found = _stored_row(period, level, questionnaire, options)
        if found is not None and _age(found.computed_at) < fresh_for:
            return ProvisionalOutcome(period, level, questionnaire, "fresh")
        started = time.perf_counter()
        content = service.compute_results(period, level, questionnaire, options, today=today)
        seconds = time.perf_counter() - started
        if not content["units"]:
            return ProvisionalOutcome(period, level, questionnaire, "empty", seconds)
        _store(content, options, seconds)
        return ProvisionalOutcome(period, level, questionnaire, "computed", seconds)
    finally:
        _release(claim)


def _store(content: dict, options: ResultOptions, seconds: float) -> None:
    values = dict(data_version=content["data_version"], computed_at=datetime.fromisoformat(content["computed_at"]),
                  seconds=round(seconds, 3),
                  content_json=json.dumps(content, ensure_ascii=False, separators=(",", ":")))
    where = (ProvisionalResult.period == content["period"], ProvisionalResult.level == content["level"],
             ProvisionalResult.questionnaire == content["questionnaire"],
             ProvisionalResult.options_hash == options.hash)
    if db.session.execute(update(ProvisionalResult).where(*where).values(**values)).rowcount == 0:
        try:
            with db.session.begin_nested():
                db.session.add(ProvisionalResult(period=content["period"], level=content["level"],
                                                 questionnaire=content["questionnaire"], options_hash=options.hash,
                                                 **values))
        except IntegrityError:  # another process stored the first row meanwhile: replace it
            db.session.execute(update(ProvisionalResult).where(*where).values(**values))
    db.session.commit()


def refresh_provisional(*, today: date | None = None,
                        options: ResultOptions = DEFAULT_OPTIONS) -> list[ProvisionalOutcome]:
    """Every default view of the open periods, computed and stored where due (the periodic job).

    With Redis one run at a time across every worker and node: at national scale a run can take
    longer than the minute between two, and the runs queued meanwhile must not pile up behind it
    (a run that finds another one going returns at once, with no outcome).
    """
    run = _claim("run", "all", "all", options)
    if run is None:
        return []
    try:
        return [refresh_view(period, level, code, options, today=today)
                for period, level, code in default_views(today)]
    finally:
        _release(run)


def stored_content(period: str, level: str, questionnaire: str,
                   options: ResultOptions = DEFAULT_OPTIONS) -> dict | None:
    """The newest stored content of the view, or None when none is stored or it is too old to trust
    (no worker keeps it up to date): then the caller computes in the request."""
    key = _view_key(period, level, questionnaire, options)
    now = time.monotonic()
    with _lock:
        looked = _lookups.get(key)
    if looked is None or now - looked[0] >= LOOKUP_SECONDS:
        row = _stored_row(period, level, questionnaire, options)
        looked = (now, (row.id, row.computed_at) if row is not None else None)
        with _lock:
            _lookups[key] = looked
    found = looked[1]
    if found is None or _age(found[1]) > current_app.config.get("RESULTS_PROVISIONAL_MAX_AGE_SECONDS", 3600):
        return None
    with _lock:
        parsed = _parsed.get(key)
    if parsed is not None and parsed[0] == found:
        return parsed[1]
    text = db.session.scalar(select(ProvisionalResult.content_json).where(ProvisionalResult.id == found[0]))
    if text is None:
        return None
    content = json.loads(text)
    if content.get("computed_at") != found[1].isoformat(timespec="seconds"):
        return None  # replaced between the two reads: the next lookup finds the newer row
    with _lock:
        _parsed[key] = (found, content)
    return content


def forget() -> None:
    """Drop this process's lookups (tests; a new row is otherwise seen within :data:`LOOKUP_SECONDS`)."""
    with _lock:
        _lookups.clear()
        _parsed.clear()
