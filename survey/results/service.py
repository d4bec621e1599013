"""The one results service: (period, level, questionnaire, scope, options) → the published table.

Every page, the open-data API, the CLI and later the dashboards, exports and alerts call
:func:`results_table`; none computes a number of its own. The numbers come from
:func:`analysis.satisfaction_table` on the count tables (:mod:`survey.results.queries`); this
module picks the counts, passes one :class:`ResultOptions`, and decides where the answer comes
from:

* a **closed** period that was published → its newest snapshot revision (never recomputed);
* a closed period not yet published, or the **open** current period → computed live from the
  counts, marked provisional, and reused for at most ``RESULTS_CACHE_SECONDS`` (60 s), so a new
  rating shows within a minute (the counts are refreshed first when older than
  ``COUNTS_MAX_AGE_SECONDS``).

The answer is a :class:`Results`: JSON-ready rows plus everything the pages need to say how they
were made (period, options, data version, revision, provisional or published).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from flask import current_app
from flask_babel import lazy_gettext as _l

import analysis
from survey.extensions import db
from survey.models._common import utcnow
from survey.results import queries
from survey.results.counts import refresh_if_stale
from survey.results.tree import UnitTree, unit_tree

LEVELS = ("province", "commune", "office")
#: How many periods back the unit page's trend reaches, per kind of period.
TREND_LENGTH = {"M": 12, "Q": 8, "Y": 3}


class ResultsError(ValueError):
    """A request the service cannot answer: ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(code)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


@dataclass(frozen=True)
class ResultOptions:
    """Every setting that changes a published number; recorded (and hashed) with every result."""

    #: Smallest sample whose index is published (below it everything derived is withheld).
    min_n: int = 30
    confidence: float = 0.95
    #: Interval method for the index (``analysis.proportion_ci``).
    method: str = "wilson"
    #: Over-dispersion handling of the comparison (``analysis.funnel.ADJUSTMENTS``; additive = DerSimonian-Laird).
    adjustment: str = "additive"
    #: False-discovery rate of the published above/below verdicts and change flags.
    fdr: float = 0.05
    #: Posterior draws for rank intervals; ``None`` takes the analysis default.
    n_sims: int | None = None
    seed: int = 2026
    #: Use counter × service-day clusters in the index interval (design effect).
    cluster: bool = True

    def __post_init__(self):
        if isinstance(self.min_n, bool) or not isinstance(self.min_n, int) or self.min_n < 1:
            raise ValueError(f"min_n must be a whole number >= 1, got {self.min_n!r}")
        if not 0.5 <= float(self.confidence) < 1:
            raise ValueError(f"confidence must be in [0.5, 1), got {self.confidence!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def canonical_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @classmethod
    def from_json(cls, text: str) -> ResultOptions:
        return cls(**json.loads(text))


DEFAULT_OPTIONS = ResultOptions()


@dataclass
class Results:
    """One results table and how it was made. ``content`` is JSON-ready (what a snapshot stores)."""

    content: dict[str, Any]
    #: ``live`` (the open period), ``unpublished`` (closed, not yet published) or ``published``.
    status: str
    snapshot_id: int | None = None
    revision: int | None = None
    published_at: datetime | None = None
    #: Earlier revisions: ``[(revision, published_at, snapshot id)]``, newest first.
    revisions: list[tuple[int, datetime, int]] = field(default_factory=list)
    scope: str | None = None

    @property
    def provisional(self) -> bool:
        return self.status != "published"

    @property
    def period(self) -> str:
        return self.content["period"]

    @property
    def level(self) -> str:
        return self.content["level"]

    @property
    def questionnaire(self) -> str:
        return self.content["questionnaire"]

    @property
    def units(self) -> list[dict[str, Any]]:
        rows = self.content["units"]
        if self.scope is None:
            return rows
        return [row for row in rows if self.scope in row["path"]]

    def unit(self, code: str) -> dict[str, Any] | None:
        return next((row for row in self.content["units"] if row["code"] == code), None)

    @property
    def cache_key(self) -> str:
        """Identifies exactly these numbers (for caching what is drawn from them)."""
        key = f"{self.snapshot_id or 'live'}:{self.content['data_version']}:{self.content['options_hash']}"
        # A live table recomputed from the same counts says a newer "computed at": a new key.
        return key if self.snapshot_id else f"{key}:{self.content.get('computed_at')}"


# --------------------------------------------------------------------------- periods


def vietnam_today() -> date:
    """Today in Vietnam; ``RESULTS_TODAY`` in the config fixes it (tests, demos of a past period)."""
    from zoneinfo import ZoneInfo

    from flask import has_app_context

    if has_app_context() and current_app.config.get("RESULTS_TODAY"):
        return current_app.config["RESULTS_TODAY"]
    return datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()


def parse_period(label: str) -> pd.Period:
    try:
        return analysis.parse_period(label)
    except (ValueError, TypeError):
        raise ResultsError("bad_period", _l("Cannot read the period %(label)s; use 2026-07, 2026-Q3 or 2026.",
                                            label=str(label)[:40])) from None


def period_is_closed(period: pd.Period, today: date | None = None) -> bool:
    return period.end_time.date() < (today or vietnam_today())


def last_complete_quarter(today: date | None = None) -> str:
    today = today or vietnam_today()
    return analysis.period_label(pd.Period(today, freq="Q") - 1)


def period_choices(today: date | None = None, *, years: int = 2) -> dict[str, list[str]]:
    """Periods offered on the page: months, quarters and years up to the current one."""
    today = today or vietnam_today()
    months = [analysis.period_label(pd.Period(today, freq="M") - k) for k in range(12 * years)]
    quarters = [analysis.period_label(pd.Period(today, freq="Q") - k) for k in range(4 * years)]
    year_list = [str(today.year - k) for k in range(years)]
    return {"month": months, "quarter": quarters, "year": year_list}


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise ResultsError("bad_level", _l("Unknown level %(level)s; use province, commune or office.",
                                           level=str(level)[:40]))
    return level


# --------------------------------------------------------------------------- computing


def _satisfaction_table(counts: pd.DataFrame, by: list[str], **settings) -> pd.DataFrame:
    return analysis.satisfaction_table(counts, by, **settings)


def _analysis_settings(options: ResultOptions, scale: queries.ScaleInfo) -> dict[str, Any]:
    settings: dict[str, Any] = dict(
        satisfied_from=scale.satisfied_from, scale=(scale.low, scale.high), min_n=options.min_n,
        confidence=options.confidence, method=options.method, adjustment=options.adjustment, seed=options.seed,
        fdr=options.fdr,
    )
    if options.n_sims is not None:
        settings["n_sims"] = options.n_sims
    return settings


def _json_value(value):
    if value is None:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (str, int)):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    columns = list(table.columns)
    return [{c: _json_value(v) for c, v in zip(columns, row)} for row in table.itertuples(index=False, name=None)]


