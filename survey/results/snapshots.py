"""Published results: immutable revisions of a closed period's tables.

``survey results publish --period 2026-Q3`` (or the scheduled :func:`publish_due`) computes the
results from the counts and stores them as a :class:`~survey.models.ResultSnapshot`, keyed by
period, level, questionnaire, the options' hash and the data version (a hash of the count rows
used). Publishing again with the same data stores nothing; a late rating or a misuse flag changes
the data version and makes the next revision. Pages show the newest revision and link to the
earlier ones; a revision, once stored, is never changed.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date

import analysis
from sqlalchemy import func, select
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from survey.audit.log import record
from survey.extensions import db
from survey.models import ResultSnapshot
from survey.models._common import utcnow
from survey.results import service
from survey.results.service import DEFAULT_OPTIONS, LEVELS, ResultOptions, Results, ResultsError

#: Seconds a page reuses this process's lookup of the newest revision (a revision published by another
#: process shows within this time; one published by this process at once).
LOOKUP_SECONDS = 5.0
_lookups: dict[tuple, tuple[float, list]] = {}

#: Parsed snapshots kept in memory (they never change, so they never go stale).
SNAPSHOT_CACHE_SIZE = 64
_parsed: OrderedDict[tuple[str, int], dict] = OrderedDict()
_parsed_lock = threading.Lock()


@dataclass(frozen=True)
class PublishOutcome:
    period: str
    level: str
    questionnaire: str
    #: 0 when there was nothing to publish (no ratings at all for this questionnaire and period).
    revision: int
    created: bool
    snapshot_id: int | None


def _content(snapshot_id: int, content_json: str | None = None) -> dict:
    key = (str(db.engine.url), snapshot_id)
    with _parsed_lock:
        if key in _parsed:
            _parsed.move_to_end(key)
            return _parsed[key]
    if content_json is None:
        content_json = db.session.scalar(select(ResultSnapshot.content_json).where(ResultSnapshot.id == snapshot_id))
    content = json.loads(content_json)
    with _parsed_lock:
        _parsed[key] = content
        while len(_parsed) > SNAPSHOT_CACHE_SIZE:
            _parsed.popitem(last=False)
    return content


def revisions(period: str, level: str, questionnaire: str, options: ResultOptions = DEFAULT_OPTIONS,
              *, max_age: float = 0.0):
    """``[(revision, published_at, id, data_version)]`` of one key, newest first (no content loaded).

    ``max_age`` > 0 reuses a lookup made by this process within that many seconds (the pages use
    :data:`LOOKUP_SECONDS`; publishing in this process forgets them at once).
    """
    key = (str(db.engine.url), period, level, questionnaire, options.hash)
    if max_age > 0:
        found = _lookups.get(key)
        if found is not None and time.monotonic() - found[0] < max_age:
            return found[1]
    rows = db.session.execute(
        select(ResultSnapshot.revision, ResultSnapshot.published_at, ResultSnapshot.id, ResultSnapshot.data_version)
        .where(ResultSnapshot.period == period, ResultSnapshot.level == level,
               ResultSnapshot.questionnaire == questionnaire, ResultSnapshot.options_hash == options.hash)
        .order_by(ResultSnapshot.revision.desc())
    ).all()
    _lookups[key] = (time.monotonic(), rows)
    return rows


def find_snapshot(period: str, level: str, questionnaire: str, options: ResultOptions = DEFAULT_OPTIONS,
                  *, revision: int | None = None) -> Results | None:
    """The newest (or the given) published revision, or None when the period was never published."""
    found = revisions(period, level, questionnaire, options, max_age=LOOKUP_SECONDS)
    if not found:
        return None
    chosen = found[0] if revision is None else next((r for r in found if r.revision == revision), None)
    if chosen is None:
        return None
    return Results(
        content=_content(chosen.id), status="published", snapshot_id=chosen.id, revision=chosen.revision,
        published_at=chosen.published_at, revisions=[(r.revision, r.published_at, r.id) for r in found],
    )


def snapshot_by_id(snapshot_id: int) -> Results | None:
    row = db.session.get(ResultSnapshot, snapshot_id)
    if row is None:
        return None
    found = revisions(row.period, row.level, row.questionnaire, ResultOptions.from_json(row.options_json))
    return Results(
        content=_content(row.id, row.content_json), status="published", snapshot_id=row.id, revision=row.revision,
        published_at=row.published_at, revisions=[(r.revision, r.published_at, r.id) for r in found],
    )


def publish(period: str, level: str, questionnaire: str, options: ResultOptions = DEFAULT_OPTIONS,
            *, today: date | None = None, allow_open: bool = False, actor=None) -> PublishOutcome:
    """Store a new revision when the data changed since the newest one, with its audit entry
    (``actor``: the user who asked, None for the schedule and the command line); commits.

    Only closed periods are published (``allow_open`` is for tests and previews).
    """
    current = service.parse_period(period)
    label = analysis.period_label(current)
    service.check_level(level)
    if not allow_open and not service.period_is_closed(current, today):
        raise ResultsError("open_period", _l(
            "The period %(period)s is not over yet; only closed periods are published.", period=label))
    content = service.compute_results(label, level, questionnaire, options, today=today)
    if not content["units"]:
        return PublishOutcome(label, level, questionnaire, 0, False, None)
    for _attempt in range(3):
        found = revisions(label, level, questionnaire, options)
        if found and found[0].data_version == content["data_version"]:
            return PublishOutcome(label, level, questionnaire, found[0].revision, False, found[0].id)
        revision = (found[0].revision + 1) if found else 1
        snapshot = ResultSnapshot(
            period=label, level=level, questionnaire=questionnaire, options_hash=options.hash,
            options_json=options.canonical_json(), data_version=content["data_version"], revision=revision,
            published_at=utcnow(), content_json=json.dumps(content, ensure_ascii=False, separators=(",", ":")),
        )
        try:
            with db.session.begin_nested():
                db.session.add(snapshot)
        except IntegrityError:
            continue  # another publisher stored this revision number first: look again
        record(actor, "snapshot_published", snapshot, data={
            "period": label, "level": level, "questionnaire": questionnaire, "revision": revision,
            "units": len(content["units"])})
        db.session.commit()
        _lookups.clear()
        return PublishOutcome(label, level, questionnaire, revision, True, snapshot.id)
    raise RuntimeError(f"Could not publish {label} {level} {questionnaire}: too many concurrent publishers.")


def publish_due(*, today: date | None = None, options: ResultOptions = DEFAULT_OPTIONS) -> list[PublishOutcome]:
    """Publish the last complete month, quarter and year for every level and questionnaire.

    Meant for a schedule (daily, say): each call stores a revision only where data changed.
    """
    import pandas as pd

    from survey.results.queries import questionnaire_codes

    today = today or service.vietnam_today()
    periods = [analysis.period_label(pd.Period(today, freq=f) - 1) for f in ("M", "Q", "Y")]
    outcomes = []
    for code in questionnaire_codes():
        for label in periods:
            for level in LEVELS:
                outcomes.append(publish(label, level, code, options, today=today))
    return outcomes


def published_snapshots(options: ResultOptions = DEFAULT_OPTIONS):
    """Every stored revision with these options: ``id, period, level, questionnaire, revision, published_at``."""
    return db.session.execute(
        select(ResultSnapshot.id, ResultSnapshot.period, ResultSnapshot.level, ResultSnapshot.questionnaire,
               ResultSnapshot.revision, ResultSnapshot.published_at)
        .where(ResultSnapshot.options_hash == options.hash)
        .order_by(ResultSnapshot.period.desc(), ResultSnapshot.level, ResultSnapshot.questionnaire,
                  ResultSnapshot.revision.desc())
    ).all()


def snapshot_count() -> int:
    return db.session.scalar(select(func.count()).select_from(ResultSnapshot)) or 0
