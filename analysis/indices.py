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
    _check_confidence,
    _proportion_limits,
    mean_ci_from_counts,
    proportion_ci,
)

__all__ = [
    "Scale",
    "FIVE_LEVEL",
    "THREE_LEVEL",
    "DOSSIER_CRITERION",
    "GradeBand",
    "DOSSIER_BANDS",
    "satisfied_count",
    "satisfaction_index",
    "mean_score",
    "score_100",
    "response_rate",
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


#: SIPAS elements and the kiosk question: 1 Rất không hài lòng … 5 Rất hài lòng; 4–5 satisfied.
FIVE_LEVEL = Scale(1, 5, 4)
#: Per-dossier satisfaction: 1 Không hài lòng, 2 Hài lòng, 3 Rất hài lòng; 2–3 satisfied.
THREE_LEVEL = Scale(1, 3, 2)
#: One of the nine per-dossier criteria, scored 0, 1 or 2 points; 1–2 (the top two) count as met.
DOSSIER_CRITERION = Scale(0, 2, 1)


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


def mean_score(counts, scale: Scale = FIVE_LEVEL, *, confidence: float = 0.95):
    """Mean answer level and its t interval, from counts per level.

    Returns ``(mean, low, high)`` on the scale's own units; NaN where there are no answers.
    """
    counts = _as_level_counts(counts, scale)
    return mean_ci_from_counts(
        counts, scale.values, confidence=confidence, scale=(scale.low, scale.high)
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


@dataclass(frozen=True)
class GradeBand:
    """One grade band: a total belongs to it when ``total >= lower`` (``total > lower`` when
    ``inclusive`` is false) and it belongs to no higher band."""

    lower: float
    key: str
    label_vi: str = ""
    label_en: str = ""
    inclusive: bool = True


#: Per-dossier grade bands for the 18-point total (nine criteria × 0–2 points), highest first,
#: as the product defines them: > 15 excellent, 12–15 good, 9–12 fair, 6–9 average, < 6 weak.
#: The two strict edges are kept as written (15 is not excellent, 6 is not weak); a shared edge
#: goes to the higher band. So 16–18 excellent, 12–15 good, 9–11 fair, 6–8 average, 0–5 weak.
DOSSIER_BANDS: tuple[GradeBand, ...] = (
    GradeBand(15, "excellent", "Xuất sắc", "Excellent", inclusive=False),
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
    satisfied, n, reference_mix=None, *, confidence: float = 0.95
):
    """Satisfaction index standardised to a reference mix of strata (e.g. procedures).

    ``satisfied`` and ``n`` have shape ``(units, strata)``. Each unit's index is
    ``Σ_h W*_h · p_uh`` with ``p_uh = satisfied_uh / n_uh`` and ``W*`` the reference mix
    renormalised over the strata the unit has answers in (a unit that serves no land dossiers
    is compared on the procedures it does serve). ``reference_mix`` defaults to the pooled mix of
    all units, ``n.sum(0) / n.sum()``.

    Each answer in stratum h then carries weight ``W*_h / n_uh``, so Kish's effective sample
    size is ``n_eff = 1 / Σ_h (W*_h)² / n_uh``; it equals ``n`` when the unit's own mix is the
    reference mix. The interval is Wilson's with ``n_eff`` in place of ``n``.

    Returns ``(index, low, high, n_eff)``; all NaN (``n_eff`` 0) for a unit with no answers, or
    with answers only in strata whose reference weight is zero.
    """
    satisfied = np.asarray(satisfied, dtype=float)
    n = np.asarray(n, dtype=float)
    if satisfied.shape != n.shape or n.ndim != 2:
        raise ValueError("satisfied and n must both have shape (units, strata)")
    if reference_mix is None:
        total = n.sum()
        reference_mix = n.sum(axis=0) / total if total > 0 else np.zeros(n.shape[1])
    mix = np.asarray(reference_mix, dtype=float)
    if mix.shape != (n.shape[1],) or (mix < 0).any():
        raise ValueError("reference_mix must be one non-negative weight per stratum")
    observed = n > 0
    w = np.where(observed, mix, 0.0)
    w_sum = w.sum(axis=1, keepdims=True)
    ok = w_sum[:, 0] > 0
    w = w / np.where(w_sum > 0, w_sum, 1.0)
    safe_n = np.where(observed, n, 1.0)
    index = (w * satisfied / safe_n).sum(axis=1)
    inv_n_eff = (w * w / safe_n).sum(axis=1)
    n_eff = np.where(ok, 1.0 / np.where(ok, inv_n_eff, 1.0), 0.0)
    # n_eff is not a whole number, so call the Wilson formula directly: proportion_ci
    # rightly refuses non-integer counts from callers.
    _, low, high = _proportion_limits(
        np.where(ok, index, 0.0) * n_eff, n_eff, "wilson", _check_confidence(confidence), None
    )
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
