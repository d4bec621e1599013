"""The published results table: one row per unit, every number with its interval and n.

:func:`satisfaction_table` takes the tidy table of counts that SQL returns
(``GROUP BY unit, period, value`` — plus a cluster column such as counter × service day) —
never one row per rating — and turns it into the table the public pages, the manager pages
and the open-data endpoints show. Each number is computed once, by :mod:`analysis.indices`
(what is estimated), :mod:`analysis.clusters` (how much the ratings are worth),
:mod:`analysis.funnel`, :mod:`analysis.shrinkage`, :mod:`analysis.ranks` and
:mod:`analysis.change` (how units are compared); this module only reshapes counts and puts the
pieces side by side.

Everything is vectorised over units — the counts are turned into a units × answer-levels matrix
with one ``np.bincount`` on factorised keys, and no Python loop runs over units — so 10,000
units take well under a second (see ``benchmarks/analysis_scale.py``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis import change as change_module
from analysis import funnel, ranks as ranks_module, shrinkage
from analysis.clusters import PRIOR_DF, cluster_design
from analysis.indices import (
    Scale,
    mean_score,
    nonresponse_bounds,
    post_stratified_index,
    response_rate,
    satisfied_count,
    score_100,
)
from analysis.intervals import PROPORTION_METHODS, _check_confidence, _check_method, _proportion_limits

__all__ = [
    "TABLE_COLUMNS",
    "CHANGE_COLUMNS",
    "STRATA_COLUMNS",
    "COLUMN_DESCRIPTIONS",
    "distribution_columns",
    "satisfaction_table",
    "criterion_table",
    "parse_period",
    "period_label",
    "period_before",
]

#: Columns of :func:`satisfaction_table` after the ``by`` columns, always present, in order.
TABLE_COLUMNS = (
    "n",
    "n_eff",
    "deff",
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
    "bound_low",
    "bound_high",
    "publishable",
    "target",
    "z",
    "z_adjusted",
    "funnel_95",
    "funnel_998",
    "comparison",
    "comparison_p",
    "comparison_q",
    "rank",
    "rank_low",
    "rank_high",
    "shrunk",
    "shrunk_low",
    "shrunk_high",
)
#: Added when ``previous_period`` is given.
CHANGE_COLUMNS = (
    "n_prev", "index_prev", "change", "change_low", "change_high", "change_p", "change_q",
    "change_flag",
)
#: Added when ``strata`` is given.
STRATA_COLUMNS = ("ps_index", "ps_low", "ps_high", "ps_n_eff")

#: What each column holds (English; for open-data schemas and tooltips).
COLUMN_DESCRIPTIONS = {
    "n": "ratings received (always shown, also when the unit is withheld)",
    "n_eff": "effective sample size: n / deff, with the Korn-Graubard degrees-of-freedom "
             "correction for few clusters (n without a cluster column)",
    "deff": "design effect of the index from clustered ratings (1 without a cluster column)",
    "satisfied": "ratings in the satisfied levels (withheld below the publication threshold)",
    "index": "satisfaction index: share of ratings in the satisfied levels",
    "ci_low": "lower limit of the index's interval (at the table's confidence level)",
    "ci_high": "upper limit of the index's interval",
    "mean": "mean answer on the scale",
    "mean_low": "lower limit of the mean's interval",
    "mean_high": "upper limit of the mean's interval",
    "score_100": "mean rescaled to 0-100",
    "score_100_low": "lower limit of score_100",
    "score_100_high": "upper limit of score_100",
    "transactions": "transactions served in the period (NaN when unknown)",
    "response_rate": "ratings per transaction served",
    "response_rate_low": "lower limit of the response rate (Wilson)",
    "response_rate_high": "upper limit of the response rate (Wilson)",
    "bound_low": "index over everyone served had every non-respondent been dissatisfied",
    "bound_high": "index over everyone served had every non-respondent been satisfied",
    "publishable": "n and n_eff reach the publication threshold min_n",
    "target": "the index units are compared with (attrs['target_source'] says which)",
    "z": "(index - target) / sqrt(target (1 - target) / n)",
    "z_adjusted": "(index - target) over the standard deviation of the adjusted null",
    "funnel_95": "band of the funnel plot at 95 %: above, within, below, insufficient data",
    "funnel_998": "band of the funnel plot at 99.8 %: above, within, below, insufficient data",
    "comparison": "published verdict: above, below (FDR-controlled), within, insufficient",
    "comparison_p": "two-sided exact tail p-value under the over-dispersion-adjusted null",
    "comparison_q": "Benjamini-Hochberg adjusted comparison_p",
    "rank": "rank by posterior mean (1 = most satisfied)",
    "rank_low": "best plausible rank (rounded outwards to the unit's Monte Carlo step)",
    "rank_high": "worst plausible rank (rounded outwards to the unit's Monte Carlo step)",
    "shrunk": "empirical-Bayes estimate, pulled towards the overall level",
    "shrunk_low": "lower limit of the shrunken estimate (includes the prior's uncertainty)",
    "shrunk_high": "upper limit of the shrunken estimate",
    "n_prev": "ratings in the previous period",
    "index_prev": "index in the previous period (withheld below the threshold)",
    "change": "index now minus index in the previous period",
    "change_low": "lower limit of the change (Newcombe)",
    "change_high": "upper limit of the change (Newcombe)",
    "change_p": "two-sided p-value of no change (score test on effective counts)",
    "change_q": "Benjamini-Hochberg adjusted change_p",
    "change_flag": "improved, declined (FDR-controlled), no clear change, insufficient data",
    "ps_index": "index standardised to the reference mix of strata",
    "ps_low": "lower limit of the standardised index",
    "ps_high": "upper limit of the standardised index",
    "ps_n_eff": "Kish effective sample size of the standardisation weights",
}

_FUNNEL_LEVELS = funnel.DEFAULT_LEVELS
# Units × distinct cluster labels up to which clusters are counted on a dense grid.
_DENSE_CLUSTER_CELLS = 20_000_000


def distribution_columns(scale: tuple[int, int] = (1, 5)) -> tuple[str, ...]:
    """Columns added by ``distribution=True``: ``n_<level>`` per answer level, e.g. ``n_1``..``n_5``."""
    low, high = int(scale[0]), int(scale[1])
    return tuple(f"n_{value}" for value in range(low, high + 1))


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


def _level_counts(frame, by, levels, count_col, scale: Scale):
    """Counts per group (rows, sorted) and answer level (columns ``scale.values``), and the
    group number of each row.

    ``levels`` is the answer level of each row as a plain integer array (see
    :func:`_checked_levels`), so a categorical or string-typed answer column groups the same.
    """
    codes, keys = _group_codes(frame, by)
    k = len(scale.values)
    cells = codes * k + (levels - scale.low)
    weights = np.asarray(frame[count_col], dtype=float)
    matrix = np.bincount(cells, weights=weights, minlength=len(keys) * k).reshape(len(keys), k)
    return pd.DataFrame(matrix.astype(np.int64), index=keys, columns=scale.values), codes


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


def _cluster_rows(frame, cluster, levels, count_col, scale, unit_position, n_units):
    """Per-cluster (satisfied, ratings, unit) from counts rows; ``unit_position`` is each
    row's unit as a position in the table's keys."""
    _check_columns(frame, [cluster], "counts")
    if frame[cluster].isna().to_numpy().any():
        raise ValueError(f"counts has missing values in the cluster column {cluster!r}")
    cluster_codes, labels = pd.factorize(frame[cluster])
    width = max(len(labels), 1)
    # A cluster is (unit, cluster label).
    combined = unit_position.astype(np.int64) * width + cluster_codes
    answers = np.asarray(frame[count_col], dtype=float)
    satisfied = np.where(levels >= scale.satisfied_from, answers, 0.0)
    if n_units * width <= _DENSE_CLUSTER_CELLS:  # e.g. days of the month: count on a grid
        ratings = np.bincount(combined, weights=answers, minlength=n_units * width)
        hits = np.bincount(combined, weights=satisfied, minlength=n_units * width)
        present = np.flatnonzero(np.bincount(combined, minlength=n_units * width))
        return hits[present], ratings[present], present // width
    codes, uniques = pd.factorize(combined)  # hashed: no sort over the rows
    ratings = np.bincount(codes, weights=answers, minlength=len(uniques))
    hits = np.bincount(codes, weights=satisfied, minlength=len(uniques))
    return hits, ratings, uniques // width


def _design(frame, cluster, levels, count_col, scale, unit_position, n, confidence):
    """(deff, n_eff, icc) per unit: 1, n and None without a cluster column."""
    if cluster is None:
        return np.ones(len(n)), n.astype(float), None
    hits, ratings, owner = _cluster_rows(frame, cluster, levels, count_col, scale, unit_position,
                                         len(n))
    design = cluster_design(hits, ratings, owner, len(n), confidence=confidence)
    return design.deff, design.n_eff, design.icc


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
    adjustment: str = "additive",
    ranks: bool = True,
    n_sims: int | None = None,
    seed: int | None = 0,
    strata: str | None = None,
    reference_mix: pd.Series | None = None,
    cluster: str | None = None,
    distribution: bool = False,
    fdr: float = funnel.FDR_LEVEL,
    min_cell: int = 5,
) -> pd.DataFrame:
    """One row per unit with the satisfaction index, its interval, n and fair comparisons.

    Parameters
    ----------
    counts : DataFrame
        Tidy counts: the ``by`` columns, ``period_col`` (when ``period`` is given), the
        answer ``value_col`` and ``count_col`` — one row per group × period × answer level
        (× cluster, × stratum), as ``SELECT unit, period, value, COUNT(*) … GROUP BY …``
        returns. Rows with count 0 are allowed and make a unit with no ratings appear.
    by : column name(s) identifying a unit (a counter, an office, a province…).
    period, previous_period : period labels (``'2026-07'``, ``'2026-Q3'``, ``'2026'``) or
        ``pandas.Period``. Rows whose period lies inside ``period`` are pooled, so monthly
        rows add up to a quarter. Without ``period`` all rows are pooled.
        ``previous_period`` adds :data:`CHANGE_COLUMNS` (see :func:`period_before`).
    satisfied_from, scale : answers ``>= satisfied_from`` on the integer scale
        ``scale[0]..scale[1]`` count as satisfied: 4 on 1..5 (SIPAS), 2 on 1..3.
    method : interval for the index (any method of ``analysis.intervals.proportion_ci``),
        evaluated at the effective counts (index · n_eff, n_eff).
    transactions : optional DataFrame with the ``by`` columns, ``period_col`` and
        ``transactions_col`` (transactions served): gives the response rate, the
        non-response bounds and a target weighted by transactions served.
    min_n : units with fewer ratings — or fewer effective ratings ``n_eff`` — are not
        published (see Suppression).
    confidence : level of every interval.
    target : the share units are compared with; default the pooled index of the publishable
        units, weighted by transactions served when those are known for every publishable
        unit (``attrs["target_source"]``: ``"given"``, ``"transactions"`` or ``"pooled"``).
    adjustment : over-dispersion handling of the comparison (``analysis.funnel.funnel_flags``):
        ``"additive"`` (default; DerSimonian-Laird τ², zero when units vary no more than
        chance), ``"auto"``, ``"none"`` or ``"multiplicative"``.
    ranks, n_sims, seed : rank intervals from posterior draws (default number of draws:
        about 4 million unit-draws in all, see :func:`analysis.ranks.rank_intervals`); the
        same seed gives the same table.
    strata, reference_mix, min_cell : with a strata column (e.g. ``"procedure"``) add
        :data:`STRATA_COLUMNS`, the index standardised to ``reference_mix`` (weights indexed
        by stratum; default the pooled mix of the period), strata with fewer than
        ``min_cell`` ratings at a unit collapsed (``analysis.indices.post_stratified_index``).
    cluster : column of ``counts`` naming the cluster of each count row, e.g.
        ``"counter × service day"`` ids. The index interval then uses the between-cluster
        (ratio-estimator) variance with a Korn-Graubard effective n
        (``analysis.clusters.cluster_design``): ``deff`` >= 1 and ``n_eff`` <= n. A unit
        whose ratings all lie in one cluster, or whose share is 0 or 1, takes its design effect
        from the table's pooled intra-cluster correlation (``attrs["icc"]``); clusters of one
        rating give deff = 1; when no unit has two clusters of more than one rating the
        correlation cannot be estimated and the units that need it get ``n_eff`` NaN (withheld).
        Without ``cluster``, ``deff`` = 1 and ``n_eff`` = n.
        Everything downstream (comparison, shrinkage, ranks, change) uses the effective counts.
    distribution : add ``n_<level>`` columns (``distribution_columns(scale)``): ratings at each
        answer level.
    fdr : false-discovery rate of the published verdicts ``comparison`` and ``change_flag``.

    Columns
    -------
    The ``by`` columns, then :data:`TABLE_COLUMNS`, then :data:`CHANGE_COLUMNS` (with
    ``previous_period``), :data:`STRATA_COLUMNS` (with ``strata``) and the distribution columns
    (with ``distribution``); :data:`COLUMN_DESCRIPTIONS` says what each holds. Shares are
    fractions in [0, 1]; ``score_100`` is 0–100. Notably:

    * ``comparison``: ``"above"`` / ``"below"`` when the unit's exact tail probability under
      the over-dispersion-adjusted null (``comparison_p``) survives Benjamini-Hochberg control
      at ``fdr`` (``comparison_q``), else ``"within"``; ``"insufficient"`` for units not
      published (constants ``analysis.ABOVE``, ``BELOW``, ``WITHIN``, ``INSUFFICIENT``).
    * ``funnel_95`` / ``funnel_998``: the per-unit bands the funnel plot draws (values
      ``"above"``, ``"within"``, ``"below"``, ``"insufficient data"``);
      ``analysis.funnel_curve(table, n_grid)`` returns the curves.
    * ``change_flag``: ``"improved"`` / ``"declined"`` only when ``change_q <= fdr``.
    * ``rank``, ``rank_low``, ``rank_high``: from the hierarchical beta-binomial posterior
      including the prior's uncertainty; limits rounded outwards to each unit's Monte Carlo
      step.
    * ``shrunk``, ``shrunk_low``, ``shrunk_high``: empirical-Bayes estimate whose interval
      includes the prior's uncertainty.
    * ``bound_low``, ``bound_high``: the worst-case (Manski) range of the index over everyone
      served; with ``response_rate`` NaN when transactions are unknown.

    Suppression
    -----------
    A unit with n < ``min_n`` or n_eff < ``min_n`` is not published (``publishable`` False):
    ``n`` and ``n_eff`` stay, everything derived from its ratings is NaN — ``satisfied``,
    index and interval, mean and score_100, response rate, bounds, z, shrunken estimate, ranks,
    change, post-stratified index, ``n_<level>`` — and its ``comparison`` is
    ``"insufficient"``. Small units never enter the target, the over-dispersion estimate, the
    prior, the ranks or the FDR control.

    ``attrs``
    ---------
    Settings (``by``, ``period``, ``previous_period``, ``scale``, ``satisfied_from``,
    ``method``, ``confidence``, ``min_n``, ``seed``, ``fdr``, ``cluster``), counts
    (``n_units``, ``n_publishable``), and what was done: ``icc`` and
    ``design_effect_prior_df`` (clusters); ``target``, ``target_source``, ``adjustment``,
    ``phi``, ``tau2``, ``overdispersion_p_value``, ``tau2_units_left_out`` and ``funnel`` (the dict
    :func:`analysis.funnel_curve` reads: target, adjustment, tau2, phi, levels); ``prior``
    (hyperposterior summary); ``n_sims``, ``rank_draws``, ``rank_step``,
    ``rank_step_median``, ``rank_mc_error``, ``rank_unstable_share``, ``rank_hyper_draws``
    and, when rank limits are withheld, ``rank_note``; with ``previous_period``
    ``regression_to_the_mean`` (a note) and ``rtm_persistence``; with ``strata``
    ``strata``, ``reference_mix`` and ``min_cell``.
    """
    by = [by] if isinstance(by, str) else list(by)
    if not by:
        raise ValueError("by must name at least one column")
    sc = Scale(int(scale[0]), int(scale[1]), int(satisfied_from))
    if previous_period is not None and period is None:
        raise ValueError("previous_period needs period")
    if isinstance(min_n, bool) or not isinstance(min_n, (int, np.integer)) or min_n < 1:
        raise ValueError(f"min_n must be a whole number >= 1, got {min_n!r}")
    level = _check_confidence(confidence)
    method = _check_method(method, PROPORTION_METHODS)
    fdr = _check_confidence(fdr, "fdr")
    if adjustment not in funnel.ADJUSTMENTS:
        raise ValueError(f"unknown adjustment {adjustment!r}; choose one of: "
                         f"{', '.join(funnel.ADJUSTMENTS)}")
    if cluster is not None and cluster in (*by, value_col, count_col, period_col):
        raise ValueError(f"cluster column {cluster!r} must differ from the unit, value, count "
                         "and period columns")

    now_period = parse_period(period) if period is not None else None
    prev_period = parse_period(previous_period) if previous_period is not None else None
    if now_period is not None or prev_period is not None:
        _check_columns(counts, [period_col], "counts")
    now = counts if now_period is None else counts[_in_period(counts[period_col], now_period)]
    now_levels = _checked_levels(now, by, value_col, count_col, sc, "counts")
    levels_now, now_codes = _level_counts(now, by, now_levels, count_col, sc)
    keys = levels_now.index
    if prev_period is not None:
        before = counts[_in_period(counts[period_col], prev_period)]
        before_levels = _checked_levels(
            before, by, value_col, count_col, sc, "counts (previous period)"
        )
        levels_before, before_codes = _level_counts(before, by, before_levels, count_col, sc)
        keys = keys.union(levels_before.index)
    served = None
    if transactions is not None:
        served = _transactions_by_unit(transactions, by, now_period, period_col, transactions_col)
        keys = keys.union(served.index)
    keys = keys.sort_values() if not keys.is_monotonic_increasing else keys

    level_matrix = levels_now.reindex(keys, fill_value=0).to_numpy()
    satisfied, n = satisfied_count(level_matrix, sc)
    deff, n_eff, icc = _design(now, cluster, now_levels, count_col, sc,
                               keys.get_indexer(levels_now.index)[now_codes], n, level)
    with np.errstate(invalid="ignore"):
        publishable = (n >= min_n) & (n_eff >= min_n)
    out: dict[str, np.ndarray] = {"n": n, "n_eff": n_eff, "deff": deff}
    out["satisfied"] = np.where(publishable, satisfied, np.nan)

    share = np.where(n > 0, satisfied / np.where(n > 0, n, 1), 0.0)
    effective_n = np.where(publishable, n_eff, 0.0)
    effective_x = share * effective_n
    index, low, high = _proportion_limits(effective_x, effective_n, method, level, None)
    mean, mean_low, mean_high = mean_score(level_matrix, sc, confidence=level)
    withheld = {
        "index": np.where(n > 0, share, np.nan), "ci_low": low, "ci_high": high,
        "mean": mean, "mean_low": mean_low, "mean_high": mean_high,
    }
    for name, values in withheld.items():
        out[name] = np.where(publishable, np.asarray(values, dtype=float).reshape(-1), np.nan)
    out["score_100"] = score_100(out["mean"], sc)
    out["score_100_low"] = score_100(out["mean_low"], sc)
    out["score_100_high"] = score_100(out["mean_high"], sc)

    if served is None:
        tx = np.full(len(keys), np.nan)
    else:
        tx = served.reindex(keys).to_numpy(float)
    rate, rate_low, rate_high = response_rate(n, tx, confidence=level)
    bound_low, bound_high = nonresponse_bounds(satisfied, n, tx)
    out["transactions"] = tx
    for name, values in (("response_rate", rate), ("response_rate_low", rate_low),
                         ("response_rate_high", rate_high), ("bound_low", bound_low),
                         ("bound_high", bound_high)):
        out[name] = np.where(publishable, values, np.nan)
    out["publishable"] = publishable

    attrs = {
        "by": by,
        "period": period_label(now_period) if now_period is not None else None,
        "previous_period": period_label(prev_period) if prev_period is not None else None,
        "scale": (sc.low, sc.high),
        "satisfied_from": sc.satisfied_from,
        "method": method,
        "confidence": level,
        "min_n": min_n,
        "n_units": len(keys),
        "n_publishable": int(publishable.sum()),
        "seed": seed,
        "fdr": fdr,
        "cluster": cluster,
        "icc": icc if icc is None or np.isfinite(icc) else None,
        "design_effect_prior_df": PRIOR_DF if cluster is not None else None,
    }
    fit = _compare(out, satisfied, n, effective_x, effective_n, publishable, tx, target,
                   adjustment, ranks, n_sims, seed, level, fdr, attrs)

    if prev_period is not None:
        before_matrix = levels_before.reindex(keys, fill_value=0).to_numpy()
        sat_before, n_before = satisfied_count(before_matrix, sc)
        _, n_eff_before, _ = _design(before, cluster, before_levels, count_col, sc,
                                     keys.get_indexer(levels_before.index)[before_codes],
                                     n_before, level)
        _change(out, share, effective_n, sat_before, n_before, n_eff_before, publishable,
                min_n, method, level, fdr, fit, attrs)

    if strata is not None:
        _post_stratify(out, now, now_levels, keys, by, strata, count_col, sc, reference_mix,
                       publishable, level, min_n, min_cell, n / np.where(n_eff > 0, n_eff, 1.0),
                       attrs)

    if distribution:
        matrix = np.where(publishable[:, None], level_matrix.astype(float), np.nan)
        for column, values in zip(distribution_columns((sc.low, sc.high)), matrix.T):
            out[column] = values

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


def _target(x, n, served, given):
    """The comparison target and where it came from (publishable units only)."""
    if given is not None:
        return float(given), "given"
    if x.size == 0:
        return float("nan"), "pooled"
    known = np.isfinite(served) & (served > 0) & (served >= n)
    if known.all():
        # Weighted by transactions served: the index of the average citizen served, not of
        # the average rating received (units whose clients rate more would dominate that).
        return float(np.sum(served * x / n) / np.sum(served)), "transactions"
    return float(x.sum() / n.sum()), "pooled"


def _compare(out, satisfied, n, effective_x, effective_n, publishable, served, target,
             adjustment, ranks, n_sims, seed, level, fdr, attrs):
    """Verdicts, funnel bands, shrinkage and ranks over the publishable units only; returns the
    fitted hyperposterior (None without publishable units)."""
    rows = np.flatnonzero(publishable)
    x_pub, n_pub = satisfied[rows].astype(float), n[rows].astype(float)
    size = len(n)
    blank = np.full(size, np.nan)
    bands = {lv: np.full(size, funnel.INSUFFICIENT_DATA, dtype=object) for lv in _FUNNEL_LEVELS}
    verdict = np.full(size, funnel.INSUFFICIENT, dtype=object)
    z, z_adjusted, p_value, q_value = (blank.copy() for _ in range(4))

    p0, source = _target(x_pub, n_pub, served[rows], target)
    attrs.update(target=p0, target_source=source, adjustment=None, phi=np.nan, tau2=np.nan,
                 overdispersion_p_value=np.nan)
    funnel_attrs = {"target": p0, "adjustment": None, "tau2": np.nan, "phi": np.nan,
                    "levels": _FUNNEL_LEVELS}
    if target is not None and not 0.0 < p0 < 1.0:
        raise ValueError(f"target must be strictly between 0 and 1, got {target!r}")
    if rows.size and 0.0 < p0 < 1.0:
        design = n_pub / effective_n[rows]
        compared = funnel.funnel_flags(
            x_pub, n_pub, p0, levels=_FUNNEL_LEVELS, adjustment=adjustment,
            design_effect=np.maximum(design, 1.0), target_estimated=target is None, fdr=fdr,
            limits=False,
        )
        z[rows] = compared["z"].to_numpy()
        z_adjusted[rows] = compared["z_adjusted"].to_numpy()
        for lv in _FUNNEL_LEVELS:
            bands[lv][rows] = compared[f"flag_{funnel._level_label(lv)}"].to_numpy()
        verdict[rows] = compared["comparison"].to_numpy()
        p_value[rows] = compared["p_value"].to_numpy()
        q_value[rows] = compared["q_value"].to_numpy()
        reported = ("adjustment", "phi", "tau2", "overdispersion_p_value", "tau2_units_left_out")
        attrs.update({key: compared.attrs[key] for key in reported})
        funnel_attrs.update({key: compared.attrs[key] for key in ("adjustment", "tau2", "phi")})
    elif rows.size:
        # Every publishable unit has the same share, 0 or 1, and so does the target.
        for lv in _FUNNEL_LEVELS:
            bands[lv][rows] = funnel.WITHIN
        verdict[rows] = funnel.WITHIN
        p_value[rows] = q_value[rows] = 1.0
        z[rows] = z_adjusted[rows] = 0.0
    attrs["funnel"] = funnel_attrs
    out["target"] = np.full(size, p0)
    out["z"] = z
    out["z_adjusted"] = z_adjusted
    out["funnel_95"] = bands[0.95]
    out["funnel_998"] = bands[0.998]
    out["comparison"] = verdict
    out["comparison_p"] = p_value
    out["comparison_q"] = q_value

    rank, rank_low, rank_high = blank.copy(), blank.copy(), blank.copy()
    shrunk, shrunk_low, shrunk_high = blank.copy(), blank.copy(), blank.copy()
    fit = None
    if rows.size:
        table, fit = shrinkage.beta_binomial_shrinkage(
            effective_x[rows], effective_n[rows], confidence=level
        )
        shrunk[rows] = table["shrunken"].to_numpy()
        shrunk_low[rows] = table["low"].to_numpy()
        shrunk_high[rows] = table["high"].to_numpy()
        attrs["prior"] = fit.summary()
    attrs["n_sims"] = 0
    if rows.size and ranks:
        ranked = ranks_module.rank_intervals(
            effective_x[rows], effective_n[rows], confidence=level, n_sims=n_sims, seed=seed,
            fit=fit,
        )
        rank[rows] = np.where(np.isfinite(ranked["rank_low"]), ranked["rank"], np.nan)
        rank_low[rows] = ranked["rank_low"].to_numpy()
        rank_high[rows] = ranked["rank_high"].to_numpy()
        attrs.update(ranked.attrs)
        attrs["n_sims"] = ranked.attrs["rank_draws"]
    out["rank"] = rank
    out["rank_low"] = rank_low
    out["rank_high"] = rank_high
    out["shrunk"] = shrunk
    out["shrunk_low"] = shrunk_low
    out["shrunk_high"] = shrunk_high
    return fit


def _change(out, share, effective_n, sat_before, n_before, n_eff_before, publishable, min_n,
            method, level, fdr, fit, attrs):
    """Change since the previous period, for units publishable in both periods."""
    with np.errstate(invalid="ignore"):
        before_ok = (n_before >= min_n) & (n_eff_before >= min_n)
    both = publishable & before_ok
    share_before = np.where(n_before > 0, sat_before / np.where(n_before > 0, n_before, 1), 0.0)
    missing = np.where(both, 0.0, np.nan)  # NaN marks "not compared" for change_flags
    m_now = effective_n + missing
    m_before = np.where(both, n_eff_before, np.nan)
    change = change_module.change_flags(
        share * m_now, m_now, share_before * m_before, m_before, confidence=level,
        method="newcombe-cc" if method == "wilson-cc" else "newcombe", fdr=fdr,
    )
    out["n_prev"] = n_before
    out["index_prev"] = np.where(before_ok & (n_before > 0), share_before, np.nan)
    out["change"] = change["difference"].to_numpy()
    out["change_low"] = change["low"].to_numpy()
    out["change_high"] = change["high"].to_numpy()
    out["change_p"] = change["p_value"].to_numpy()
    out["change_q"] = change["q_value"].to_numpy()
    out["change_flag"] = change["change"].to_numpy()

    # Regression to the mean: the share of a unit's distance from the average that persists
    # from one period to the next, n/(n + α + β) by the shrinkage model (median over the units
    # compared, at their previous-period effective sizes).
    persistence = float("nan")
    if both.any() and fit is not None:
        compared = n_eff_before[both][None, :]
        keep = fit.weight > 0
        weight = np.sum(fit.weight[keep][:, None] * compared
                        / (compared + fit.strength[keep][:, None]), axis=0)
        persistence = float(np.median(weight))
    attrs["regression_to_the_mean"] = change_module.REGRESSION_TO_THE_MEAN
    attrs["rtm_persistence"] = persistence


def _post_stratify(out, now, levels, keys, by, strata, count_col, sc, reference_mix,
                   publishable, level, min_n, min_cell, design_effect, attrs) -> None:
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
        x_cells.to_numpy(), n_cells.to_numpy(), mix, confidence=level, min_cell=min_cell,
        design_effect=np.maximum(design_effect, 1.0),
    )
    shown = publishable & (n_eff >= min_n)
    out["ps_index"] = np.where(shown, index, np.nan)
    out["ps_low"] = np.where(shown, low, np.nan)
    out["ps_high"] = np.where(shown, high, np.nan)
    out["ps_n_eff"] = n_eff
    attrs["strata"] = strata
    attrs["reference_mix"] = dict(zip(n_cells.columns.tolist(), mix.tolist()))
    attrs["min_cell"] = min_cell


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