def _data_version(level: str, tree: UnitTree, today: date, *frames: pd.DataFrame) -> str:
    """SHA-256 of the count rows read (as the database holds them, in any order) and of how offices
    roll up to this level today: the same counts and units give the same version."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(frame.attrs.get("source_hash", "").encode())
    mapping = sorted((office_id, node.code) for office_id, node in tree.reporting_map(level, today).items())
    digest.update(repr(mapping).encode())
    return digest.hexdigest()


def _funnel(table: pd.DataFrame) -> dict[str, Any] | None:
    """Funnel limit curves for the plot, from :mod:`analysis` (the plot never computes a limit).

    Units are drawn at their effective number of ratings (``n_eff``, which is ``n`` without
    clustering), the x-axis the analysis judged them on.
    """
    publishable = table[table["publishable"].astype(bool)]
    if publishable.empty:
        return None
    x = "n_eff" if "n_eff" in table.columns and publishable["n_eff"].notna().all() else "n"
    sizes = publishable[x].astype(float)
    low, high = max(1.0, float(sizes.min()) / 2), float(sizes.max()) * 1.1
    grid = np.unique(np.round(np.geomspace(low, max(high, low + 1), 60)).astype(int))
    frame = analysis.funnel_curve(table, grid)
    target = float(frame["target"].iloc[0])
    if not 0 < target < 1:
        return None
    return {"target": target, "x": x, "columns": {c: _json_value(frame[c].tolist()) for c in frame.columns}}


def _unit_rows(table: pd.DataFrame, tree: UnitTree, level: str) -> list[dict[str, Any]]:
    rows = []
    parent_level = {"province": None, "commune": "province", "office": "commune"}[level]
    for record in _records(table):
        node = tree.by_code.get(record.pop("unit"))
        if node is None:
            continue
        chain = tree.chain(node)
        parent = tree.parent_at(node, parent_level) if parent_level else None
        if parent is None and level == "office":
            parent = tree.parent_at(node, "province")
        rows.append({
            "code": node.code, "name_vi": node.name_vi, "name_en": node.name_en or node.name_vi,
            "parent_code": parent.code if parent else None,
            "parent_name_vi": parent.name_vi if parent else None,
            "parent_name_en": (parent.name_en or parent.name_vi) if parent else None,
            "path": [n.code for n in chain],
            **record,
        })
    return rows


def newest_questionnaire(questionnaire: str):
    """The newest version of a questionnaire code, or a :class:`ResultsError` naming the unknown code."""
    try:
        return queries.newest_questionnaire(questionnaire)
    except LookupError:
        raise ResultsError("bad_questionnaire",
                           _l("There is no questionnaire %(code)s.", code=str(questionnaire)[:64])) from None


def _reused(key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()``'s value, reused for ``RESULTS_CACHE_SECONDS`` in this process (manager views)."""
    max_age = current_app.config.get("RESULTS_CACHE_SECONDS", 60)
    cached = _live_cache.get(key)
    if cached is None or time.monotonic() - cached[0] >= max_age:
        cached = (time.monotonic(), compute())
        _live_cache[key] = cached
    return cached[1]


