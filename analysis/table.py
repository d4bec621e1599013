"""The published results table: one row per unit, every number with its interval and n.

:func:`satisfaction_table` takes the tidy table of counts that SQL returns
(``GROUP BY unit, period, value``) — never one row per rating — and turns it into the table
the public pages, the manager pages and the open-data endpoints show. Each number is computed
once, by :mod:`analysis.indices` (what is estimated) and :mod:`analysis.comparison` (how units
are compared); this module only reshapes counts and puts the pieces side by side.

Everything is vectorised over units — the counts are turned into a units × answer-levels matrix
with one ``np.bincount`` on factorised keys, and no Python loop runs over units — so 10,000
units take well under a second (see ``benchmarks/analysis_scale.py``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis import comparison
from analysis.indices import (
    Scale,
    mean_score,
    post_stratified_index,
    response_rate,
    satisfaction_index,
    satisfied_count,
    score_100,
)

__all__ = [
    "TABLE_COLUMNS",
    "CHANGE_COLUMNS",
    "STRATA_COLUMNS",
    "satisfaction_table",
    "criterion_table",
    "parse_period",
    "period_label",
    "period_before",
]

#: Columns of :func:`satisfaction_table` after the ``by`` columns, always present, in order.
TABLE_COLUMNS = (
    "n",
    "satisfied",
    "index",
    "ci_low",
    "ci_high",
    "mean",
    "mean_low",
    "mean_high",
    "score_100",
    "score_100_low",
    "score_100_high",
    "transactions",
    "response_rate",
    "response_rate_low",
    "response_rate_high",
    "publishable",
    "target",
    "z",
    "z_adjusted",
    "funnel_95",
    "funnel_998",
    "rank",
    "rank_low",
    "rank_high",
    "shrunk",
    "shrunk_low",
    "shrunk_high",
)
#: Added when ``previous_period`` is given.
CHANGE_COLUMNS = ("n_prev", "index_prev", "change", "change_low", "change_high", "change_flag")
#: Added when ``strata`` is given.
STRATA_COLUMNS = ("ps_index", "ps_low", "ps_high", "n_eff")

_FUNNEL_LEVELS = (0.95, 0.998)


# --------------------------------------------------------------------------- periods


_QUARTER = re.compile(r"(\d{4})-?Q([1-4])", re.IGNORECASE)
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_YEAR = re.compile(r"(\d{4})")


def parse_period(label) -> pd.Period:
    """Turn a period label into a :class:`pandas.Period`.

    Accepts ``'2026-07'`` (month), ``'2026-Q3'`` or ``'2026Q3'`` (quarter), ``'2026'`` (year),
    or a ``pandas.Period`` (returned as is).
    """
    if isinstance(label, pd.Period):
        return label
    text = str(label).strip()
    if match := _QUARTER.fullmatch(text):
        return pd.Period(year=int(match[1]), quarter=int(match[2]), freq="Q")
    if match := _MONTH.fullmatch(text):
        month = int(match[2])
        if not 1 <= month <= 12:
            raise ValueError(f"no month {month} in period label {label!r}")
        return pd.Period(year=int(match[1]), month=month, freq="M")
    if _YEAR.fullmatch(text):
        return pd.Period(year=int(text), freq="Y")
    raise ValueError(f"cannot read period {label!r}; use '2026-07', '2026-Q3' or '2026'")


def period_label(period) -> str:
    """The canonical label of a period: ``'2026-07'``, ``'2026-Q3'`` or ``'2026'``."""
    period = parse_period(period)
    code = period.freqstr.split("-")[0]
    if code == "M":
        return f"{period.year}-{period.month:02d}"
    if code.startswith("Q"):
        return f"{period.year}-Q{period.quarter}"
    if code in ("Y", "A", "YE"):
        return f"{period.year}"
    raise ValueError(f"unsupported period frequency {period.freqstr!r}")


def period_before(label) -> str:
    """Label of the period just before, e.g. ``'2026-Q3'`` → ``'2026-Q2'``."""
    return period_label(parse_period(label) - 1)


def _in_period(column: pd.Series, period: pd.Period) -> np.ndarray:
    """Rows whose period lies inside ``period`` (so months add up to their quarter or year)."""
    start, end = period.start_time, period.end_time
    if pd.api.types.is_datetime64_any_dtype(column):
        return ((column >= start) & (column <= end)).to_numpy()

    def inside(labels) -> np.ndarray:  # a few dozen distinct labels, not one per row
        spans = [parse_period(label) for label in labels]
        return np.array([s.start_time >= start and s.end_time <= end for s in spans], dtype=bool)

    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        keep = np.append(inside(column.cat.categories), False)  # code -1 (missing) → False
        return keep[codes]
    labels = pd.unique(column.dropna())
    return column.isin(labels[inside(labels)]).to_numpy()


# --------------------------------------------------------------------------- reshaping


def _check_columns(frame: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; it has {list(frame.columns)}")


def _check_keys(frame: pd.DataFrame, by: list[str], what: str) -> None:
    if frame[by].isna().to_numpy().any():
        raise ValueError(f"{what} has missing values in {by}; every count needs a unit")


def _group_codes(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, pd.Index]:
    """Group number of each row (0..G-1, in sorted key order) and the G sorted keys.

    ``pd.factorize`` per column then one ``np.unique`` on the combined integer code: for a
    categorical column this reads the codes directly, much faster than ``groupby``.
    """
    parts = [pd.factorize(frame[c], sort=True) for c in columns]
    if len(columns) == 1:
        codes, uniques = parts[0]
        return codes, pd.Index(uniques, name=columns[0])
    shape = tuple(max(len(u), 1) for _, u in parts)
    combined = np.ravel_multi_index([c for c, _ in parts], shape)
    distinct, codes = np.unique(combined, return_inverse=True)
    positions = np.unravel_index(distinct, shape)
    keys = pd.MultiIndex.from_arrays(
        [u.take(p) for (_, u), p in zip(parts, positions)], names=columns
    )
    return codes.reshape(-1), keys


def _level_counts(frame, by, levels, count_col, scale: Scale) -> pd.DataFrame:
    """Counts per group (rows, sorted) and answer level (columns ``scale.values``).

    ``levels`` is the answer level of each row as a plain integer array (see
    :func:`_checked_levels`), so a categorical or string-typed answer column groups the same.
    """
    codes, keys = _group_codes(frame, by)
    k = len(scale.values)
    cells = codes * k + (levels - scale.low)
    weights = np.asarray(frame[count_col], dtype=float)
    matrix = np.bincount(cells, weights=weights, minlength=len(keys) * k).reshape(len(keys), k)
    return pd.DataFrame(matrix.astype(np.int64), index=keys, columns=scale.values)


def _checked_levels(frame, by, value_col, count_col, scale: Scale, what: str) -> np.ndarray:
    """Validate a counts frame; return its answer levels as an int64 array."""
    _check_columns(frame, [*by, value_col, count_col], what)
    _check_keys(frame, by, what)
    try:
        values = np.asarray(frame[value_col], dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: {value_col!r} must hold numeric answer levels") from None
    bad = ~np.isin(values, scale.values)
    if bad.any():
        shown = pd.unique(values[bad])[:5].tolist()
        raise ValueError(
            f"{what}: answer values {shown} are not levels of the scale {scale.low}..{scale.high}"
        )
    try:
        counts = np.asarray(frame[count_col], dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: {count_col!r} must hold counts") from None
    if not np.isfinite(counts).all() or (counts < 0).any() or (counts % 1 != 0).any():
        raise ValueError(f"{what}: {count_col!r} must hold whole, non-negative counts")
    return values.astype(np.int64)


def _keys_frame(keys: pd.Index, by: list[str]) -> pd.DataFrame:
    return keys.to_frame(index=False, name=by) if len(by) > 1 else pd.DataFrame({by[0]: keys})


# --------------------------------------------------------------------------- the table


def satisfaction_table(
    counts: pd.DataFrame,
    by: str | Sequence[str] = ("unit",),
    *,
    period=None,
    previous_period=None,
    period_col: str = "period",
    value_col: str = "value",
    count_col: str = "count",
    satisfied_from: int = 4,
    scale: tuple[int, int] = (1, 5),
    method: str = "wilson",
    transactions: pd.DataFrame | None = None,
    transactions_col: str = "transactions",
    min_n: int = 30,
    confidence: float = 0.95,
    target: float | None = None,
    adjustment: str = "auto",
    ranks: bool = True,
    n_sims: int = 1000,
    seed: int | None = 0,
    strata: str | None = None,
    reference_mix: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per unit with the satisfaction index, its interval, n and fair comparisons.

    Parameters
    ----------
    counts : DataFrame
        Tidy counts: the ``by`` columns, ``period_col`` (when ``period`` is given), the
        answer ``value_col`` and ``count_col`` — one row per group × period × answer level,
        as ``SELECT unit, period, value, COUNT(*) … GROUP BY unit, period, value`` returns
        (plus the ``strata`` column when given). Rows with count 0 are allowed and make a
        unit with no ratings appear in the table.
    by : column name(s) identifying a unit (a counter, an office, a province…).
    period, previous_period : period labels (``'2026-07'``, ``'2026-Q3'``, ``'2026'``) or
        ``pandas.Period``. Rows whose period lies inside ``period`` are pooled, so monthly
        rows add up to a quarter. Without ``period`` all rows are pooled.
        ``previous_period`` adds the change columns (see :func:`period_before`).
    satisfied_from, scale : answers ``>= satisfied_from`` on the integer scale
        ``scale[0]..scale[1]`` count as satisfied: 4 on 1..5 (SIPAS), 2 on the three-level
        per-dossier scale 1..3.
    method : interval for the index (any method of ``analysis.intervals.proportion_ci``).
    transactions : optional DataFrame with the ``by`` columns, ``period_col`` and
        ``transactions_col`` (transactions served), for the response rate.
    min_n : units with fewer answers are not published: their index, interval and mean are
        NaN (not 0) and they are left out of the funnel, ranks, shrinkage and change.
    target : the funnel target share; default the pooled index of the publishable units.
    adjustment : over-dispersion handling of the funnel (``comparison.funnel_flags``):
        ``"auto"``, ``"none"``, ``"multiplicative"`` or ``"additive"``.
    ranks, n_sims, seed : rank intervals from ``n_sims`` posterior draws; the same seed gives
        the same table.
    strata, reference_mix : with a strata column (e.g. ``"procedure"``) add the
        post-stratified index standardised to ``reference_mix`` (a Series of weights indexed
        by stratum; default the pooled mix of all units in the period).

    Returns
    -------
    DataFrame
        The ``by`` columns, then :data:`TABLE_COLUMNS`, then :data:`CHANGE_COLUMNS` (with
        ``previous_period``) and :data:`STRATA_COLUMNS` (with ``strata``); one row per unit
        found in the period's counts, the previous period's counts or ``transactions``,
        sorted by the ``by`` columns. Shares are fractions in [0, 1]; ``score_100`` is 0–100.
        ``attrs`` records the settings and what the comparison did (``adjustment``, ``phi``,
        ``tau2``, ``overdispersion_p_value``, ``prior`` …).
    """
    by = [by] if isinstance(by, str) else list(by)
    if not by:
        raise ValueError("by must name at least one column")
    sc = Scale(int(scale[0]), int(scale[1]), int(satisfied_from))
    if previous_period is not None and period is None:
        raise ValueError("previous_period needs period")
    if isinstance(min_n, bool) or not isinstance(min_n, (int, np.integer)) or min_n < 1:
        raise ValueError(f"min_n must be a whole number >= 1, got {min_n!r}")

    now_period = parse_period(period) if period is not None else None
    prev_period = parse_period(previous_period) if previous_period is not None else None
    if now_period is not None or prev_period is not None:
        _check_columns(counts, [period_col], "counts")
    now = counts if now_period is None else counts[_in_period(counts[period_col], now_period)]
    now_levels = _checked_levels(now, by, value_col, count_col, sc, "counts")
    levels_now = _level_counts(now, by, now_levels, count_col, sc)
    keys = levels_now.index
    if prev_period is not None:
        before = counts[_in_period(counts[period_col], prev_period)]
        before_levels = _checked_levels(
            before, by, value_col, count_col, sc, "counts (previous period)"
        )
        levels_before = _level_counts(before, by, before_levels, count_col, sc)
        keys = keys.union(levels_before.index)
    served = None
    if transactions is not None:
        served = _transactions_by_unit(transactions, by, now_period, period_col, transactions_col)
        keys = keys.union(served.index)
    keys = keys.sort_values() if not keys.is_monotonic_increasing else keys

    level_matrix = levels_now.reindex(keys, fill_value=0).to_numpy()
    satisfied, n = satisfied_count(level_matrix, sc)
    publishable = n >= min_n
    out: dict[str, np.ndarray] = {}  # columns, assembled into one DataFrame at the end
    out["n"] = n
    out["satisfied"] = satisfied

    index, low, high = satisfaction_index(satisfied, n, method=method, confidence=confidence)
    mean, mean_low, mean_high = mean_score(level_matrix, sc, confidence=confidence)
    withheld = {
        "index": index, "ci_low": low, "ci_high": high,
        "mean": mean, "mean_low": mean_low, "mean_high": mean_high,
    }
    for name, values in withheld.items():
        out[name] = np.where(publishable, np.asarray(values, dtype=float).reshape(-1), np.nan)
    out["score_100"] = score_100(out["mean"], sc)
    out["score_100_low"] = score_100(out["mean_low"], sc)
    out["score_100_high"] = score_100(out["mean_high"], sc)

    if served is None:
        tx, rate, rate_low, rate_high = (np.full(len(keys), np.nan) for _ in range(4))
    else:
        tx = served.reindex(keys).to_numpy(float)
        rate, rate_low, rate_high = response_rate(n, tx, confidence=confidence)
    out["transactions"] = tx
    out["response_rate"] = rate
    out["response_rate_low"] = rate_low
    out["response_rate_high"] = rate_high
    out["publishable"] = publishable

    attrs = {
        "by": by,
        "period": period_label(now_period) if now_period is not None else None,
        "previous_period": period_label(prev_period) if prev_period is not None else None,
        "scale": (sc.low, sc.high),
        "satisfied_from": sc.satisfied_from,
        "method": method,
        "confidence": confidence,
        "min_n": min_n,
        "n_units": len(keys),
        "n_publishable": int(publishable.sum()),
        "n_sims": n_sims if ranks else 0,
        "seed": seed,
    }
    _compare(out, satisfied, n, publishable, target, adjustment, ranks, n_sims, seed, confidence,
             attrs)

    if prev_period is not None:
        before_matrix = levels_before.reindex(keys, fill_value=0).to_numpy()
        sat_before, n_before = satisfied_count(before_matrix, sc)
        _change(out, satisfied, n, sat_before, n_before, publishable, min_n, method, confidence)

    if strata is not None:
        _post_stratify(out, now, now_levels, keys, by, strata, count_col, sc, reference_mix,
                       publishable, confidence, attrs)

    table = pd.concat([_keys_frame(keys, by), pd.DataFrame(out)], axis=1)
    table.attrs.update(attrs)
    return table


