"""Keeping the count tables up to date: exactly once, never rescanning the ratings.

The submission path stays as lean as it was: a new rating only carries ``count_state = 0``.
:func:`refresh_counts` then adds ratings to the count tables in bounded batches. Each batch is one
transaction that

1. **claims** uncounted ratings by moving their ``count_state`` to a negative "claimed" code
   (one ``UPDATE … WHERE id IN (SELECT … LIMIT n)``; on PostgreSQL the inner select is
   ``FOR UPDATE SKIP LOCKED``, so concurrent refreshers take disjoint batches and never wait; on
   SQLite the ``UPDATE`` holds the database's single write lock until the commit);
   Each claim reads one range of the partial index ``(count_state, id) WHERE count_state < 2``, which
   holds only the ratings still to count, whatever the size of the table;
2. adds the claimed ratings to the count tables with ``INSERT … SELECT … GROUP BY … ON CONFLICT DO
   UPDATE SET count = count + excluded.count`` (a transaction sees its own claims and never another
   one's, which are uncommitted; no committed row is ever left in a claimed state);
3. moves the claims to their final state and commits.

A rating whose transaction commits late still has ``count_state = 0`` and is found by the next run:
there is no id watermark to skip it. Flagged ratings are marked counted without being added.

**Two stages.** The overall answer is fixed at the first tap, so it is counted at once (state 1).
The follow-up answers and the procedure may still arrive during ``FOLLOW_UP_WINDOW_MINUTES``;
they are counted once the rating is *closed* — completed, or its window over (plus a
``COUNT_GRACE_SECONDS`` margin for clocks of different workers) — and then never change (state 2).

**Flags.** :func:`survey.misuse.operations.flag_rating` and ``clear_flag`` take an already counted
rating out of (or back into) the counts in the same transaction, see :func:`adjust_for_flag`.

:func:`check_counts` rebuilds every count from the ratings by the same definition and lists the
differences; ``repair=True`` replaces the tables with the rebuilt counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd
from flask import current_app
from sqlalchemy import case, delete, func, literal, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from survey.extensions import db
from survey.models import Answer, CriterionCount, OverallCount, ProcedureCount, Question, Rating
from survey.models._common import utcnow
from survey.models.results import NO_COUNTER

#: count_state values. Committed rows only ever hold 0, 1 or 2.
UNCOUNTED, OVERALL_COUNTED, FULLY_COUNTED = 0, 1, 2
#: Claims inside a refresher's transaction: 0 → 1, 0 → 2, 1 → 2.
CLAIM_OVERALL, CLAIM_BOTH, CLAIM_FOLLOW_UP = -1, -2, -3

DEFAULT_BATCH = 20_000
_last_refresh: dict[str, float] = {}


@dataclass
class RefreshResult:
    batches: int = 0
    overall: int = 0
    follow_up: int = 0
    seconds: float = 0.0


def _pending():
    """The partial index's own predicate, repeated literally so SQLite uses the index too."""
    return Rating.count_state < 2


def _closed(now: datetime):
    window = timedelta(minutes=current_app.config["FOLLOW_UP_WINDOW_MINUTES"],
                       seconds=current_app.config.get("COUNT_GRACE_SECONDS", 120))
    return or_(Rating.completed_at.is_not(None), Rating.created_at < now - window)


def _insert(model):
    dialect = db.engine.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise RuntimeError(f"Count tables support SQLite and PostgreSQL, not {dialect}.")


def _upsert(model, keys: list[str], query) -> None:
    """``INSERT INTO model (keys…, count) <query> ON CONFLICT (keys) DO UPDATE SET count = count + excluded.count``."""
    statement = _insert(model).from_select([*keys, "count"], query)
    statement = statement.on_conflict_do_update(
        index_elements=[getattr(model, k) for k in model.__table__.primary_key.columns.keys()],
        set_={"count": model.count + statement.excluded["count"]},
    )
    db.session.execute(statement)


OVERALL_KEYS = ["office_id", "service_date", "counter_id", "questionnaire_id", "channel", "value", "period_month"]
CRITERION_KEYS = ["office_id", "period_month", "question_id", "value"]
PROCEDURE_KEYS = ["office_id", "period_month", "questionnaire_id", "procedure_id", "value"]


def _overall_select(where):
    counter = func.coalesce(Rating.counter_id, literal(NO_COUNTER))
    columns = [Rating.office_id, Rating.service_date, counter, Rating.questionnaire_id, Rating.channel,
               Rating.overall_value, Rating.period_month]
    # Ordered by the key, so concurrent refreshers lock count rows in one order (no deadlock).
    return (select(*columns, func.count()).where(*where, Rating.flag.is_(None))
            .group_by(*columns).order_by(*columns))