def compute_results(period: str, level: str, questionnaire: str, options: ResultOptions = DEFAULT_OPTIONS,
                    *, today: date | None = None) -> dict[str, Any]:
    """Compute the results from the count tables (no cache, no snapshot): the JSON-ready content."""
    check_level(level)
    current = parse_period(period)
    label, previous = analysis.period_label(current), analysis.period_before(current)
    version = newest_questionnaire(questionnaire)
    scale = queries.scale_info(version)
    refresh_if_stale()
    today = today or vietnam_today()
    tree = unit_tree()
    months = queries.month_range(analysis.parse_period(previous), current)
    this_months = queries.month_range(current, current)
    counts = queries.overall_counts(questionnaire, months, level, tree, today)
    served = queries.transactions_served(months, level, tree, today)
    settings = _analysis_settings(options, scale)
    if counts.empty:
        table = pd.DataFrame(columns=["unit", "n", "publishable"])
        table.attrs.update(period=label, previous_period=previous)
    else:
        table = _satisfaction_table(
            counts, ["unit"], period=label, previous_period=previous, transactions=served,
            cluster="cluster" if options.cluster else None, distribution=True, **settings,
        )
    criteria_counts = queries.criterion_counts(questionnaire, this_months, level, tree, today)
    criteria = []
    for question in queries.criterion_questions(version):
        rows = criteria_counts[criteria_counts["question"] == question.key].drop(columns="question")
        info = queries.scale_info(version, question)
        entry = {"key": question.key, "text_vi": question.text_vi, "text_en": question.text_en or question.text_vi,
                 "scale": _scale_json(info), "rows": []}
        if not rows.empty:
            ctable = _satisfaction_table(rows, ["unit"], period=label, **_analysis_settings(options, info))
            entry["rows"] = _records(ctable[[c for c in ctable.columns if c in CRITERION_COLUMNS]])
        criteria.append(entry)
    procedure_rows = queries.procedure_counts(questionnaire, this_months, level, tree, today)
    procedures = []
    if not procedure_rows.empty:
        ptable = _satisfaction_table(procedure_rows, ["unit", "procedure"], period=label, **settings)
        names = queries.procedure_names()
        for record in _records(ptable[[c for c in ptable.columns if c in PROCEDURE_COLUMNS]]):
            vi, en = names.get(record["procedure"], (record["procedure"], None))
            procedures.append({**record, "procedure_name_vi": vi, "procedure_name_en": en or vi})
    attrs = {k: _json_value(v) for k, v in table.attrs.items()}
    return {
        "period": label,
        "previous_period": previous,
        "level": level,
        "questionnaire": questionnaire,
        "questionnaire_title_vi": version.title_vi,
        "questionnaire_title_en": version.title_en or version.title_vi,
        "scale": _scale_json(scale),
        "options": options.as_dict(),
        "options_hash": options.hash,
        "data_version": _data_version(level, tree, today, counts, served, criteria_counts, procedure_rows),
        "computed_at": utcnow().isoformat(timespec="seconds"),
        "attrs": attrs,
        "units": _unit_rows(table, tree, level) if not counts.empty else [],
        "criteria": criteria,
        "procedures": procedures,
        "funnel": _funnel(table) if not counts.empty else None,
        "excluded": queries.flagged_ratings(questionnaire, this_months),
    }


#: Columns kept from the per-criterion and per-procedure tables (index, interval, n: no comparison).
CRITERION_COLUMNS = ("unit", "n", "satisfied", "index", "ci_low", "ci_high", "mean", "mean_low", "mean_high",
                     "publishable")
PROCEDURE_COLUMNS = ("unit", "procedure", "n", "satisfied", "index", "ci_low", "ci_high", "publishable")


def _scale_json(scale: queries.ScaleInfo) -> dict[str, Any]:
    return {"low": scale.low, "high": scale.high, "satisfied_from": scale.satisfied_from,
            "labels_vi": list(scale.labels_vi), "labels_en": list(scale.labels_en),
            "question_vi": scale.title_vi, "question_en": scale.title_en}