def _transactions_by_unit(transactions, by, now_period, period_col, transactions_col) -> pd.Series:
    _check_columns(transactions, [*by, transactions_col], "transactions")
    _check_keys(transactions, by, "transactions")
    rows = transactions
    if now_period is not None:
        _check_columns(transactions, [period_col], "transactions")
        rows = transactions[_in_period(transactions[period_col], now_period)]
    # min_count=1: a unit whose served count is unknown (all NaN) stays unknown, not 0.
    return rows.groupby(by, observed=True, sort=False)[transactions_col].sum(min_count=1)


def _compare(out, satisfied, n, publishable, target, adjustment, ranks, n_sims, seed,
             confidence, attrs) -> None:
    """Funnel flags, rank intervals and shrinkage over the publishable units only."""
    rows = np.flatnonzero(publishable)
    x_pub, n_pub = satisfied[rows], n[rows]
    size = len(n)
    blank = np.full(size, np.nan)
    flags = {
        level: np.full(size, comparison.INSUFFICIENT_DATA, dtype=object) for level in _FUNNEL_LEVELS
    }
    z, z_adjusted = blank.copy(), blank.copy()
    rank, rank_low, rank_high = blank.copy(), blank.copy(), blank.copy()
    shrunk, shrunk_low, shrunk_high = blank.copy(), blank.copy(), blank.copy()

    pooled = x_pub.sum() / n_pub.sum() if rows.size else np.nan
    p0 = pooled if target is None else float(target)
    attrs.update(target=float(p0), target_source="pooled" if target is None else "given",
                 adjustment="none", phi=np.nan, tau2=np.nan, overdispersion_p_value=np.nan)
    if rows.size and 0.0 < p0 < 1.0:
        funnel = comparison.funnel_flags(
            x_pub, n_pub, p0, levels=_FUNNEL_LEVELS, adjustment=adjustment
        )
        z[rows] = funnel["z"].to_numpy()
        z_adjusted[rows] = funnel["z_adjusted"].to_numpy()
        for level in _FUNNEL_LEVELS:
            flags[level][rows] = funnel[f"flag_{100 * level:.10g}"].to_numpy()
        reported = ("adjustment", "phi", "tau2", "overdispersion_p_value")
        attrs.update({key: funnel.attrs[key] for key in reported})
    elif rows.size and target is None:
        # Every publishable unit has the same share, 0 or 1: all sit on the target.
        for level in _FUNNEL_LEVELS:
            flags[level][rows] = comparison.WITHIN
    elif rows.size:
        raise ValueError(f"target must be strictly between 0 and 1, got {target!r}")
    out["target"] = np.full(size, p0)
    out["z"] = z
    out["z_adjusted"] = z_adjusted
    out["funnel_95"] = flags[0.95]
    out["funnel_998"] = flags[0.998]

    if rows.size and ranks:
        ranked = comparison.rank_intervals(
            x_pub, n_pub, confidence=confidence, n_sims=n_sims, seed=seed
        )
        rank[rows] = ranked["rank"].to_numpy()
        rank_low[rows] = ranked["rank_low"].to_numpy()
        rank_high[rows] = ranked["rank_high"].to_numpy()
    out["rank"] = rank
    out["rank_low"] = rank_low
    out["rank_high"] = rank_high

    if rows.size:
        shrinkage, fit = comparison.beta_binomial_shrinkage(x_pub, n_pub, confidence=confidence)
        shrunk[rows] = shrinkage["shrunken"].to_numpy()
        shrunk_low[rows] = shrinkage["low"].to_numpy()
        shrunk_high[rows] = shrinkage["high"].to_numpy()
        attrs["prior"] = {"alpha": fit.alpha, "beta": fit.beta, "mean": fit.prior_mean,
                          "strength": fit.prior_strength, "at_bound": fit.at_bound}
    out["shrunk"] = shrunk
    out["shrunk_low"] = shrunk_low
    out["shrunk_high"] = shrunk_high


