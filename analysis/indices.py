"""The satisfaction indices the product publishes, each with its interval.

Every function here works on counts (how many answers at each level), never on one row per
rating, and is vectorised over any leading axes: ``counts`` of shape ``(..., k)`` gives results
of shape ``(...)``. Intervals come from :mod:`analysis.intervals`; this module only decides
*what* is estimated. The formulas are written out in ``docs/methodology.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.intervals import (
    _as_counts,
    _check_confidence,
    mean_ci_from_counts,
    proportion_ci,
    z_value,
)
from analysis.scales import scale_definition

__all__ = [
    "Scale",
    "FIVE_LEVEL",
    "THREE_LEVEL",
    "scale_of",
    "DOSSIER_CRITERION",
    "GradeBand",
    "DOSSIER_BANDS",
    "satisfied_count",
    "satisfaction_index",
    "mean_score",
    "score_100",
    "response_rate",
    "nonresponse_bounds",
    "dossier_total",
    "grade_band",
    "kish_effective_n",
    "post_stratified_index",
]


@dataclass(frozen=True)
class Scale:
    """An answer scale of integer levels ``low..high``.

    Answers at or above ``satisfied_from`` count as satisfied (the top two levels on every scale
    the product uses, as the national SIPAS survey does).
    """

    low: int
    high: int
    satisfied_from: int

    def __post_init__(self):
        if not self.low < self.high:
            raise ValueError(f"scale needs low < high, got {self.low}..{self.high}")
        if not self.low < self.satisfied_from <= self.high:
            raise ValueError(
                f"satisfied_from={self.satisfied_from} must lie in ({self.low}, {self.high}]"
            )

    @property
    def values(self) -> np.ndarray:
        """The answer levels, lowest first."""
        return np.arange(self.low, self.high + 1)

    @property
    def satisfied_mask(self) -> np.ndarray:
        """Boolean mask over :attr:`values`: which levels count as satisfied."""
        return self.values >= self.satisfied_from


def scale_of(code: str) -> Scale:
    """The :class:`Scale` of a shipped scale (:mod:`analysis.scales`, the one source of each "satisfied" level)."""
    definition = scale_definition(code)
    return Scale(definition.low, definition.high, definition.satisfied_from)


#: SIPAS elements and the kiosk question: 1 Rất không hài lòng … 5 Rất hài lòng; 4–5 satisfied.
FIVE_LEVEL = scale_of("satisfaction-5")
#: Per-dossier satisfaction: 1 Không hài lòng, 2 Hài lòng, 3 Rất hài lòng; 2–3 satisfied.
THREE_LEVEL = scale_of("satisfaction-3")
#: One of the per-dossier criteria, scored 0, 1 or 2 points; 1–2 count as met.
DOSSIER_CRITERION = scale_of("c01-index-1")


def satisfied_count(counts, scale: Scale = FIVE_LEVEL):
    """Number satisfied and number of answers from counts per level.

    ``counts[..., j]`` is the number of answers at level ``scale.values[j]``.
    Returns ``(satisfied, n)`` as integer arrays of shape ``counts.shape[:-1]``.
    """
    counts = _as_level_counts(counts, scale)
    n = counts.sum(axis=-1)
    satisfied = counts[..., scale.satisfied_mask].sum(axis=-1)
    return satisfied, n


def satisfaction_index(satisfied, n, *, method: str = "wilson", confidence: float = 0.95):
    """Satisfaction index: the share of answers that are satisfied, with its interval.

    Returns ``(index, low, high)`` as fractions in [0, 1]; NaN where ``n == 0``.
    """
    return proportion_ci(satisfied, n, method=method, confidence=confidence)


def mean_score(
    counts, scale: Scale = FIVE_LEVEL, *, confidence: float = 0.95, method: str = "agresti-coull"
):
    """Mean answer level and its interval, from counts per level.

    The default interval adds z²/2 pseudo-answers at each end of the scale
    (``analysis.intervals.mean_ci_from_counts(method="agresti-coull")``): the t interval
    undercovers when answers pile up at 5 and has zero width when all answers are equal.
    Returns ``(mean, low, high)`` on the scale's own units; NaN where there are no answers.
    """
    counts = _as_level_counts(counts, scale)
    return mean_ci_from_counts(
        counts, scale.values, confidence=confidence, scale=(scale.low, scale.high), method=method
    )


def score_100(mean, scale: Scale = FIVE_LEVEL):
    """Rescale a mean (or an interval bound) to 0–100: ``100 · (mean − low) / (high − low)``.

    The map is linear and increasing, so it carries interval bounds over unchanged in coverage.
    """
    mean = np.asarray(mean, dtype=float)
    return 100.0 * (mean - scale.low) / (scale.high - scale.low)


def response_rate(ratings, transactions, *, confidence: float = 0.95):
    """Ratings received per transaction served, with a Wilson interval.

    NaN where the number served is unknown (NaN), zero, or smaller than the number of ratings
    (a rate above 100 % means the two counts do not describe the same people, so it is withheld).
    Returns ``(rate, low, high)``.
    """
    ratings = np.asarray(ratings, dtype=float)
    transactions = np.asarray(transactions, dtype=float)
    ratings, transactions = np.broadcast_arrays(ratings, transactions)
    known = np.isfinite(transactions) & (transactions > 0) & (ratings <= transactions)
    x = np.where(known, ratings, 0.0)
    m = np.where(known, transactions, 0.0)
    rate, low, high = proportion_ci(x, m, method="wilson", confidence=confidence)
    nan = np.nan
    return (np.where(known, rate, nan), np.where(known, low, nan), np.where(known, high, nan))


def nonresponse_bounds(satisfied, n, transactions):
    """Worst-case (Manski 1989) bounds of the satisfaction index over everyone served.

    Of N transactions served, n were rated and x of those satisfied. Had every one of the
    N - n people who did not rate been dissatisfied, the index over everyone served would be
    ``x / N``; had all of them been satisfied, ``(x + N - n) / N``. The true index over
    everyone served lies between the two whatever made people rate or not — no model of
    non-response needed, which is why the bounds are wide when the response rate is low
    (their width is exactly 1 - n/N).

    Returns ``(low, high)``; NaN where N is unknown (NaN), zero or smaller than n.
    """
    x = np.asarray(satisfied, dtype=float)
    n = np.asarray(n, dtype=float)
    served = np.asarray(transactions, dtype=float)
    x, n, served = np.broadcast_arrays(x, n, served)
    known = np.isfinite(served) & (served > 0) & (n <= served)
    safe = np.where(known, served, 1.0)
    low = np.where(known, x / safe, np.nan)
    high = np.where(known, (x + safe - n) / safe, np.nan)
    return low, high


@dataclass(frozen=True)
class GradeBand:
    """One grade band: a total belongs to it when ``total >= lower`` (``total > lower`` when
    ``inclusive`` is false) and it belongs to no higher band."""

    lower: float
    key: str
    label_vi: str = ""
    label_en: str = ""
    inclusive: bool = True


#: Grade bands of a unit's 18-point total (nine indices × 0–2 points), highest first, as Circular
#: 01/2018/TT-VPCP sets them: ≥ 15 xuất sắc, 12–< 15 tốt, 9–< 12 khá, 6–< 9 trung bình, < 6 yếu.
DOSSIER_BANDS: tuple[GradeBand, ...] = (
    GradeBand(15, "excellent", "Xuất sắc", "Excellent"),
    GradeBand(12, "good", "Tốt", "Good"),
    GradeBand(9, "fair", "Khá", "Fair"),
    GradeBand(6, "average", "Trung bình", "Average"),
    GradeBand(-np.inf, "weak", "Yếu", "Weak"),
)


def dossier_total(scores, *, n_criteria: int = 9, scale: Scale = DOSSIER_CRITERION):
    """Per-dossier total: the sum of the criterion scores along the last axis.

    ``scores`` has shape ``(..., n_criteria)``. A dossier with any criterion missing (NaN) gets
    a NaN total rather than a total that silently counts the missing criterion as zero.
    """
    scores = np.asarray(scores, dtype=float)
    if scores.shape[-1:] != (n_criteria,):
        raise ValueError(
            f"expected {n_criteria} criterion scores on the last axis, got {scores.shape}"
        )
    present = scores[np.isfinite(scores)]
    if present.size and (
        (present < scale.low).any() or (present > scale.high).any() or (present % 1 != 0).any()
    ):
        raise ValueError(f"criterion scores must be whole numbers in {scale.low}..{scale.high}")
    return scores.sum(axis=-1)  # NaN propagates


def grade_band(total, bands=DOSSIER_BANDS):
    """Band key for each total (``None`` where the total is NaN).

    ``bands`` is any sequence of :class:`GradeBand` (or ``(lower, key)`` pairs, inclusive); a
    total goes to the highest band whose lower edge it reaches. Totals below every band raise,
    so give the lowest band ``-inf`` to catch everything.
    """
    bands = sorted((_as_band(b) for b in bands), key=lambda b: (b.lower, not b.inclusive), reverse=True)
    total = np.asarray(total, dtype=float)
    keys = np.full(total.shape, None, dtype=object)
    unassigned = ~np.isnan(total)
    for band in bands:  # a handful of bands, each tested on every total at once
        reached = (total >= band.lower) if band.inclusive else (total > band.lower)
        keys[unassigned & reached] = band.key
        unassigned &= ~reached
    if unassigned.any():
        raise ValueError("a total lies below the lowest band; give the lowest band -inf")
    return keys if keys.ndim else keys.item()


def kish_effective_n(weights, axis=-1):
    """Kish's effective sample size ``(Σw)² / Σw²`` along ``axis`` (0 where all weights are 0)."""
    w = np.asarray(weights, dtype=float)
    total = w.sum(axis=axis)
    squares = (w * w).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(squares > 0, total * total / np.where(squares > 0, squares, 1.0), 0.0)