# --------------------------------------------------------------------------- the one entry point

_live_cache: dict[tuple, tuple[float, dict[str, Any]]] = {}
_live_locks: dict[tuple, threading.Lock] = {}
_guard = threading.Lock()


def _engine_key() -> str:
    return str(db.engine.url)


def live_results(period: str, level: str, questionnaire: str, options: ResultOptions) -> dict[str, Any]:
    """Computed content, reused for ``RESULTS_CACHE_SECONDS``; one computation at a time per key."""
    max_age = current_app.config.get("RESULTS_CACHE_SECONDS", 60)
    key = (_engine_key(), period, level, questionnaire, options.hash)
    cached = _live_cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < max_age:
        return cached[1]
    with _guard:
        lock = _live_locks.setdefault(key, threading.Lock())
    with lock:
        cached = _live_cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < max_age:
            return cached[1]
        content = compute_results(period, level, questionnaire, options)
        _live_cache[key] = (time.monotonic(), content)
        return content


def forget_live_results() -> None:
    _live_cache.clear()


def results_table(period: str, level: str = "province", questionnaire: str = "default", scope: str | None = None,
                  options: ResultOptions = DEFAULT_OPTIONS, *, revision: int | None = None,
                  today: date | None = None) -> Results:
    """The results every page, download and command shows.

    ``scope`` (a unit code) keeps the rows of units at or under it; the numbers are those of the
    whole level (each unit is compared with all units of its level, whoever looks). ``revision``
    asks for an earlier published revision of a closed period.
    """
    from survey.results import snapshots

    check_level(level)
    current = parse_period(period)
    label = analysis.period_label(current)
    if period_is_closed(current, today):
        found = snapshots.find_snapshot(label, level, questionnaire, options, revision=revision)
        if found is not None:
            return replace(found, scope=scope)
        if revision is not None:
            raise ResultsError("no_revision", _l("There is no revision %(revision)s of %(period)s.",
                                                 revision=revision, period=label))
        return Results(live_results(label, level, questionnaire, options), "unpublished", scope=scope)
    if current.start_time.date() > (today or vietnam_today()):
        raise ResultsError("future_period", _l("The period %(period)s has not started yet.", period=label))
    from survey.results import provisional

    stored = provisional.stored_content(label, level, questionnaire, options)  # the periodic job's, if fresh
    return Results(stored if stored is not None else live_results(label, level, questionnaire, options), "live",
                   scope=scope)


def trend(code: str, level: str, questionnaire: str, period: str, options: ResultOptions = DEFAULT_OPTIONS,
          *, today: date | None = None) -> list[tuple[Results, dict[str, Any] | None]]:
    """This unit's row in each of the periods up to ``period`` (same kind of period), oldest first."""
    current = parse_period(period)
    kind = current.freqstr[0]
    length = TREND_LENGTH.get(kind, 8)
    out = []
    for k in range(length - 1, -1, -1):
        label = analysis.period_label(current - k)
        try:
            results = results_table(label, level, questionnaire, options=options, today=today)
        except ResultsError:
            continue
        out.append((results, results.unit(code)))
    return out


#: How many ISO weeks the dashboard's weekly trend shows (the current one included).
WEEKLY_TREND_LENGTH = 12
#: Columns kept from each week's row.
WEEK_COLUMNS = ("n", "n_eff", "satisfied", "index", "ci_low", "ci_high", "publishable")