def _change(out, sat_now, n_now, sat_before, n_before, publishable, min_n, method, confidence):
    """Change since the previous period, for units publishable in both periods."""
    both = publishable & (n_before >= min_n)
    missing = np.where(both, 0.0, np.nan)  # NaN marks "not compared" for change_flags
    change = comparison.change_flags(
        sat_now + missing, n_now + missing, sat_before + missing, n_before + missing,
        confidence=confidence,
    )
    index_before, _, _ = satisfaction_index(
        sat_before, n_before, method=method, confidence=confidence
    )
    out["n_prev"] = n_before
    index_before = np.asarray(index_before, dtype=float).reshape(-1)
    out["index_prev"] = np.where(n_before >= min_n, index_before, np.nan)
    out["change"] = change["difference"].to_numpy()
    out["change_low"] = change["low"].to_numpy()
    out["change_high"] = change["high"].to_numpy()
    out["change_flag"] = change["change"].to_numpy()


def _post_stratify(out, now, levels, keys, by, strata, count_col, sc, reference_mix,
                   publishable, confidence, attrs) -> None:
    """Post-stratified index: each unit's per-stratum shares reweighted to one reference mix."""
    _check_columns(now, [strata], "counts")
    if now[strata].isna().to_numpy().any():
        raise ValueError(f"counts has missing values in the strata column {strata!r}")
    answers = np.asarray(now[count_col], dtype=float)
    codes, cell_keys = _group_codes(now, [*by, strata])
    x = np.bincount(codes, weights=np.where(levels >= sc.satisfied_from, answers, 0.0),
                    minlength=len(cell_keys))
    m = np.bincount(codes, weights=answers, minlength=len(cell_keys))
    cells = pd.DataFrame({"x": x.astype(np.int64), "n": m.astype(np.int64)}, index=cell_keys)
    x_cells = cells["x"].unstack(strata, fill_value=0).reindex(keys, fill_value=0)
    n_cells = cells["n"].unstack(strata, fill_value=0).reindex(keys, fill_value=0)
    if reference_mix is None:  # the pooled mix of every unit in the period
        total = n_cells.to_numpy().sum()
        mix = n_cells.sum().to_numpy() / total if total > 0 else np.zeros(n_cells.shape[1])
    else:
        mix = pd.Series(reference_mix, dtype=float).reindex(n_cells.columns, fill_value=0.0)
        mix = mix.to_numpy()
    index, low, high, n_eff = post_stratified_index(
        x_cells.to_numpy(), n_cells.to_numpy(), mix, confidence=confidence
    )
    out["ps_index"] = np.where(publishable, index, np.nan)
    out["ps_low"] = np.where(publishable, low, np.nan)
    out["ps_high"] = np.where(publishable, high, np.nan)
    out["n_eff"] = n_eff
    attrs["strata"] = strata
    attrs["reference_mix"] = dict(zip(n_cells.columns.tolist(), mix.tolist()))