def _criterion_select(where):
    columns = [Rating.office_id, Rating.period_month, Answer.question_id, Answer.value]
    return (select(*columns, func.count())
            .select_from(Rating).join(Answer, Answer.rating_id == Rating.id)
            .join(Question, Question.id == Answer.question_id)
            .where(*where, Rating.flag.is_(None), Question.is_overall.is_(False))
            .group_by(*columns).order_by(*columns))


def _procedure_select(where):
    columns = [Rating.office_id, Rating.period_month, Rating.questionnaire_id, Rating.procedure_id,
               Rating.overall_value]
    return (select(*columns, func.count())
            .where(*where, Rating.flag.is_(None), Rating.procedure_id.is_not(None))
            .group_by(*columns).order_by(*columns))


def _claim(state: int, claim, batch_size: int, *extra) -> int:
    """Move up to ``batch_size`` ratings in ``state`` (in index order) to the claim code ``claim``."""
    candidates = (
        select(Rating.id)
        .where(_pending(), Rating.count_state == state, *extra)
        .order_by(Rating.count_state, Rating.id).limit(batch_size)
    )
    if db.engine.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    return db.session.execute(
        update(Rating).where(Rating.id.in_(candidates.scalar_subquery())).values(count_state=claim)
        .execution_options(synchronize_session=False)
    ).rowcount


_POSTGRESQL_BATCH = """
WITH picked AS (
    SELECT id FROM ratings
    WHERE count_state < 2 AND count_state = :state {extra}
    ORDER BY count_state, id LIMIT :batch_size
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE ratings AS r SET count_state = {new_state}
    FROM picked WHERE r.id = picked.id
    RETURNING r.id, r.office_id, r.service_date, coalesce(r.counter_id, 0) AS counter_id, r.questionnaire_id,
              r.channel, r.overall_value, r.period_month, r.procedure_id, r.flag, r.count_state AS new_state
), overall AS (
    INSERT INTO overall_counts (office_id, service_date, counter_id, questionnaire_id, channel, value,
                                period_month, count)
    SELECT office_id, service_date, counter_id, questionnaire_id, channel, overall_value, period_month, count(*)
    FROM claimed WHERE flag IS NULL AND {with_overall}
    GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (office_id, service_date, counter_id, questionnaire_id, channel, value)
    DO UPDATE SET count = overall_counts.count + excluded.count
    RETURNING 1
), criteria AS (
    INSERT INTO criterion_counts (office_id, period_month, question_id, value, count)
    SELECT c.office_id, c.period_month, a.question_id, a.value, count(*)
    FROM claimed AS c JOIN answers AS a ON a.rating_id = c.id JOIN questions AS q ON q.id = a.question_id
    WHERE c.flag IS NULL AND NOT q.is_overall AND {with_follow_up}
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (office_id, period_month, question_id, value)
    DO UPDATE SET count = criterion_counts.count + excluded.count
    RETURNING 1
), procedures AS (
    INSERT INTO procedure_counts (office_id, period_month, questionnaire_id, procedure_id, value, count)
    SELECT office_id, period_month, questionnaire_id, procedure_id, overall_value, count(*)
    FROM claimed WHERE flag IS NULL AND procedure_id IS NOT NULL AND {with_follow_up}
    GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (office_id, period_month, questionnaire_id, procedure_id, value)
    DO UPDATE SET count = procedure_counts.count + excluded.count
    RETURNING 1
)
SELECT count(*) FILTER (WHERE {with_overall}), count(*) FILTER (WHERE {with_follow_up}) FROM claimed
"""
_CLOSED_SQL = "(completed_at IS NOT NULL OR created_at < :cutoff)"


def _refresh_batch_postgresql(now: datetime, batch_size: int) -> tuple[int, int]:
    """The same batch in two statements on PostgreSQL: each updates its ratings once, straight to the
    final state, and counts the updated rows in the same statement (data-modifying CTEs)."""
    window = timedelta(minutes=current_app.config["FOLLOW_UP_WINDOW_MINUTES"],
                       seconds=current_app.config.get("COUNT_GRACE_SECONDS", 120))
    params = {"cutoff": now - window, "batch_size": batch_size}
    new = _POSTGRESQL_BATCH.format(extra="", new_state=f"CASE WHEN {_CLOSED_SQL} THEN 2 ELSE 1 END",
                                   with_overall="true", with_follow_up="new_state = 2")
    overall, follow_up = db.session.execute(text(new), {**params, "state": UNCOUNTED}).one()
    closing = _POSTGRESQL_BATCH.format(extra=f"AND {_CLOSED_SQL}", new_state="2", with_overall="false",
                                       with_follow_up="true")
    _, closed = db.session.execute(text(closing), {**params, "state": OVERALL_COUNTED}).one()
    return overall, follow_up + closed