def week_label(day: date) -> str:
    """The ISO week (Monday to Sunday) a date lies in, as ``2026-W47`` (the ISO year: 2026-12-31 can
    be ``2027-W01``)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def compute_weekly_trend(code: str, level: str, questionnaire: str, *, weeks: int = WEEKLY_TREND_LENGTH,
                         today: date | None = None, options: ResultOptions = DEFAULT_OPTIONS) -> list[dict[str, Any]]:
    """One unit's satisfaction index in each ISO week (Monday–Sunday, Vietnam dates) up to the
    current one, oldest first: ``period`` (``2026-W47``), ``start`` and ``end`` (the Monday and the
    Sunday), n, index and interval.

    Read from the daily count rows (:func:`queries.daily_overall_counts`; flagged ratings are not in
    them) of the offices that report under the unit today, mergers included; each week is a row of
    :func:`analysis.satisfaction_table` with the options the results table uses (interval method,
    confidence, counter × service-day clusters, ``min_n``): a week below ``min_n`` is not publishable
    and has no index. Live, never published.
    """
    check_level(level)
    if isinstance(weeks, bool) or not isinstance(weeks, int) or not 1 <= weeks <= 104:
        raise ValueError(f"weeks must be a whole number from 1 to 104, got {weeks!r}")
    version = newest_questionnaire(questionnaire)
    scale = queries.scale_info(version)
    refresh_if_stale()
    tree, on = unit_tree(), today or vietnam_today()
    node = tree.by_code.get(code)
    monday = on - timedelta(days=on.weekday())
    starts = [monday - timedelta(weeks=k) for k in range(weeks - 1, -1, -1)]
    offices = [o.id for o in tree.offices_reported_under(node.id, on)] if node is not None else []
    counts = queries.daily_overall_counts(questionnaire, starts[0], starts[-1] + timedelta(days=6), level, tree, on,
                                          offices)
    counts = counts[counts["unit"] == code]
    found: dict[str, dict[str, Any]] = {}
    if not counts.empty:
        counts = counts.assign(week=[week_label(day) for day in counts["day"]]).drop(columns=["unit", "day"])
        table = _satisfaction_table(counts, ["week"], cluster="cluster" if options.cluster else None, ranks=False,
                                    **_analysis_settings(options, scale))
        for record in _records(table[["week", *[c for c in table.columns if c in WEEK_COLUMNS]]]):
            found[record.pop("week")] = record
    empty = {"n": 0, "n_eff": None, "satisfied": None, "index": None, "ci_low": None, "ci_high": None,
             "publishable": False}
    return [{"period": week_label(start), "start": start.isoformat(), "end": (start + timedelta(days=6)).isoformat(),
             **found.get(week_label(start), empty)} for start in starts]


def weekly_trend(code: str, level: str, questionnaire: str, *, weeks: int = WEEKLY_TREND_LENGTH,
                 today: date | None = None, options: ResultOptions = DEFAULT_OPTIONS) -> list[dict[str, Any]]:
    """:func:`compute_weekly_trend`, reused for ``RESULTS_CACHE_SECONDS`` (a new rating shows within a minute)."""
    on = today or vietnam_today()
    return _reused((_engine_key(), "weeks", code, level, questionnaire, weeks, on.isoformat(), options.hash),
                   lambda: compute_weekly_trend(code, level, questionnaire, weeks=weeks, today=on, options=options))


# --------------------------------------------------------------------------- counters (manager dashboards)


def compute_counter_results(period: str, questionnaire: str, options: ResultOptions = DEFAULT_OPTIONS,
                            *, today: date | None = None) -> dict[str, Any]:
    """Every counter's index, mean and interval in one period, each compared with all counters (the
    same funnel and false-discovery control as the units): the content of a ``counter`` level table.

    Counters are not published (the public pages stop at offices); this is for the managers who run
    them, always computed live from the counts.
    """
    current = parse_period(period)
    label = analysis.period_label(current)
    version = newest_questionnaire(questionnaire)
    scale = queries.scale_info(version)
    refresh_if_stale()
    tree = unit_tree()
    counts = queries.counter_counts(questionnaire, queries.month_range(current, current), tree)
    rows = []
    if not counts.empty:
        table = _satisfaction_table(counts, ["unit"], period=label, cluster="cluster" if options.cluster else None,
                                    distribution=True, **_analysis_settings(options, scale))
        for record in _records(table):
            node = tree.by_code.get(record.pop("unit"))
            if node is None:
                continue
            office = tree.nodes.get(node.parent_id) if node.parent_id is not None else None
            rows.append({
                "code": node.code, "name_vi": node.name_vi, "name_en": node.name_en or node.name_vi,
                "parent_code": office.code if office else None,
                "parent_name_vi": office.name_vi if office else None,
                "parent_name_en": (office.name_en or office.name_vi) if office else None,
                "path": [n.code for n in tree.chain(node)], **record,
            })
    return {
        "period": label, "previous_period": None, "level": "counter", "questionnaire": questionnaire,
        "questionnaire_title_vi": version.title_vi, "questionnaire_title_en": version.title_en or version.title_vi,
        "scale": _scale_json(scale), "options": options.as_dict(), "options_hash": options.hash,
        "data_version": hashlib.sha256(counts.attrs.get("source_hash", "").encode()).hexdigest(),
        "computed_at": utcnow().isoformat(timespec="seconds"), "attrs": {}, "units": rows,
        "criteria": [], "procedures": [], "funnel": None, "excluded": {},
    }


def counter_results(period: str, questionnaire: str = "default", scope: str | None = None,
                    options: ResultOptions = DEFAULT_OPTIONS, *, today: date | None = None) -> Results:
    """The counters' table of a period (rows of counters at or under ``scope``), live, reused for
    ``RESULTS_CACHE_SECONDS`` like the open period's units."""
    current = parse_period(period)
    if current.start_time.date() > (today or vietnam_today()):
        raise ResultsError("future_period", _l("The period %(period)s has not started yet.",
                                               period=analysis.period_label(current)))
    content = _reused((_engine_key(), "counters", analysis.period_label(current), questionnaire, options.hash),
                      lambda: compute_counter_results(period, questionnaire, options, today=today))
    status = "unpublished" if period_is_closed(current, today) else "live"
    return Results(content, status, scope=scope)


