"""SQL reads for the results: count rows per reporting unit × period × cluster × answer level.

Everything here reads the count tables that :mod:`survey.results.counts` maintains (a few rows per
office, counter and day), never the ratings. The roll-up from offices to communes or provinces,
following merger successors, uses the cached :mod:`survey.results.tree`. No statistics here:
:mod:`analysis` turns these counts into indices and intervals.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, func, select

from survey.extensions import db
from survey.models import (
    Answer, CriterionCount, OverallCount, Procedure, ProcedureCount, Question, Questionnaire, Rating, Scale,
    ServiceVolume,
    Transaction, UnitIndexScore, office_procedures,
)
from survey.results.tree import UnitTree


def month_range(first, last) -> tuple[int, int]:
    """``YYYYMM`` bounds of the months from the start of ``first`` to the end of ``last`` (pandas Periods)."""
    return (first.start_time.year * 100 + first.start_time.month, last.end_time.year * 100 + last.end_time.month)


def month_label(yyyymm: int) -> str:
    return f"{yyyymm // 100}-{yyyymm % 100:02d}"


@dataclass(frozen=True)
class ScaleInfo:
    """The overall question's scale of a questionnaire: values, labels and the "satisfied" threshold."""

    code: str
    low: int
    high: int
    satisfied_from: int
    labels_vi: tuple[str, ...]
    labels_en: tuple[str, ...]
    title_vi: str
    title_en: str

    def labels(self, locale: str | None) -> tuple[str, ...]:
        return self.labels_en if locale and not locale.startswith("vi") else self.labels_vi

    def title(self, locale: str | None) -> str:
        return self.title_en if locale and not locale.startswith("vi") else self.title_vi

    @property
    def values(self) -> list[int]:
        return list(range(self.low, self.high + 1))


def newest_questionnaire(code: str) -> Questionnaire:
    questionnaire = db.session.scalar(
        select(Questionnaire).where(Questionnaire.code == code).order_by(Questionnaire.version.desc()).limit(1)
    )
    if questionnaire is None:
        raise LookupError(f"No questionnaire with code {code!r}.")
    return questionnaire


def questionnaire_codes() -> list[str]:
    return list(db.session.scalars(select(Questionnaire.code).distinct().order_by(Questionnaire.code)))


def scale_info(questionnaire: Questionnaire, question=None) -> ScaleInfo:
    question = question or questionnaire.overall_question
    scale = question.scale
    return ScaleInfo(
        code=scale.code, low=min(scale.values), high=max(scale.values), satisfied_from=scale.satisfied_from,
        labels_vi=tuple(p.label_vi for p in scale.points),
        labels_en=tuple(p.label_en or p.label_vi for p in scale.points),
        title_vi=question.text_vi, title_en=question.text_en or question.text_vi,
    )


def _versions(code: str):
    return select(Questionnaire.id).where(Questionnaire.code == code)