def post_stratified_index(
    satisfied,
    n,
    reference_mix=None,
    *,
    confidence: float = 0.95,
    min_cell: int = 5,
    design_effect=None,
):
    """Satisfaction index standardised to a reference mix of strata (e.g. procedures).

    ``satisfied`` and ``n`` have shape ``(units, strata)``: whole, non-negative, finite counts
    with ``satisfied <= n`` (anything else raises ``ValueError``). Each unit's index is
    ``Σ_h W*_h · p_uh`` with ``p_uh = satisfied_uh / n_uh`` and ``W*`` the reference mix
    renormalised over the cells the unit is compared on. ``reference_mix`` defaults to the
    pooled mix of all units, ``n.sum(0) / n.sum()``.

    Cells the unit is compared on
        A stratum with no answers at a unit is left out and the weights renormalised over the
        others (a commune that handles no land dossiers is compared on what it does handle).
        Tiny cells — fewer than ``min_cell`` answers — are collapsed: all of a unit's tiny
        cells are pooled into one cell carrying the sum of their reference weights and their
        pooled share; if that pooled cell still has fewer than ``min_cell`` answers it is left
        out like an empty stratum. So a share estimated from 3 answers never carries a
        stratum's full weight.

    Interval
        The stratified variance ``V = Σ_h W*_h² π_h (1 - π_h) / n_h`` (times
        ``design_effect`` when given), inverted like Wilson's score interval: the limits are
        the two solutions P of ``(index - P)² = z² · V(P)`` where ``π_h = clip(p_h + P -
        index, 0, 1)`` is each stratum's share moved with the candidate P. Evaluating the
        variance at the candidate rather than at the estimate keeps it from vanishing when
        strata are all-satisfied; with one stratum it is exactly Wilson's interval.
        (p - P)² is convex and V(P) concave, so each side has one solution, found by
        bisection.

    ``n_eff`` is Kish's effective sample size of the weighting, ``1 / Σ_h W*_h² / n_h`` over
    the cells used: n when the unit's mix is the reference mix, smaller when thin strata are
    weighted up. The results table withholds the post-stratified index when it is below
    ``min_n``.

    Returns ``(index, low, high, n_eff)``; all NaN (``n_eff`` 0) for a unit with no usable
    cell, or with answers only in strata whose reference weight is zero.
    """
    level = _check_confidence(confidence)
    satisfied = _as_counts("satisfied", satisfied)
    n = _as_counts("n", n)
    if satisfied.shape != n.shape or n.ndim != 2:
        raise ValueError("satisfied and n must both have shape (units, strata)")
    if np.any(satisfied > n):
        raise ValueError("satisfied must not exceed n in any cell (more satisfied than answers)")
    if isinstance(min_cell, bool) or not isinstance(min_cell, (int, np.integer)) or min_cell < 1:
        raise ValueError(f"min_cell must be a whole number >= 1, got {min_cell!r}")
    if reference_mix is None:
        total = n.sum()
        reference_mix = n.sum(axis=0) / total if total > 0 else np.zeros(n.shape[1])
    try:
        mix = np.asarray(reference_mix, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("reference_mix must be numbers, one weight per stratum") from None
    if mix.shape != (n.shape[1],) or not np.all(np.isfinite(mix)) or (mix < 0).any():
        raise ValueError("reference_mix must be one finite non-negative weight per stratum")
    deff = 1.0 if design_effect is None else np.asarray(design_effect, dtype=float)

    # Collapse tiny cells into one pooled cell per unit (an extra column).
    tiny = (n > 0) & (n < min_cell)
    weights = np.broadcast_to(mix, n.shape)
    pooled_x = np.where(tiny, satisfied, 0.0).sum(axis=1)
    pooled_n = np.where(tiny, n, 0.0).sum(axis=1)
    pooled_w = np.where(tiny, weights, 0.0).sum(axis=1)
    keep_pooled = pooled_n >= min_cell
    x = np.column_stack([np.where(tiny, 0.0, satisfied), np.where(keep_pooled, pooled_x, 0.0)])
    m = np.column_stack([np.where(tiny, 0.0, n), np.where(keep_pooled, pooled_n, 0.0)])
    w = np.column_stack([np.where(m[:, :-1] > 0, weights, 0.0), np.where(keep_pooled, pooled_w, 0.0)])

    w_sum = w.sum(axis=1, keepdims=True)
    ok = w_sum[:, 0] > 0
    w = w / np.where(w_sum > 0, w_sum, 1.0)
    used = w > 0
    safe_m = np.where(used, m, 1.0)
    share = np.where(used, x / safe_m, 0.0)
    index = (w * share).sum(axis=1)
    inv_n_eff = (w * w / safe_m).sum(axis=1)
    n_eff = np.where(ok, 1.0 / np.where(ok, inv_n_eff, 1.0), 0.0)

    z2 = z_value(level) ** 2
    factor = w * w / safe_m * np.expand_dims(np.broadcast_to(deff, index.shape), 1)

    def excess(candidate):
        """(index - P)² - z²·V(P): positive outside the interval, convex in P."""
        moved = np.clip(share + (candidate - index)[:, None], 0.0, 1.0)
        variance = (factor * moved * (1.0 - moved)).sum(axis=1)
        return (index - candidate) ** 2 - z2 * variance

    # Bisection on each side; 60 halvings take [0, 1] below 1e-18.
    below, above = np.zeros_like(index), index.copy()
    for _ in range(60):
        middle = (below + above) / 2.0
        outside = excess(middle) > 0.0
        below = np.where(outside, middle, below)
        above = np.where(outside, above, middle)
    low = np.where(index <= 0.0, 0.0, below)
    below, above = index.copy(), np.ones_like(index)
    for _ in range(60):
        middle = (below + above) / 2.0
        outside = excess(middle) > 0.0
        above = np.where(outside, middle, above)
        below = np.where(outside, below, middle)
    high = np.where(index >= 1.0, 1.0, above)
    nan = np.nan
    return (np.where(ok, index, nan), np.where(ok, low, nan), np.where(ok, high, nan), n_eff)


def _as_level_counts(counts, scale: Scale) -> np.ndarray:
    counts = np.asarray(counts)
    if counts.shape[-1:] != (len(scale.values),):
        raise ValueError(
            f"counts need one column per level {scale.low}..{scale.high}, got shape {counts.shape}"
        )
    if (counts < 0).any():
        raise ValueError("counts must be non-negative")
    return counts


def _as_band(band) -> GradeBand:
    return band if isinstance(band, GradeBand) else GradeBand(float(band[0]), str(band[1]))