def compute_channel_results(period: str, level: str, questionnaire: str, code: str,
                            options: ResultOptions = DEFAULT_OPTIONS, *, today: date | None = None) -> dict[str, Any]:
    """One unit's ratings by channel (kiosk, phone, …) in one period: each channel's share of the
    unit's ratings, and its index with interval and n (the independence panel: a kiosk that scores
    far above the same office's phone ratings stands out). Live, never published."""
    check_level(level)
    current = parse_period(period)
    label = analysis.period_label(current)
    version = newest_questionnaire(questionnaire)
    scale = queries.scale_info(version)
    refresh_if_stale()
    tree, on = unit_tree(), today or vietnam_today()
    node = tree.by_code.get(code)
    offices = [o.id for o in tree.offices_reported_under(node.id, on)] if node is not None else []
    counts = queries.channel_counts(questionnaire, queries.month_range(current, current), level, tree, on, offices)
    counts = counts[counts["unit"] == code].drop(columns="unit")
    rows: list[dict[str, Any]] = []
    if not counts.empty:
        table = _satisfaction_table(counts, ["channel"], period=label, cluster="cluster" if options.cluster else None,
                                    ranks=False, **_analysis_settings(options, scale))
        total = int(table["n"].sum())
        for record in _records(table[[c for c in table.columns if c in CHANNEL_COLUMNS]]):
            rows.append({**record, "share": record["n"] / total if total else None})
        rows.sort(key=lambda r: (-r["n"], r["channel"]))
    return {"period": label, "level": level, "code": code, "options": options.as_dict(), "channels": rows}


#: Columns kept from the per-channel table.
CHANNEL_COLUMNS = ("channel", "n", "satisfied", "index", "ci_low", "ci_high", "publishable")


def channel_results(period: str, level: str, questionnaire: str, code: str,
                    options: ResultOptions = DEFAULT_OPTIONS) -> dict[str, Any]:
    """:func:`compute_channel_results`, reused for ``RESULTS_CACHE_SECONDS``."""
    return _reused((_engine_key(), "channels", str(period), level, questionnaire, code, options.hash),
                   lambda: compute_channel_results(period, level, questionnaire, code, options))


#: The channels :func:`index_by_channel` always lists, even when nobody rated through one (n = 0 says so).
SPLIT_CHANNELS = ("kiosk", "phone", "link", "staff")


def index_by_channel(period: str, level: str, code: str, questionnaire: str = "default",
                     options: ResultOptions = DEFAULT_OPTIONS, *, today: date | None = None) -> list[dict[str, Any]]:
    """One unit's satisfaction index in ``period`` split by who entered the rating (citizen kiosk, citizen
    phone, single-use link, staff-assisted, and any other channel that has ratings): per channel n,
    satisfied, index and interval (clustered as the published index is), publishable at ``options.min_n``.
    Not a comparison: channels reach different people, so a difference is not the channel's effect.
    The same table as :func:`compute_channel_results`, with every usual channel listed."""
    table = compute_channel_results(period, level, questionnaire, code, options, today=today)
    found = {row["channel"]: {column: row[column] for column in CHANNEL_COLUMNS if column in row}
             for row in table["channels"]}
    empty = {"n": 0, "satisfied": None, "index": None, "ci_low": None, "ci_high": None, "publishable": False}
    channels = [*SPLIT_CHANNELS, *sorted(set(found) - set(SPLIT_CHANNELS))]
    return [found.get(channel, {"channel": channel, **empty}) for channel in channels]
# --------------------------------------------------------------------------- known transactions


def _period_bounds_utc(period: pd.Period) -> tuple[datetime, datetime]:
    """The period's first and first-after instants in Vietnam, as naive UTC."""
    from zoneinfo import ZoneInfo

    vietnam, utc = ZoneInfo("Asia/Ho_Chi_Minh"), ZoneInfo("UTC")

    def to_utc(moment: pd.Timestamp) -> datetime:
        return moment.to_pydatetime().replace(tzinfo=vietnam).astimezone(utc).replace(tzinfo=None)

    return to_utc(period.start_time.normalize()), to_utc((period + 1).start_time.normalize())