def _refresh_batch(now: datetime, batch_size: int) -> tuple[int, int]:
    """Claim, count and finalise one batch; returns (overall counted, follow-ups counted). Does not commit.

    Each claim reads one range of the partial index ``(count_state, id) WHERE count_state < 2``:
    new ratings (state 0), then ratings whose overall answer is counted and that are now closed.
    """
    if db.engine.dialect.name == "postgresql":
        return _refresh_batch_postgresql(now, batch_size)
    closed = _closed(now)
    claimed = _claim(UNCOUNTED, case((closed, CLAIM_BOTH), else_=CLAIM_OVERALL), batch_size)
    claimed += _claim(OVERALL_COUNTED, CLAIM_FOLLOW_UP, batch_size, closed)
    if not claimed:
        return 0, 0
    with_overall = [_pending(), Rating.count_state.in_([CLAIM_OVERALL, CLAIM_BOTH])]
    with_follow_up = [_pending(), Rating.count_state.in_([CLAIM_BOTH, CLAIM_FOLLOW_UP])]
    _upsert(OverallCount, OVERALL_KEYS, _overall_select(with_overall))
    _upsert(CriterionCount, CRITERION_KEYS, _criterion_select(with_follow_up))
    _upsert(ProcedureCount, PROCEDURE_KEYS, _procedure_select(with_follow_up))
    overall = db.session.scalar(select(func.count()).where(*with_overall))
    follow_up = db.session.scalar(select(func.count()).where(*with_follow_up))
    db.session.execute(
        update(Rating).where(_pending(), Rating.count_state < 0)
        .values(count_state=case((Rating.count_state == CLAIM_OVERALL, OVERALL_COUNTED), else_=FULLY_COUNTED))
        .execution_options(synchronize_session=False)
    )
    return overall, follow_up


def refresh_counts(*, batch_size: int = DEFAULT_BATCH, now: datetime | None = None,
                   max_batches: int | None = None) -> RefreshResult:
    """Add every rating not yet counted to the count tables, exactly once; commits each batch.

    Safe to run from several processes at once and alongside new ratings and flags. This is the
    function to schedule (every minute, say); the results service also calls it before computing
    live results when the counts are older than ``COUNTS_MAX_AGE_SECONDS``.
    """
    started = time.perf_counter()
    result = RefreshResult()
    now = now or utcnow()
    retries = 0
    while max_batches is None or result.batches < max_batches:
        try:
            overall, follow_up = _refresh_batch(now, batch_size)
            db.session.commit()
        except DBAPIError as exc:
            db.session.rollback()
            # A deadlock or serialisation failure with another writer: nothing was counted; try again.
            if retries < 5 and _is_transient(exc):
                retries += 1
                time.sleep(0.05 * retries)
                continue
            raise
        if not overall and not follow_up:
            break
        result.batches += 1
        result.overall += overall
        result.follow_up += follow_up
    _last_refresh[str(db.engine.url)] = time.monotonic()
    result.seconds = time.perf_counter() - started
    return result


def _is_transient(exc: DBAPIError) -> bool:
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if code in ("40P01", "40001"):  # PostgreSQL deadlock_detected, serialization_failure
        return True
    return "database is locked" in str(exc.orig) if exc.orig is not None else False


def refresh_if_stale() -> RefreshResult | None:
    """Refresh when this process has not refreshed for ``COUNTS_MAX_AGE_SECONDS``."""
    max_age = current_app.config.get("COUNTS_MAX_AGE_SECONDS", 30)
    last = _last_refresh.get(str(db.engine.url))
    if last is not None and time.monotonic() - last < max_age:
        return None
    return refresh_counts()


def uncounted_ratings() -> int:
    return db.session.scalar(select(func.count()).select_from(Rating).where(_pending())) or 0


# --------------------------------------------------------------------------- flags