def criterion_table(
    counts: pd.DataFrame,
    by: str | Sequence[str] = ("unit",),
    *,
    criterion_col: str = "question",
    scales: dict | None = None,
    **options,
) -> pd.DataFrame:
    """Per-criterion indices: :func:`satisfaction_table` run separately for each question.

    Each criterion (the five SIPAS elements, or the nine per-dossier criteria) is compared
    only with itself: its own target, funnel and ranks. ``scales`` maps a criterion to
    ``(low, high, satisfied_from)`` when criteria use different scales; the others use
    ``options``. The result stacks the tables with ``criterion_col`` as the first column.
    """
    by = [by] if isinstance(by, str) else list(by)
    _check_columns(counts, [criterion_col], "counts")
    scales = scales or {}
    tables = []
    # One table per criterion: a loop over a handful of questions, never over units.
    for criterion, rows in counts.groupby(criterion_col, observed=True, sort=True):
        settings = dict(options)
        if criterion in scales:
            low, high, satisfied_from = scales[criterion]
            settings.update(scale=(low, high), satisfied_from=satisfied_from)
        table = satisfaction_table(rows, by, **settings)
        table.insert(0, criterion_col, criterion)
        tables.append(table)
    if not tables:
        raise ValueError("counts has no rows")
    return pd.concat(tables, ignore_index=True)