def _is_dissatisfied(questionnaire_id: int, value: int) -> bool:
    """Below the middle of the overall question's scale (1–2 of 1–5): the 766 formula's "rated dissatisfied"."""
    from survey.questionnaires import questionnaire_version

    values = questionnaire_version(int(questionnaire_id)).overall_question.scale.values
    return value < (min(values) + max(values)) / 2


def transaction_figures(period: str, level: str = "province", *, today: date | None = None) -> pd.DataFrame:
    """Per unit, over the dossiers registered by one-stop systems and returned in ``period``: served,
    responded and the response rate, the on-time rate, and the 766-compatible satisfaction rate
    (columns :data:`analysis.TRANSACTION_COLUMNS`; see :mod:`analysis.transactions`)."""
    check_level(level)
    current = parse_period(period)
    start, end = _period_bounds_utc(current)
    counts = queries.transaction_outcome_counts(start, end, level, unit_tree(), today or vietnam_today())
    rated = counts["questionnaire_id"].notna()
    counts["rated"] = rated
    counts["dissatisfied"] = [
        bool(is_rated) and _is_dissatisfied(qid, int(value))
        for is_rated, qid, value in zip(rated, counts["questionnaire_id"], counts["overall_value"], strict=True)
    ]
    counts["late"] = counts["late"].astype(bool)
    return analysis.transaction_table(counts[["unit", "late", "rated", "dissatisfied", "count"]])


# ------------------------------------------------------------------ the per-dossier evaluation (C01)


def _dossier_points(period: str, office_id: int) -> pd.DataFrame:
    """One row per dossier returned at the office in ``period``: ``unit``, ``officer`` and the points of
    the per-dossier indices (the citizen's answers through the dossier's link, on the scales
    :data:`analysis.dossier.COUNTED_SCALES` counts: the circular's own wording, version 3; index 2 from
    the returned and due dates in Vietnam). Answers in other words (version 1; version 2's indices 4
    and 7) are not counted."""
    start, end = _period_bounds_utc(parse_period(period))
    dossiers = queries.dossier_rows(start, end, office_id)
    citizen = tuple(i.key for i in analysis.C01_INDICES if i.source == "citizen")
    answers = queries.dossier_answers(start, end, office_id, "dossier", citizen)
    counted = analysis.dossier.COUNTED_SCALES
    answers = answers.loc[[scale in counted[key] for key, scale in zip(answers["key"], answers["scale"], strict=True)]]
    points = answers.pivot_table(index="transaction_id", columns="key", values="value", aggfunc="first")
    frame = dossiers.set_index("transaction_id").join(points.reindex(columns=list(citizen)))

    def vietnam_date(column: str) -> pd.Series:
        moments = pd.to_datetime(frame[column], errors="coerce")
        return moments.dt.tz_localize("UTC").dt.tz_convert("Asia/Ho_Chi_Minh").dt.date

    frame["index_2"] = analysis.points_against_limit(vietnam_date("returned_at"), vietnam_date("due_at")) \
        if len(frame) else []
    frame["unit"] = office_id
    return frame.reset_index()[["unit", "officer", "index_1", "index_2", "index_3", "index_4", "index_7"]]


def _office(office_code: str):
    from sqlalchemy import select

    from survey.models import Unit, UnitLevel

    office = db.session.scalar(select(Unit).where(Unit.code == office_code))
    if office is None or office.level != UnitLevel.OFFICE:
        raise ResultsError("unknown_office", _l("No one-stop office has this code."))
    return office


def dossier_evaluation(period: str, office_code: str) -> dict[str, Any]:
    """The office's Circular 01/2018/TT-VPCP evaluation for ``period``: every index's score (one decimal)
    with its n, the total out of 18, its band and the indices without a score (then no total)."""
    office = _office(office_code)
    last_day = parse_period(period).end_time.date()
    entered = queries.unit_index_scores(office.id, last_day)
    unit_scores = pd.DataFrame([{"unit": office.id, **entered}])
    row = analysis.unit_totals(_dossier_points(period, office.id), unit_scores).iloc[0]
    indices = []
    for index in analysis.C01_INDICES:
        score = row[index.key]
        indices.append({
            "number": index.number, "key": index.key, "title_vi": index.title_vi, "title_en": index.title_en,
            "source": index.source, "how_vi": index.how_vi, "how_en": index.how_en,
            "score": None if pd.isna(score) else float(score),
            "n": int(row[f"{index.key}_n"]) if index.source != "unit" else None,
        })
    total = row["total"]
    return {
        "office": office.code, "period": period, "legal_basis": analysis.dossier.LEGAL_BASIS,
        "scoring_version": analysis.dossier.SCORING_VERSION, "indices": indices,
        "total": None if pd.isna(total) else float(total), "maximum": 18,
        "band": None if pd.isna(row["band"]) else row["band"], "missing": list(row["missing"]),
    }