def adjust_for_flag(rating_id: int, sign: int) -> None:
    """Take a rating out of (``sign=-1``) or put it back into (``+1``) the counts it is already in.

    Call after the rating's ``flag`` was changed by an ``UPDATE`` (which holds the row's lock, so no
    refresher is counting it at the same time); reads ``count_state`` under that lock.
    """
    row = db.session.execute(
        select(Rating.office_id, Rating.service_date, Rating.counter_id, Rating.questionnaire_id, Rating.channel,
               Rating.overall_value, Rating.period_month, Rating.procedure_id, Rating.count_state)
        .where(Rating.id == rating_id)
    ).one()
    if row.count_state >= OVERALL_COUNTED:
        key = {"office_id": row.office_id, "service_date": row.service_date,
               "counter_id": row.counter_id if row.counter_id is not None else NO_COUNTER,
               "questionnaire_id": row.questionnaire_id, "channel": str(row.channel), "value": row.overall_value}
        _add_one(OverallCount, key, {"period_month": row.period_month}, sign)
    if row.count_state == FULLY_COUNTED:
        answers = db.session.execute(
            select(Answer.question_id, Answer.value).join(Question, Question.id == Answer.question_id)
            .where(Answer.rating_id == rating_id, Question.is_overall.is_(False)).order_by(Answer.question_id)
        ).all()
        for question_id, value in answers:
            _add_one(CriterionCount, {"office_id": row.office_id, "period_month": row.period_month,
                                      "question_id": question_id, "value": value}, {}, sign)
        if row.procedure_id is not None:
            _add_one(ProcedureCount, {"office_id": row.office_id, "period_month": row.period_month,
                                      "questionnaire_id": row.questionnaire_id, "procedure_id": row.procedure_id,
                                      "value": row.overall_value}, {}, sign)


def _add_one(model, key: dict, extra: dict, sign: int) -> None:
    statement = _insert(model).values(**key, **extra, count=max(sign, 0))
    statement = statement.on_conflict_do_update(
        index_elements=[getattr(model, k) for k in key], set_={"count": model.count + sign},
    )
    db.session.execute(statement)


# --------------------------------------------------------------------------- check and repair


@dataclass
class CheckResult:
    #: table → DataFrame of the keys whose stored count differs, with ``stored`` and ``expected``.
    differences: dict[str, pd.DataFrame] = field(default_factory=dict)
    uncounted: int = 0
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return all(frame.empty for frame in self.differences.values())


_TABLES = {
    "overall_counts": (OverallCount, OVERALL_KEYS, _overall_select),
    "criterion_counts": (CriterionCount, CRITERION_KEYS, _criterion_select),
    "procedure_counts": (ProcedureCount, PROCEDURE_KEYS, _procedure_select),
}
_COUNTED_WHERE = {
    "overall_counts": lambda: [Rating.count_state >= OVERALL_COUNTED],
    "criterion_counts": lambda: [Rating.count_state == FULLY_COUNTED],
    "procedure_counts": lambda: [Rating.count_state == FULLY_COUNTED],
}


def check_counts(*, repair: bool = False) -> CheckResult:
    """Rebuild every count from the ratings the tables say they hold, and compare.

    ``repair=True`` replaces the stored counts with the rebuilt ones in one transaction (on
    PostgreSQL the count tables are locked against refreshers and flags meanwhile) and commits.
    """
    result = CheckResult()
    if repair and db.engine.dialect.name == "postgresql":
        db.session.execute(text(
            "LOCK TABLE overall_counts, criterion_counts, procedure_counts IN SHARE ROW EXCLUSIVE MODE"))
    for name, (model, keys, build) in _TABLES.items():
        query = build(_COUNTED_WHERE[name]())
        expected = pd.DataFrame(db.session.execute(query).all(), columns=[*keys, "expected"])
        stored_columns = [getattr(model, k) for k in keys]
        stored = pd.DataFrame(db.session.execute(select(*stored_columns, model.count)).all(),
                              columns=[*keys, "stored"])
        merged = _normalise(expected, keys).merge(_normalise(stored, keys), on=keys, how="outer")
        merged[["expected", "stored"]] = merged[["expected", "stored"]].fillna(0).astype("int64")
        result.differences[name] = merged[merged["expected"] != merged["stored"]].reset_index(drop=True)
        if repair and not result.differences[name].empty:
            db.session.execute(delete(model))
            _upsert(model, keys, query)
    result.uncounted = uncounted_ratings()
    if repair:
        db.session.commit()
        result.repaired = not result.ok
    return result


def _normalise(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    frame = frame.copy()
    for key in keys:
        if key == "service_date":
            frame[key] = pd.to_datetime(frame[key]).dt.date
        elif key == "channel":
            frame[key] = frame[key].map(str)
        else:
            frame[key] = frame[key].astype("int64")
    return frame