def _read_frame(statement, columns: list[str]) -> pd.DataFrame:
    """An aggregate query's rows as columns, fetched with the driver's own cursor.

    Plain tuples, not one SQLAlchemy ``Row`` per row: a national quarter is hundreds of thousands
    of count rows, and building a ``Row`` for each cost ten times the query. The values bound in
    these statements are integers and a questionnaire code, rendered as SQL literals by the dialect.
    """
    connection = db.session.connection()
    sql = str(statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if not rows:
        frame = pd.DataFrame(columns=columns)
    else:
        # from_records builds the columns from the tuples in one pass: a quarter of the time of
        # transposing them in Python (zip(*rows)), with the same dtypes and values.
        frame = pd.DataFrame.from_records(rows, columns=columns)
    frame.attrs["source_hash"] = rows_hash(frame)
    return frame


def rows_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's rows whatever their order (the database may return a GROUP BY in any order)."""
    if frame.empty:
        return hashlib.sha256(b"empty").hexdigest()
    # Text for the columns pandas keeps as objects (dates, codes), numbers as they are: same rows, same hash.
    frame = frame.assign(**{c: frame[c].astype(str) for c in frame.columns if frame[c].dtype == object})
    hashes = np.sort(pd.util.hash_pandas_object(frame, index=False).to_numpy())
    return hashlib.sha256(hashes.tobytes()).hexdigest()


def _cluster_codes(office: np.ndarray, counter: np.ndarray, day: pd.Series) -> np.ndarray:
    """One integer per office × counter × service day: the cluster of the interval's variance."""
    day_codes, _ = pd.factorize(day)
    office = np.asarray(office, dtype=np.int64)
    counter = np.asarray(counter, dtype=np.int64)
    # Unit ids and day numbers are small: one int64 key per triple, then dense codes.
    key = (office * (int(counter.max()) + 1) + counter) * (int(day_codes.max()) + 1) + day_codes
    codes, _ = pd.factorize(key)
    return codes.astype(np.int64)


def overall_counts(questionnaire_code: str, months: tuple[int, int], level: str, tree: UnitTree,
                   on: date) -> pd.DataFrame:
    """Counts of the overall answer with their clusters.

    Columns ``unit`` (code), ``period`` (``YYYY-MM``), ``cluster`` (office × counter × day),
    ``value``, ``count``; one row per reporting unit, month, cluster and answer level, read from
    ``overall_counts`` (flagged ratings are never in it).
    """
    frame = _read_frame(
        select(OverallCount.office_id, OverallCount.counter_id, OverallCount.service_date, OverallCount.period_month,
               OverallCount.value, func.sum(OverallCount.count))
        .where(OverallCount.questionnaire_id.in_(_versions(questionnaire_code)),
               OverallCount.period_month.between(*months))
        .group_by(OverallCount.office_id, OverallCount.counter_id, OverallCount.service_date,
                  OverallCount.period_month, OverallCount.value),
        ["office_id", "counter_id", "day", "month", "value", "count"],
    )
    columns = ["unit", "period", "cluster", "value", "count"]
    source = frame.attrs["source_hash"]
    frame = _map_units(frame, level, tree, on)
    if frame.empty:
        return _with_source(pd.DataFrame(columns=columns), source)
    frame["cluster"] = _cluster_codes(frame["office_id"].to_numpy(), frame["counter_id"].to_numpy(), frame["day"])
    frame = frame[frame["count"] > 0]
    return _with_source(frame[columns].reset_index(drop=True), source)


def daily_overall_counts(questionnaire_code: str, first: date, last: date, level: str, tree: UnitTree, on: date,
                         office_ids: list[int]) -> pd.DataFrame:
    """:func:`overall_counts` of ``office_ids`` for the service dates ``first`` to ``last`` (Vietnam
    dates, both included), kept by day so the caller can group days into weeks.

    Columns ``unit`` (code at ``level`` today, mergers followed), ``day`` (the service date),
    ``cluster`` (office × counter × day), ``value``, ``count``. The day is the finest grouping the
    interval needs (its clusters are days), so weeks are formed from these few rows, not in SQL
    date functions that differ between SQLite and PostgreSQL. Flagged ratings are never counted.
    """
    months = (first.year * 100 + first.month, last.year * 100 + last.month)
    frame = _read_frame(
        select(OverallCount.office_id, OverallCount.counter_id, OverallCount.service_date, OverallCount.period_month,
               OverallCount.value, func.sum(OverallCount.count))
        .where(OverallCount.questionnaire_id.in_(_versions(questionnaire_code)),
               OverallCount.period_month.between(*months),  # the (questionnaire, month) index
               OverallCount.service_date.between(first, last),
               OverallCount.office_id.in_([int(i) for i in office_ids]))
        .group_by(OverallCount.office_id, OverallCount.counter_id, OverallCount.service_date,
                  OverallCount.period_month, OverallCount.value),
        ["office_id", "counter_id", "day", "month", "value", "count"],
    )
    columns = ["unit", "day", "cluster", "value", "count"]
    source = frame.attrs["source_hash"]
    frame = _map_units(frame, level, tree, on)
    if frame.empty:
        return _with_source(pd.DataFrame(columns=columns), source)
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    frame["cluster"] = _cluster_codes(frame["office_id"].to_numpy(), frame["counter_id"].to_numpy(), frame["day"])
    frame = frame[frame["count"] > 0]
    return _with_source(frame[columns].reset_index(drop=True), source)


def _with_source(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Keep the hash of the database rows a frame was made from (its data version)."""
    frame.attrs["source_hash"] = source
    return frame


def _map_units(frame: pd.DataFrame, level: str, tree: UnitTree, on: date) -> pd.DataFrame:
    if frame.empty:
        return frame.assign(unit=pd.Series(dtype=object), period=pd.Series(dtype=object))
    mapping = {office_id: node.code for office_id, node in tree.reporting_map(level, on).items()}
    frame = frame.assign(unit=frame["office_id"].map(mapping))
    frame = frame[frame["unit"].notna()].copy()
    months = frame["month"].astype("int64")
    labels = {m: month_label(int(m)) for m in pd.unique(months)}
    frame["period"] = months.map(labels)
    frame["count"] = frame["count"].astype("int64")
    return frame


def transactions_served(months: tuple[int, int], level: str, tree: UnitTree, on: date) -> pd.DataFrame:
    """Transactions served per reporting unit and month: columns ``unit``, ``period``, ``transactions``."""
    frame = _read_frame(
        select(ServiceVolume.office_id, ServiceVolume.period_month, func.sum(ServiceVolume.transactions))
        .where(ServiceVolume.period_month.between(*months))
        .group_by(ServiceVolume.office_id, ServiceVolume.period_month),
        ["office_id", "month", "count"],
    )
    source = frame.attrs["source_hash"]
    frame = _map_units(frame, level, tree, on)
    if frame.empty:
        return _with_source(pd.DataFrame(columns=["unit", "period", "transactions"]), source)
    out = frame.groupby(["unit", "period"], as_index=False)["count"].sum()
    return _with_source(out.rename(columns={"count": "transactions"}), source)


def criterion_counts(questionnaire_code: str, months: tuple[int, int], level: str, tree: UnitTree,
                     on: date) -> pd.DataFrame:
    """Follow-up answers: columns ``question`` (key), ``unit``, ``period``, ``value``, ``count``."""
    frame = _read_frame(
        select(Question.key, CriterionCount.office_id, CriterionCount.period_month, CriterionCount.value,
               func.sum(CriterionCount.count))
        .join(Question, Question.id == CriterionCount.question_id)
        .where(Question.questionnaire_id.in_(_versions(questionnaire_code)),
               CriterionCount.period_month.between(*months))
        .group_by(Question.key, CriterionCount.office_id, CriterionCount.period_month, CriterionCount.value),
        ["question", "office_id", "month", "value", "count"],
    )
    return _summed_by_unit(frame, level, tree, on, ["question", "unit", "period", "value", "count"])


def procedure_counts(questionnaire_code: str, months: tuple[int, int], level: str, tree: UnitTree,
                     on: date) -> pd.DataFrame:
    """Overall answers per procedure named: columns ``unit``, ``procedure`` (code), ``period``, ``value``, ``count``."""
    frame = _read_frame(
        select(ProcedureCount.office_id, Procedure.code, ProcedureCount.period_month, ProcedureCount.value,
               func.sum(ProcedureCount.count))
        .join(Procedure, Procedure.id == ProcedureCount.procedure_id)
        .where(ProcedureCount.questionnaire_id.in_(_versions(questionnaire_code)),
               ProcedureCount.period_month.between(*months))
        .group_by(ProcedureCount.office_id, Procedure.code, ProcedureCount.period_month, ProcedureCount.value),
        ["office_id", "procedure", "month", "value", "count"],
    )
    return _summed_by_unit(frame, level, tree, on, ["unit", "procedure", "period", "value", "count"])


def _summed_by_unit(frame: pd.DataFrame, level: str, tree: UnitTree, on: date, columns: list[str]) -> pd.DataFrame:
    """Offices mapped to their unit at ``level``, then ``count`` summed over the other ``columns``."""
    source = frame.attrs["source_hash"]
    frame = _map_units(frame, level, tree, on)
    if frame.empty:
        return _with_source(pd.DataFrame(columns=columns), source)
    return _with_source(frame.groupby(columns[:-1], as_index=False)["count"].sum()[columns], source)


def criterion_questions(questionnaire: Questionnaire) -> list:
    """The follow-up questions of a questionnaire version, in order."""
    return list(questionnaire.follow_up_questions)


def procedure_names() -> dict[str, tuple[str, str | None]]:
    return {code: (vi, en) for code, vi, en in db.session.execute(
        select(Procedure.code, Procedure.name_vi, Procedure.name_en))}


def procedures_offered(office_ids: list[int]) -> list[tuple[str, str, str | None]]:
    """Procedures offered by these offices: ``(code, name_vi, name_en)``, by code."""
    if not office_ids:
        return []
    rows = db.session.execute(
        select(Procedure.code, Procedure.name_vi, Procedure.name_en)
        .join(office_procedures, office_procedures.c.procedure_id == Procedure.id)
        .where(office_procedures.c.office_id.in_(office_ids))
        .distinct().order_by(Procedure.code)
    ).all()
    return [tuple(r) for r in rows]


def flagged_ratings(questionnaire_code: str, months: tuple[int, int]) -> dict[str, int]:
    """Ratings left out as suspected misuse in these months, per reason (the partial index keeps this cheap)."""
    rows = db.session.execute(
        select(Rating.flag, func.count())
        .where(Rating.flag.is_not(None), Rating.period_month.between(*months),
               Rating.questionnaire_id.in_(_versions(questionnaire_code)))
        .group_by(Rating.flag).order_by(Rating.flag)
    ).all()
    return {flag: int(count) for flag, count in rows}


def latest_count_month() -> int | None:
    return db.session.scalar(select(func.max(OverallCount.period_month)))


def counter_counts(questionnaire_code: str, months: tuple[int, int], tree: UnitTree) -> pd.DataFrame:
    """Counts of the overall answer per counter: columns ``unit`` (the counter's code), ``period``,
    ``cluster`` (counter × day), ``value``, ``count``. Ratings given without a counter are left out."""
    frame = _read_frame(
        select(OverallCount.office_id, OverallCount.counter_id, OverallCount.service_date, OverallCount.period_month,
               OverallCount.value, func.sum(OverallCount.count))
        .where(OverallCount.questionnaire_id.in_(_versions(questionnaire_code)),
               OverallCount.period_month.between(*months), OverallCount.counter_id != 0)
        .group_by(OverallCount.office_id, OverallCount.counter_id, OverallCount.service_date,
                  OverallCount.period_month, OverallCount.value),
        ["office_id", "counter_id", "day", "month", "value", "count"],
    )
    columns = ["unit", "period", "cluster", "value", "count"]
    source = frame.attrs["source_hash"]
    if frame.empty:
        return _with_source(pd.DataFrame(columns=columns), source)
    codes = {node.id: node.code for node in tree.nodes.values()}
    frame = frame.assign(unit=frame["counter_id"].map(codes))
    frame = frame[frame["unit"].notna() & (frame["count"] > 0)].copy()
    if frame.empty:
        return _with_source(pd.DataFrame(columns=columns), source)
    frame["period"] = frame["month"].astype("int64").map(lambda m: month_label(int(m)))
    frame["count"] = frame["count"].astype("int64")
    frame["cluster"] = _cluster_codes(frame["office_id"].to_numpy(), frame["counter_id"].to_numpy(), frame["day"])
    return _with_source(frame[columns].reset_index(drop=True), source)


def channel_counts(questionnaire_code: str, months: tuple[int, int], level: str, tree: UnitTree,
                   on: date, office_ids: list[int] | None = None) -> pd.DataFrame:
    """:func:`overall_counts` with the channel the rating came through (of ``office_ids`` only, when
    given): columns ``unit``, ``channel``, ``period``, ``cluster``, ``value``, ``count``."""
    offices = [] if office_ids is None else [OverallCount.office_id.in_([int(i) for i in office_ids])]
    frame = _read_frame(
        select(OverallCount.office_id, OverallCount.counter_id, OverallCount.service_date, OverallCount.period_month,
               OverallCount.channel, OverallCount.value, func.sum(OverallCount.count))
        .where(OverallCount.questionnaire_id.in_(_versions(questionnaire_code)),
               OverallCount.period_month.between(*months), *offices)
        .group_by(OverallCount.office_id, OverallCount.counter_id, OverallCount.service_date,
                  OverallCount.period_month, OverallCount.channel, OverallCount.value),
        ["office_id", "counter_id", "day", "month", "channel", "value", "count"],
    )
    columns = ["unit", "channel", "period", "cluster", "value", "count"]
    source = frame.attrs["source_hash"]
    frame = _map_units(frame, level, tree, on)
    if frame.empty:
        return _with_source(pd.DataFrame(columns=columns), source)
    frame["cluster"] = _cluster_codes(frame["office_id"].to_numpy(), frame["counter_id"].to_numpy(), frame["day"])
    frame = frame[frame["count"] > 0]
    return _with_source(frame[columns].reset_index(drop=True), source)


def transaction_outcome_counts(start: datetime, end: datetime, level: str, tree: UnitTree, on: date) -> pd.DataFrame:
    """Dossiers returned in ``[start, end)`` (naive UTC) per reporting unit × late × rating's questionnaire ×
    overall answer (NaN when not rated; flagged ratings count as not rated): columns ``unit``, ``late``,
    ``questionnaire_id``, ``overall_value``, ``count``. Reads the transactions, not the count tables:
    one row per dossier is the only way to know which dossier was rated."""
    transactions, ratings = Transaction.__table__, Rating.__table__
    late = case((and_(transactions.c.due_at.is_not(None), transactions.c.returned_at > transactions.c.due_at), 1),
                else_=0)
    statement = (
        select(transactions.c.office_id, late, ratings.c.questionnaire_id, ratings.c.overall_value, func.count())
        .select_from(transactions.outerjoin(
            ratings, and_(ratings.c.transaction_ref == transactions.c.dossier_code, ratings.c.flag.is_(None))))
        .where(transactions.c.returned_at >= start, transactions.c.returned_at < end)
        .group_by(transactions.c.office_id, late, ratings.c.questionnaire_id, ratings.c.overall_value)
    )
    columns = ["office_id", "late", "questionnaire_id", "overall_value", "count"]
    rows = db.session.execute(statement).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=columns)
    mapping = {office_id: node.code for office_id, node in tree.reporting_map(level, on).items()}
    frame["unit"] = frame["office_id"].map(mapping)
    return frame[frame["unit"].notna()][["unit", *columns[1:]]].reset_index(drop=True)


def dossier_rows(start: datetime, end: datetime, office_id: int) -> pd.DataFrame:
    """One row per dossier returned at ``office_id`` in ``[start, end)`` (naive UTC): ``transaction_id``,
    ``officer`` (the officer code, never published), ``returned_at``, ``due_at``."""
    transactions = Transaction.__table__
    rows = db.session.execute(
        select(transactions.c.id, transactions.c.officer_code, transactions.c.returned_at, transactions.c.due_at)
        .where(transactions.c.office_id == office_id, transactions.c.returned_at >= start,
               transactions.c.returned_at < end)
        .order_by(transactions.c.id)
    ).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["transaction_id", "officer", "returned_at", "due_at"])


def dossier_answers(start: datetime, end: datetime, office_id: int, questionnaire_code: str,
                    keys: tuple[str, ...]) -> pd.DataFrame:
    """The answers to the questions ``keys`` of ``questionnaire_code`` given through each dossier's link
    (flagged ratings left out), for the dossiers of :func:`dossier_rows`: ``transaction_id``, ``key``, ``value``
    and ``scale`` (the code of the scale the question was answered on, so the caller can keep only the
    wordings it counts)."""
    transactions, ratings = Transaction.__table__, Rating.__table__
    answers, questions, questionnaires = Answer.__table__, Question.__table__, Questionnaire.__table__
    scales = Scale.__table__
    rows = db.session.execute(
        select(transactions.c.id, questions.c.key, answers.c.value, scales.c.code)
        .select_from(
            transactions.join(ratings, and_(ratings.c.transaction_ref == transactions.c.dossier_code,
                                            ratings.c.flag.is_(None)))
            .join(answers, answers.c.rating_id == ratings.c.id)
            .join(questions, questions.c.id == answers.c.question_id)
            .join(scales, scales.c.id == questions.c.scale_id)
            .join(questionnaires, questionnaires.c.id == ratings.c.questionnaire_id))
        .where(transactions.c.office_id == office_id, transactions.c.returned_at >= start,
               transactions.c.returned_at < end, questionnaires.c.code == questionnaire_code,
               questions.c.key.in_(keys))
    ).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["transaction_id", "key", "value", "scale"])


def unit_index_scores(unit_id: int, on: date) -> dict[str, int]:
    """The latest entered score of each unit-scored index holding on ``on``: ``{"index_5": 2, ...}``."""
    scores = UnitIndexScore.__table__
    newest = (
        select(scores.c.index_number, func.max(scores.c.valid_from).label("valid_from"))
        .where(scores.c.unit_id == unit_id, scores.c.valid_from <= on)
        .group_by(scores.c.index_number).subquery()
    )
    rows = db.session.execute(
        select(scores.c.index_number, scores.c.points)
        .join(newest, and_(scores.c.index_number == newest.c.index_number,
                           scores.c.valid_from == newest.c.valid_from))
        .where(scores.c.unit_id == unit_id)
    ).all()
    return {f"index_{number}": int(points) for number, points in rows}


def reason_counts(questionnaire_code: str, months: tuple[int, int], office_ids: list[int]) -> dict[str, int]:
    """What went wrong, per reason, in these months at these offices (flagged ratings left out)."""
    from survey.models import RatingReason

    if not office_ids:
        return {}
    rows = db.session.execute(
        select(RatingReason.reason, func.count())
        .join(Rating, Rating.id == RatingReason.rating_id)
        .where(Rating.flag.is_(None), Rating.period_month.between(*months), Rating.office_id.in_(office_ids),
               Rating.questionnaire_id.in_(_versions(questionnaire_code)))
        .group_by(RatingReason.reason)
    ).all()
    return {reason: int(count) for reason, count in rows}