def staff_dossier_totals(period: str, office_code: str, user) -> pd.DataFrame:
    """Each officer's total (indices 1+2+3+4+7 out of 10) at one office, with n, the interval of the mean
    per-dossier total and the task-completion band (:func:`analysis.staff_totals`). Only for a manager of
    that very office: anyone else gets ``ResultsError("forbidden")``. Never published, no route serves it."""
    from survey.models.users import OFFICE_MANAGER

    office = _office(office_code)
    if (user is None or not getattr(user, "active", False) or user.role != OFFICE_MANAGER
            or user.scope_unit_id != office.id):
        raise ResultsError("forbidden", _l("Staff totals are shown only to this office's managers."))
    return analysis.staff_totals(_dossier_points(period, office.id))


# --------------------------------------------------------------------------- what went wrong


def reason_counts(period: str, level: str, code: str, questionnaire: str = "default", *,
                  today: date | None = None) -> dict[str, Any]:
    """How many times each "what went wrong" reason (:data:`survey.models.REASONS`) was tapped in one unit's
    ratings in ``period`` (the offices reported under it; flagged ratings left out). Counts only: the
    reasons are optional and offered after a negative face, so they describe who answered, not everyone.
    Every reason is listed, 0 included, in the order of ``REASONS``. Live, never published."""
    from survey.models import REASONS

    check_level(level)
    current = parse_period(period)
    tree, on = unit_tree(), today or vietnam_today()
    node = tree.by_code.get(code)
    offices = [o.id for o in tree.offices_reported_under(node.id, on)] if node is not None else []
    found = queries.reason_counts(questionnaire, queries.month_range(current, current), offices)
    return {"period": analysis.period_label(current), "level": level, "code": code,
            "reasons": [{"reason": reason, "count": found.get(reason, 0)} for reason in REASONS]}


# --------------------------------------------------------------------------- complaint cases answered on time


def case_on_time_shares(code: str | None = None, *, now: datetime | None = None,
                        confidence: float = 0.95) -> list[dict[str, Any]]:
    """Per office of ``code``'s subtree (every office without a code): the complaint cases whose
    outcome is known (answered, or unanswered past their deadline), how many of them were answered
    by the deadline, that share with its Wilson interval, and the cases still open and overdue.
    Offices without cases are left out; ``share`` is ``None`` while no outcome is known."""
    from sqlalchemy import case as sql_case, func, select

    from survey.models import ComplaintCase, Unit
    from survey.units.tree import subtree_cte

    now = now or utcnow()
    answered = ComplaintCase.answered_at.is_not(None)
    decided = answered | (ComplaintCase.due_at < now)
    on_time = answered & (ComplaintCase.answered_at <= ComplaintCase.due_at)
    unanswered_overdue = ComplaintCase.answered_at.is_(None) & (ComplaintCase.due_at < now)
    query = (
        select(Unit.code, Unit.name_vi, Unit.name_en, func.count(ComplaintCase.id),
               func.sum(sql_case((decided, 1), else_=0)), func.sum(sql_case((on_time, 1), else_=0)),
               func.sum(sql_case((ComplaintCase.closed_at.is_(None), 1), else_=0)),
               func.sum(sql_case((unanswered_overdue, 1), else_=0)))
        .join(Unit, Unit.id == ComplaintCase.office_id)
        .group_by(Unit.code, Unit.name_vi, Unit.name_en).order_by(Unit.code)
    )
    if code is not None:
        unit_id = db.session.scalar(select(Unit.id).where(Unit.code == code))
        if unit_id is None:
            return []
        subtree = subtree_cte(unit_id, "case_subtree")
        query = query.where(ComplaintCase.office_id.in_(select(subtree.c.id)))
    rows = []
    for office_code, name_vi, name_en, cases, n, x, still_open, overdue in db.session.execute(query):
        n, x = int(n or 0), int(x or 0)
        row = {"unit": office_code, "name_vi": name_vi, "name_en": name_en, "cases": int(cases), "n": n,
               "on_time": x, "open": int(still_open or 0), "overdue": int(overdue or 0),
               "share": None, "ci_low": None, "ci_high": None}
        if n:
            share, low, high = analysis.proportion_ci(x, n, method="wilson", confidence=confidence)
            row.update(share=float(share), ci_low=float(low), ci_high=float(high))
        rows.append(row)
    return rows
