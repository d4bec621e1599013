"""Fair comparison of units: funnel plots, over-dispersion, rank intervals, shrinkage, change.

League tables rank units (counters, offices, districts) by their observed satisfaction share
and so reward luck: a counter with 12 answers will sit at the top or the bottom by chance.
This module gives the comparisons the product publishes instead:

* :func:`funnel_limits`, :func:`adjusted_funnel_limits`, :func:`funnel_flags` — is a unit's
  share compatible with a common target, given how many answers it has (Spiegelhalter 2005a)?
* :func:`overdispersion` — do units differ more than chance alone allows (Spiegelhalter
  2005a, 2005b)? If so the funnel limits are widened, or nearly everyone gets flagged.
* :func:`rank_intervals` — the range of ranks each unit could plausibly hold (Goldstein &
  Spiegelhalter 1996; Marshall & Spiegelhalter 1998).
* :func:`beta_binomial_shrinkage` — empirical-Bayes estimates that pull small units towards
  the overall level.
* :func:`change_flags` — did a unit improve or decline since the previous period?

Every function is vectorised over units: pass one array of satisfied counts ``x`` and one of
answer counts ``n`` (one element per unit) and get one row per unit back, in the same order.

Conventions
-----------
* Per-unit results are :class:`pandas.DataFrame` objects with one row per input unit (default
  ``RangeIndex``), so they can be joined back to the unit table positionally. Fitted,
  whole-data quantities (φ, τ², the beta prior) are frozen dataclasses.
* A unit with ``n == 0`` is not an error: its numbers are NaN and its flag is
  ``"insufficient data"``. It never affects the other units.
* Impossible input (negative or non-integer counts, ``x > n``, a target outside (0, 1), a
  confidence level outside (0, 1), an unknown method) raises ``ValueError``.
* "Above" and "improved" mean *more* satisfied citizens.

Sources
-------
* Spiegelhalter DJ (2005a). Funnel plots for comparing institutional performance.
  Stat Med 24:1185-1202. doi:10.1002/sim.1970
* Spiegelhalter DJ (2005b). Handling over-dispersion of performance indicators.
  Qual Saf Health Care 14:347-351. doi:10.1136/qshc.2005.013755
* DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. Control Clin Trials
  7:177-188.
* Goldstein H, Spiegelhalter DJ (1996). League tables and their limitations: statistical
  issues in comparisons of institutional performance. J R Stat Soc A 159:385-443.
* Marshall EC, Spiegelhalter DJ (1998). Reliability of league tables of in vitro
  fertilisation clinics: retrospective analysis of live birth rates. BMJ 316:1701-1704.
* Cornish EA, Fisher RA (1938). Moments and cumulants in the specification of
  distributions. Rev Inst Int Stat 5:307-320.
* Griffiths DA (1973). Maximum likelihood estimation for the beta-binomial distribution and
  an application to the household distribution of the total number of cases of a disease.
  Biometrics 29:637-648.
* Kleinman JC (1973). Proportions with extraneous variance: single and independent samples.
  J Am Stat Assoc 68:46-54.
* Efron B, Morris C (1975). Data analysis using Stein's estimator and its generalizations.
  J Am Stat Assoc 70:311-319.
* Newcombe RG (1998). Interval estimation for the difference between independent
  proportions: comparison of eleven methods. Stat Med 17:873-890.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from analysis.intervals import DIFFERENCE_METHODS, _as_counts, _check_confidence, difference_ci

__all__ = [
    "ABOVE",
    "WITHIN",
    "BELOW",
    "IMPROVED",
    "DECLINED",
    "NO_CLEAR_CHANGE",
    "INSUFFICIENT_DATA",
    "ADJUSTMENTS",
    "funnel_limits",
    "adjusted_funnel_limits",
    "funnel_flags",
    "Overdispersion",
    "overdispersion",
    "rank_intervals",
    "BetaBinomialFit",
    "beta_binomial_log_likelihood",
    "beta_binomial_shrinkage",
    "change_flags",
]

#: Funnel flag: the share lies above the upper limit (more satisfied than the target allows).
ABOVE = "above"
#: Funnel flag: the share lies within the limits.
WITHIN = "within"
#: Funnel flag: the share lies below the lower limit.
BELOW = "below"
#: Change flag: the interval for (now - before) lies wholly above 0.
IMPROVED = "improved"
#: Change flag: the interval for (now - before) lies wholly below 0.
DECLINED = "declined"
#: Change flag: the interval for (now - before) contains 0.
NO_CLEAR_CHANGE = "no clear change"
#: Funnel or change flag: no answers (n == 0) in a period the comparison needs.
INSUFFICIENT_DATA = "insufficient data"
#: Over-dispersion adjustments accepted by :func:`funnel_flags` (``adjusted_funnel_limits``
#: takes all but ``"auto"``).
ADJUSTMENTS = ("auto", "none", "multiplicative", "additive")

DEFAULT_LEVELS = (0.95, 0.998)

# Posterior draws for rank intervals: units whose Beta(a, b) posterior has min(a, b) at least
# this large are drawn by a Cornish-Fisher transform of one normal; the rest exactly.
_CORNISH_FISHER_MIN_SHAPE = 10.0
# About this many posterior draws are ranked at once (a few MB of working memory).
_RANK_CHUNK_DRAWS = 1 << 19
# Bounds for the beta-binomial fit: logit of the prior mean, and log of alpha + beta.
_LOGIT_MEAN_BOUND = 30.0
_PRIOR_STRENGTH_RANGE = (1e-4, 1e8)


# --------------------------------------------------------------------------- validation


def _check_levels(levels) -> tuple[float, ...]:
    try:
        checked = tuple(_check_confidence(level, "each funnel level") for level in levels)
    except TypeError:
        message = f"levels must be a sequence of numbers in (0, 1), got {levels!r}"
        raise ValueError(message) from None
    if not checked:
        raise ValueError("levels must name at least one funnel level, e.g. (0.95, 0.998)")
    if len({_level_label(level) for level in checked}) != len(checked):
        raise ValueError(f"levels must be distinct, got {levels!r}")
    return checked


def _level_label(level: float) -> str:
    """Column suffix for a level: 0.95 -> "95", 0.998 -> "99.8"."""
    return f"{100.0 * level:.10g}"


def _as_1d(name: str, value) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric, got {value!r}") from None
    if array.ndim > 1:
        raise ValueError(
            f"{name} must be one-dimensional (one value per unit), got shape {array.shape}"
        )
    return np.atleast_1d(array)


def _units(x, n) -> tuple[np.ndarray, np.ndarray]:
    """Validated float arrays of satisfied counts and answer counts, broadcast to 1-D."""
    x = _as_counts("x", _as_1d("x", x))
    n = _as_counts("n", _as_1d("n", n))
    try:
        x, n = np.broadcast_arrays(x, n)
    except ValueError:
        raise ValueError(f"x and n must have the same length, got {x.size} and {n.size}") from None
    if np.any(x > n):
        raise ValueError("x must not exceed n (more satisfied answers than answers)")
    return x.copy(), n.copy()


def _check_target(target) -> np.ndarray:
    p0 = _as_1d("target", target)
    if not np.all((p0 > 0.0) & (p0 < 1.0)):  # also rejects NaN
        raise ValueError(
            "target must be a proportion strictly between 0 and 1 (at 0 or 1 a binomial "
            f"has no spread and every other share is 'significant'), got {target!r}"
        )
    return p0


def _broadcast(**arrays: np.ndarray) -> list[np.ndarray]:
    try:
        return [np.array(a) for a in np.broadcast_arrays(*arrays.values())]
    except ValueError:
        shapes = ", ".join(f"{k}: {v.shape}" for k, v in arrays.items())
        raise ValueError(f"inputs must have matching lengths ({shapes})") from None


# --------------------------------------------------------------------------- funnel limits


def _exact_binomial_limit(n: np.ndarray, p0: np.ndarray, prob: float) -> np.ndarray:
    """Spiegelhalter (2005a, Appendix) interpolated binomial ``prob``-quantile, over n.

    r_p is the smallest r with F(r) >= prob for R ~ Bin(n, p0); then
    alpha = (F(r_p) - prob) / (F(r_p) - F(r_p - 1)) and the limit is (r_p - alpha) / n.
    """
    r = stats.binom.ppf(prob, n, p0)
    # binom.ppf is a floating-point search; step until F(r - 1) < prob <= F(r) holds exactly.
    for _ in range(3):
        below = stats.binom.cdf(r - 1.0, n, p0)
        at = stats.binom.cdf(r, n, p0)
        r = np.where(below >= prob, r - 1.0, np.where(at < prob, r + 1.0, r))
    below = stats.binom.cdf(r - 1.0, n, p0)
    at = stats.binom.cdf(r, n, p0)
    alpha = (at - prob) / (at - below)
    return (r - alpha) / n


def _exact_limits_table(n: np.ndarray, p0: np.ndarray, levels) -> dict[str, np.ndarray]:
    """Exact limits for every level; each distinct (n, p0) pair is computed once."""
    empty = n == 0
    pairs = np.column_stack([np.where(empty, 1.0, n), p0])
    distinct, inverse = np.unique(pairs, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    columns: dict[str, np.ndarray] = {}
    for level in levels:
        label = _level_label(level)
        for side, prob in (("lower", (1.0 - level) / 2.0), ("upper", (1.0 + level) / 2.0)):
            limit = _exact_binomial_limit(distinct[:, 0], distinct[:, 1], prob)
            # The interpolation can step below 0 when r_p = 0 (it spreads P(R = 0) over
            # [-1, 0]); a share cannot, so the limit is clipped to [0, 1].
            columns[f"{side}_{label}"] = np.where(empty, np.nan, np.clip(limit, 0.0, 1.0)[inverse])
    return columns


def _normal_limits_table(n, p0, levels, *, phi: float = 1.0, tau2: float = 0.0):
    """p0 ± z·sqrt(phi·p0(1-p0)/n + tau2), clipped to [0, 1]; NaN where n == 0."""
    empty = n == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.sqrt(phi * p0 * (1.0 - p0) / np.where(empty, np.nan, n) + tau2)
    columns: dict[str, np.ndarray] = {}
    for level in levels:
        label = _level_label(level)
        z = stats.norm.isf((1.0 - level) / 2.0)
        columns[f"lower_{label}"] = np.clip(p0 - z * spread, 0.0, 1.0)
        columns[f"upper_{label}"] = np.clip(p0 + z * spread, 0.0, 1.0)
    return columns


def funnel_limits(n, target, *, levels=DEFAULT_LEVELS) -> pd.DataFrame:
    """Exact binomial funnel limits around a target share, for each sample size.

    Spiegelhalter (2005a), Appendix: for R ~ Binomial(n, p0) and a tail probability p,
    let r_p be the smallest r with P(R <= r) >= p, and

        alpha = (F(r_p) - p) / (F(r_p) - F(r_p - 1)),    limit_p = (r_p - alpha) / n,

    with F the binomial CDF. The interpolation turns the step function of r_p into a smooth
    curve in n (it is the p-quantile of R - U, U ~ Uniform(0, 1), divided by n). For a level
    L the limits use p = (1 - L)/2 and p = (1 + L)/2: ``levels=(0.95, 0.998)`` gives the
    usual "2 and 3 standard deviation" funnels. Limits are clipped to [0, 1] (the lower one
    can be slightly negative for small n·p0).

    Use it per unit (``n`` = each unit's answers) or to draw the funnel (``n`` = a grid such
    as ``np.arange(1, 2001)``). The funnel narrows as n grows, except for the small sawtooth
    the binomial's discreteness leaves in the upper limit (rises of at most about 0.001
    between consecutive n >= 10; the lower limit did not decrease anywhere in checks over
    n = 1..3000).

    Parameters
    ----------
    n : int or array-like of int
        Sample sizes. ``n == 0`` gives NaN limits.
    target : float or array-like
        The target share p0 in (0, 1); an array (one per unit, e.g. case-mix expected shares)
        broadcasts against ``n``.
    levels : sequence of float
        Two-sided funnel levels in (0, 1).

    Returns
    -------
    pandas.DataFrame
        One row per element of ``n``: ``n``, ``target``, then ``lower_<L>`` and
        ``upper_<L>`` for each level, with ``<L>`` the level in percent (``lower_95``,
        ``upper_95``, ``lower_99.8``, ``upper_99.8``).
    """
    levels = _check_levels(levels)
    sizes = _as_counts("n", _as_1d("n", n))
    sizes, p0 = _broadcast(n=sizes, target=_check_target(target))
    table = {"n": sizes, "target": p0}
    table.update(_exact_limits_table(sizes, p0, levels))
    return pd.DataFrame(table)


def adjusted_funnel_limits(
    n, target, *, method="none", phi=1.0, tau2=0.0, levels=DEFAULT_LEVELS
) -> pd.DataFrame:
    """Funnel limits, optionally widened for over-dispersion.

    ``method``
        ``"none"``
            The exact binomial limits of :func:`funnel_limits`.
        ``"multiplicative"``
            Spiegelhalter (2005a, sec. 5.1; 2005b): the normal-approximation limits inflated
            by sqrt(φ), ``p0 ± z_L · sqrt(φ · p0(1 - p0) / n)``. φ below 1 is treated as 1:
            limits are never made narrower than pure binomial chance.
        ``"additive"``
            Spiegelhalter (2005a, sec. 5.2; 2005b) random-effects limits,
            ``p0 ± z_L · sqrt(p0(1 - p0) / n + τ²)``, where τ² is the between-unit variance of
            the true shares (see :func:`overdispersion`). As n grows the funnel no longer
            closes to p0 but to p0 ± z_L·τ.

    Both adjustments work on the proportion scale itself (the scale of the z-scores in
    Spiegelhalter 2005a, sec. 5), with the normal approximation; limits are clipped to
    [0, 1]. (The R package FunnelPlotR instead works on the arcsine-square-root scale for
    proportions; the two agree closely except for shares near 0 or 1 with small n.)

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`funnel_limits`.
    """
    if method not in ADJUSTMENTS[1:]:
        raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(ADJUSTMENTS[1:])}")
    if method == "none":
        return funnel_limits(n, target, levels=levels)
    levels = _check_levels(levels)
    sizes = _as_counts("n", _as_1d("n", n))
    sizes, p0 = _broadcast(n=sizes, target=_check_target(target))
    if method == "multiplicative":
        phi = _check_nonnegative("phi", phi)
        columns = _normal_limits_table(sizes, p0, levels, phi=max(phi, 1.0))
    else:
        columns = _normal_limits_table(sizes, p0, levels, tau2=_check_nonnegative("tau2", tau2))
    return pd.DataFrame({"n": sizes, "target": p0, **columns})


def _check_nonnegative(name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a single non-negative number, got {value!r}")
    number = float(value)
    if not (np.isfinite(number) and number >= 0.0):
        raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    return number


# --------------------------------------------------------------------------- over-dispersion


@dataclass(frozen=True)
class Overdispersion:
    """Spiegelhalter's over-dispersion estimate and test for a set of units.

    Attributes
    ----------
    phi : float
        φ, mean of the (Winsorised) squared z-scores; about 1 when units differ by chance only.
    statistic : float
        I·φ, referred to χ² on ``df`` degrees of freedom.
    df : int
        I - 1.
    p_value : float
        P(χ²_df >= statistic). Small values mean more spread than chance.
    tau2 : float
        τ², the additive random-effects between-unit variance on the proportion scale.
    n_units : int
        I, the number of units with n > 0 that entered the estimate.
    winsorize : float
        The fraction Winsorised at each end.
    """

    phi: float
    statistic: float
    df: int
    p_value: float
    tau2: float
    n_units: int
    winsorize: float

    def significant(self, level: float = 0.05) -> bool:
        """True when the over-dispersion test rejects "chance only" at ``level``."""
        return bool(self.p_value < _check_confidence(level, "level"))


def overdispersion(x, n, target, *, winsorize=0.1) -> Overdispersion:
    """Estimate and test over-dispersion around a target (Spiegelhalter 2005a sec. 5, 2005b).

    With y_i = x_i / n_i and s_i² = p0(1 - p0)/n_i, the z-scores are z_i = (y_i - p0) / s_i.
    The top and bottom ``winsorize`` fraction of the z-scores are set to the corresponding
    percentiles (numpy's linear-interpolation percentiles), so a few outlying units do not
    inflate the estimate, and

        φ = (1/I) · Σ z_i²          (winsorised z_i, I = number of units with n_i > 0).

    Under "chance only" (every unit's true share is p0), I·φ is referred to a χ² with I - 1
    degrees of freedom (the target is usually the pooled share, estimated from the same
    data). The additive random-effects variance is the DerSimonian-Laird-type moment
    estimate (Spiegelhalter 2005b; DerSimonian & Laird 1986) with weights w_i = 1/s_i²:

        τ² = (I·φ - (I - 1)) / (Σ w_i - Σ w_i² / Σ w_i)   if I·φ > I - 1, else 0.

    Caveat (documented, not corrected): Winsorising also shrinks the z-scores of units that
    are not outliers, so under pure chance φ is biased *below* 1 — about 0.68 for 10%
    Winsorisation of normal z-scores — and the χ² test is conservative. For the same reason
    τ² comes out low: about 0.55-0.65 of the true between-unit variance in beta-binomial
    simulations (400 units, n 100-1000). ``winsorize=0`` gives the plain Pearson
    dispersion statistic (null expectation 1) and a τ² close to unbiased, at the price of
    sensitivity to a few extreme units.

    Parameters
    ----------
    x, n : array-like of int
        Satisfied answers and answers per unit. Units with n == 0 are left out.
    target : float or array-like
        p0 in (0, 1), typically the pooled share ``x.sum() / n.sum()``.
    winsorize : float
        Fraction Winsorised at each end, in [0, 0.5).

    Returns
    -------
    Overdispersion
        With fewer than two units the test is undefined: ``p_value`` is NaN and ``tau2`` 0
        (φ is NaN when there are no units at all).
    """
    winsorize = _check_nonnegative("winsorize", winsorize)
    if winsorize >= 0.5:
        raise ValueError(f"winsorize must be below 0.5 (a fraction at each end), got {winsorize!r}")
    x, n = _units(x, n)
    x, n, p0 = _broadcast(x=x, n=n, target=_check_target(target))
    return _overdispersion(x, n, p0, winsorize)


def _overdispersion(x, n, p0, winsorize) -> Overdispersion:
    used = n > 0
    units = int(used.sum())
    if units == 0:
        return Overdispersion(np.nan, np.nan, 0, np.nan, 0.0, 0, winsorize)
    x, n, p0 = x[used], n[used], p0[used]
    variance = p0 * (1.0 - p0) / n
    z = (x / n - p0) / np.sqrt(variance)
    if winsorize > 0.0:
        low, high = np.quantile(z, [winsorize, 1.0 - winsorize])
        z = np.clip(z, low, high)
    phi = float(np.mean(z * z))
    statistic = units * phi
    df = units - 1
    if df == 0:
        return Overdispersion(phi, statistic, 0, np.nan, 0.0, units, winsorize)
    p_value = float(stats.chi2.sf(statistic, df))
    weights = 1.0 / variance
    denominator = weights.sum() - np.sum(weights * weights) / weights.sum()
    if statistic > df and denominator > 0.0:
        tau2 = float((statistic - df) / denominator)
    else:
        tau2 = 0.0
    return Overdispersion(phi, float(statistic), df, p_value, tau2, units, winsorize)


def funnel_flags(
    x,
    n,
    target,
    *,
    levels=DEFAULT_LEVELS,
    adjustment="auto",
    winsorize=0.1,
    significance=0.05,
    phi=None,
    tau2=None,
) -> pd.DataFrame:
    """Place each unit on the funnel plot: z-score, limits and a flag per level.

    z_i = (y_i - p0) / sqrt(p0(1 - p0)/n_i) with y_i = x_i/n_i. A unit is ``"above"`` when
    y_i is strictly above the upper limit, ``"below"`` when strictly below the lower limit,
    otherwise ``"within"``; units with n == 0 are ``"insufficient data"``.

    ``adjustment``
        ``"auto"`` (default)
            Run :func:`overdispersion` (with ``winsorize``) on these units; if its χ² test is
            significant at ``significance`` use the additive random-effects limits with the
            estimated τ², else the exact binomial limits. Spiegelhalter (2005b) recommends
            the additive model as having "a stronger conceptual foundation". With the
            default 10% Winsorisation the test is conservative (see :func:`overdispersion`),
            so mild over-dispersion may go unadjusted.
        ``"none"``
            Exact binomial limits (:func:`funnel_limits`).
        ``"multiplicative"``
            Limits inflated by sqrt(φ); φ estimated unless ``phi`` is given.
        ``"additive"``
            Random-effects limits; τ² estimated unless ``tau2`` is given.

    Parameters
    ----------
    x, n : array-like of int
        Satisfied answers and answers per unit.
    target : float or array-like
        p0 in (0, 1).
    levels : sequence of float
        Funnel levels, default 95% and 99.8%.
    winsorize, significance : float
        Passed to the over-dispersion estimate and test.
    phi, tau2 : float, optional
        Known φ or τ² (e.g. from a reference period) instead of estimating them.

    Returns
    -------
    pandas.DataFrame
        One row per unit: ``x``, ``n``, ``proportion``, ``z`` (unadjusted),
        ``z_adjusted`` (on the adjusted scale: z/sqrt(φ) or (y - p0)/sqrt(s² + τ²); equal to
        ``z`` without adjustment), then ``lower_<L>``, ``upper_<L>``, ``flag_<L>`` for each
        level (``flag_95``, ``flag_99.8`` by default), and ``adjustment`` (what was applied:
        ``"none"``, ``"multiplicative"`` or ``"additive"``). ``DataFrame.attrs`` holds
        ``adjustment``, ``phi``, ``tau2`` and ``overdispersion_p_value`` (NaN when not
        estimated).
    """
    if adjustment not in ADJUSTMENTS:
        choices = ", ".join(ADJUSTMENTS)
        raise ValueError(f"unknown adjustment {adjustment!r}; choose one of: {choices}")
    levels = _check_levels(levels)
    significance = _check_confidence(significance, "significance")
    winsorize = _check_nonnegative("winsorize", winsorize)
    if winsorize >= 0.5:
        raise ValueError(f"winsorize must be below 0.5 (a fraction at each end), got {winsorize!r}")
    x, n = _units(x, n)
    x, n, p0 = _broadcast(x=x, n=n, target=_check_target(target))

    needs_estimate = adjustment == "auto" or (adjustment == "multiplicative" and phi is None) or (
        adjustment == "additive" and tau2 is None
    )
    fitted = _overdispersion(x, n, p0, winsorize) if needs_estimate else None
    applied = adjustment
    phi_used = 1.0
    tau2_used = 0.0
    if adjustment == "auto":
        significant = np.isfinite(fitted.p_value) and fitted.p_value < significance
        applied = "additive" if significant else "none"
        tau2_used = fitted.tau2 if significant else 0.0
    elif adjustment == "multiplicative":
        phi_used = max(_check_nonnegative("phi", phi) if phi is not None else fitted.phi, 1.0)
        if not np.isfinite(phi_used):  # no units at all
            phi_used = 1.0
    elif adjustment == "additive":
        tau2_used = _check_nonnegative("tau2", tau2) if tau2 is not None else fitted.tau2

    empty = n == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        proportion = np.where(empty, np.nan, x / np.where(empty, 1.0, n))
        variance = p0 * (1.0 - p0) / np.where(empty, np.nan, n)
        z = (proportion - p0) / np.sqrt(variance)
        z_adjusted = (proportion - p0) / np.sqrt(phi_used * variance + tau2_used)

    if applied == "none":
        limits = _exact_limits_table(n, p0, levels)
    else:
        limits = _normal_limits_table(n, p0, levels, phi=phi_used, tau2=tau2_used)

    table: dict[str, np.ndarray] = {
        "x": x,
        "n": n,
        "proportion": proportion,
        "z": z,
        "z_adjusted": z_adjusted,
    }
    for level in levels:
        label = _level_label(level)
        lower, upper = limits[f"lower_{label}"], limits[f"upper_{label}"]
        flag = np.where(proportion > upper, ABOVE, np.where(proportion < lower, BELOW, WITHIN))
        table[f"lower_{label}"] = lower
        table[f"upper_{label}"] = upper
        table[f"flag_{label}"] = np.where(empty, INSUFFICIENT_DATA, flag).astype(object)
    table["adjustment"] = np.full(x.shape, applied, dtype=object)
    frame = pd.DataFrame(table)
    frame.attrs.update(
        adjustment=applied,
        phi=phi_used if applied == "multiplicative" else (fitted.phi if fitted else np.nan),
        tau2=tau2_used,
        overdispersion_p_value=fitted.p_value if fitted else np.nan,
    )
    return frame


# --------------------------------------------------------------------------- rank intervals


def _order_keys(values: np.ndarray) -> np.ndarray:
    """Reinterpret float32 values in place as uint32 keys with the same ordering."""
    bits = values.view(np.int32)
    flip = bits >> 31  # -1 for negative numbers, 0 otherwise
    flip &= 0x7FFFFFFF
    bits ^= flip  # negative floats now order as signed integers do
    keys = bits.view(np.uint32)
    keys ^= np.uint32(0x80000000)  # signed order -> unsigned order
    return keys


def rank_intervals(
    x, n, *, confidence=0.95, n_sims=1000, seed=0, prior=(0.5, 0.5)
) -> pd.DataFrame:
    """Rank of each unit (1 = most satisfied) with a simulation interval.

    Following Goldstein & Spiegelhalter (1996) and Marshall & Spiegelhalter (1998): draw each
    unit's true share from its posterior Beta(x + a, n - x + b) (``prior=(a, b)``, Jeffreys
    by default), rank all units within each of ``n_sims`` draws, and report the
    (1 - confidence)/2 and (1 + confidence)/2 quantiles of each unit's simulated ranks.
    Quantiles use numpy's ``method="lower"`` for the low end and ``"higher"`` for the high
    end (index floor/ceil of q·(n_sims - 1) in the sorted ranks), so they are whole ranks
    and err on the wide side.

    The point ``rank`` orders the posterior means (x + a)/(n + a + b), ties sharing the best
    rank (1, 2, 2, 4). It does not depend on the seed. It usually lies inside
    [rank_low, rank_high], but this is not guaranteed: a precisely measured unit among many
    tiny, uncertain ones can be first by posterior mean while in most draws some of the
    uncertain ones overtake it.

    Draws and speed: ranks only need the order of draws, so each draw is made on the logit
    scale. For posteriors with min(a', b') >= 10 the logit-Beta draw is a Cornish-Fisher
    expansion (Cornish & Fisher 1938) of one standard normal using the exact cumulants of
    log G_a' - log G_b' (κ_r = ψ^(r-1)(a') ± ψ^(r-1)(b')), whose quantiles are within
    about 0.005 posterior standard deviations of the exact ones out to the 0.05% tails; other
    units are drawn exactly as log-ratios of gamma variates. Draws are ranked in chunks of
    about half a million; the ranks are then kept as packed integers, n_sims × units × 4
    bytes (8 bytes above 65,536 units): 40 MB for 10,000 units and 1,000 draws.

    Parameters
    ----------
    x, n : array-like of int
        Satisfied answers and answers per unit. Units with n == 0 get NaN everywhere and are
        left out of everyone else's ranking.
    confidence : float
        Interval level in (0, 1).
    n_sims : int
        Number of posterior draws.
    seed : int or None
        Seed for ``numpy.random.default_rng``; the same seed gives the same intervals.
    prior : (a, b)
        Beta prior parameters, both positive.

    Returns
    -------
    pandas.DataFrame
        One row per unit: ``x``, ``n``, ``posterior_mean``, ``rank``, ``rank_low``,
        ``rank_high`` (ranks as floats so that NaN can mark n == 0), out of
        ``(n > 0).sum()`` ranked units.
    """
    level = _check_confidence(confidence)
    whole = isinstance(n_sims, numbers.Integral) and not isinstance(n_sims, (bool, np.bool_))
    if not whole or n_sims < 1:
        raise ValueError(f"n_sims must be a positive whole number, got {n_sims!r}")
    try:
        prior_a, prior_b = (float(v) for v in prior)
    except (TypeError, ValueError):
        message = f"prior must be a pair (a, b) of positive numbers, got {prior!r}"
        raise ValueError(message) from None
    if not (prior_a > 0 and prior_b > 0 and np.isfinite(prior_a) and np.isfinite(prior_b)):
        raise ValueError(f"prior must be a pair (a, b) of positive numbers, got {prior!r}")
    x, n = _units(x, n)
    n_sims = int(n_sims)

    valid = np.flatnonzero(n > 0)
    units = valid.size
    posterior_mean = np.where(n > 0, (x + prior_a) / (n + prior_a + prior_b), np.nan)
    rank = np.full(x.shape, np.nan)
    rank_low = np.full(x.shape, np.nan)
    rank_high = np.full(x.shape, np.nan)
    if units > 0:
        rank[valid] = stats.rankdata(-posterior_mean[valid], method="min")
        low, high = _simulated_rank_quantiles(
            x[valid] + prior_a, n[valid] - x[valid] + prior_b, level, n_sims, seed
        )
        rank_low[valid], rank_high[valid] = low, high
    return pd.DataFrame(
        {
            "x": x,
            "n": n,
            "posterior_mean": posterior_mean,
            "rank": rank,
            "rank_low": rank_low,
            "rank_high": rank_high,
        }
    )


def _negated_logit_cubic(a, b):
    """Coefficients (c0, c1, c2, c3) such that -logit θ, θ ~ Beta(a, b), is approximately
    c0 + c1·w + c2·w² + c3·w³ with w ~ N(0, 1).

    logit θ = log G_a - log G_b for independent gamma variates, so its cumulants are exactly
    κ1 = ψ(a) - ψ(b), κ2 = ψ1(a) + ψ1(b), κ3 = ψ2(a) - ψ2(b), κ4 = ψ3(a) + ψ3(b), with ψk
    the polygamma functions. The Cornish-Fisher expansion with skewness γ1 = κ3 / κ2^1.5
    and excess kurtosis γ2 = κ4 / κ2² is

        w + γ1 (w² - 1)/6 + γ2 (w³ - 3w)/24 - γ1² (2w³ - 5w)/36;

    the negated logit has cumulants (-κ1, κ2, -κ3, κ4): the same expansion with -κ1, -γ1.
    """
    mean = special.digamma(a) - special.digamma(b)
    sd = np.sqrt(special.polygamma(1, a) + special.polygamma(1, b))
    skew = (special.polygamma(2, a) - special.polygamma(2, b)) / sd**3
    kurt = (special.polygamma(3, a) + special.polygamma(3, b)) / sd**4
    return (
        -(mean - sd * skew / 6.0),
        sd * (1.0 - kurt / 8.0 + 5.0 * skew**2 / 36.0),
        -sd * skew / 6.0,
        sd * (kurt / 24.0 - skew**2 / 18.0),
    )


def _simulated_rank_quantiles(a, b, level, n_sims, seed):
    """Low/high quantiles of each unit's rank over n_sims posterior draws (see rank_intervals)."""
    units = a.size
    if units == 1:
        return np.ones(1), np.ones(1)
    # Internal unit order: Cornish-Fisher units first, exactly drawn units after.
    approximate = np.minimum(a, b) >= _CORNISH_FISHER_MIN_SHAPE
    internal = np.concatenate([np.flatnonzero(approximate), np.flatnonzero(~approximate)])
    n_approx = int(approximate.sum())
    a_approx, b_approx = a[internal[:n_approx]], b[internal[:n_approx]]
    a_exact, b_exact = a[internal[n_approx:]], b[internal[n_approx:]]

    # Negated logit draws, so that an ascending sort puts the most satisfied unit first.
    coeffs = [c.astype(np.float32) for c in _negated_logit_cubic(a_approx, b_approx)]

    normal_rng, gamma_rng = np.random.default_rng(seed).spawn(2)
    index_bits = max(1, (units - 1).bit_length())
    pair_type = np.uint32 if 2 * index_bits <= 32 else np.uint64
    positions = np.arange(units, dtype=pair_type)
    unit_ids = np.arange(units, dtype=np.uint64)
    pairs = np.empty(n_sims * units, dtype=pair_type)
    chunk = max(1, _RANK_CHUNK_DRAWS // units)
    tiny = np.finfo(float).tiny
    for start in range(0, n_sims, chunk):
        rows = min(chunk, n_sims - start)
        draws = np.empty((rows, units), dtype=np.float32)
        if n_approx:
            w = normal_rng.standard_normal((rows, n_approx), dtype=np.float32)
            block = draws[:, :n_approx]  # Horner's rule, written straight into the draws
            np.multiply(coeffs[3], w, out=block)
            block += coeffs[2]
            block *= w
            block += coeffs[1]
            block *= w
            block += coeffs[0]
        if n_approx < units:
            shape = (rows, units - n_approx)
            log_a = np.log(np.maximum(gamma_rng.standard_gamma(a_exact, size=shape), tiny))
            log_b = np.log(np.maximum(gamma_rng.standard_gamma(b_exact, size=shape), tiny))
            draws[:, n_approx:] = log_b - log_a
        # Sort (value, unit) keys packed in one integer: much faster than argsort.
        packed = _order_keys(draws).astype(np.uint64)
        packed <<= np.uint64(32)
        packed |= unit_ids
        packed.sort(axis=1)
        # (unit, rank - 1) pairs, packed so that one global sort groups ranks by unit; the
        # low 32 bits of each sorted key are the unit id.
        target = pairs[start * units : (start + rows) * units].reshape(rows, units)
        np.copyto(target, packed, casting="unsafe")
        if pair_type is np.uint64:
            target &= np.uint64(0xFFFFFFFF)
        target <<= pair_type(index_bits)
        target |= positions
    pairs.sort()
    ranks_by_unit = pairs.reshape(units, n_sims)
    mask = pair_type((1 << index_bits) - 1)
    tail = (1.0 - level) / 2.0
    low_index = math.floor(tail * (n_sims - 1) + 1e-9)
    high_index = math.ceil((1.0 - tail) * (n_sims - 1) - 1e-9)
    low = np.empty(units)
    high = np.empty(units)
    low[internal] = (ranks_by_unit[:, low_index] & mask).astype(float) + 1.0
    high[internal] = (ranks_by_unit[:, high_index] & mask).astype(float) + 1.0
    return low, high


# --------------------------------------------------------------------------- shrinkage


@dataclass(frozen=True)
class BetaBinomialFit:
    """The beta prior fitted to all units by maximum likelihood.

    Attributes
    ----------
    alpha, beta : float
        Beta(α, β) parameters of the between-unit distribution of true shares.
    prior_mean : float
        α / (α + β), the level small units are pulled towards.
    prior_strength : float
        α + β, worth that many answers: a unit with n answers keeps n / (n + α + β) of its
        own share.
    log_likelihood : float
        Beta-binomial log-likelihood at the fit (with binomial coefficients).
    at_bound : bool
        True when the fit is at a boundary: α + β = 1e8 (no detectable spread between
        units, e.g. one unit or pure binomial chance — estimates are then essentially the
        pooled share), α + β = 1e-4, a prior mean within e^-30 of 0 or 1, or a
        degenerate prior (no satisfied answer anywhere, or only satisfied answers).
    converged : bool
        The optimiser's own success flag.
    n_units : int
        Units with n > 0 used in the fit.
    """

    alpha: float
    beta: float
    prior_mean: float
    prior_strength: float
    log_likelihood: float
    at_bound: bool
    converged: bool
    n_units: int


def beta_binomial_log_likelihood(x, n, alpha, beta) -> float:
    """Beta-binomial log-likelihood Σ log P(x_i | n_i, α, β).

    P(x | n, α, β) = C(n, x) · B(x + α, n - x + β) / B(α, β), with B the beta function
    (Griffiths 1973). Units with n == 0 contribute log 1 = 0.
    """
    x, n = _units(x, n)
    alpha = float(alpha)
    beta = float(beta)
    if not (alpha > 0 and beta > 0 and np.isfinite(alpha) and np.isfinite(beta)):
        raise ValueError(f"alpha and beta must be positive and finite, got {alpha!r}, {beta!r}")
    log_choose = special.gammaln(n + 1.0) - special.gammaln(x + 1.0) - special.gammaln(n - x + 1.0)
    kernel = special.betaln(x + alpha, n - x + beta) - special.betaln(alpha, beta)
    return float(np.sum(log_choose + kernel))


def _negative_log_likelihood(params, x, n, count):
    """-Σ count·[log B(x+α, n-x+β) - log B(α, β)] and its gradient in (logit μ, log(α+β))."""
    logit_mean, log_strength = params
    mean = special.expit(logit_mean)
    strength = math.exp(log_strength)
    alpha, beta = strength * mean, strength * (1.0 - mean)
    value = np.sum(
        count
        * (
            special.gammaln(x + alpha)
            - special.gammaln(alpha)
            + special.gammaln(n - x + beta)
            - special.gammaln(beta)
            - special.gammaln(n + strength)
            + special.gammaln(strength)
        )
    )
    common = special.digamma(strength) - special.digamma(n + strength)
    d_alpha = np.sum(count * (special.digamma(x + alpha) - special.digamma(alpha) + common))
    d_beta = np.sum(count * (special.digamma(n - x + beta) - special.digamma(beta) + common))
    d_logit = (d_alpha - d_beta) * strength * mean * (1.0 - mean)
    d_log_strength = d_alpha * alpha + d_beta * beta
    return -value, -np.array([d_logit, d_log_strength])


def _moment_start(x, n, count) -> tuple[float, float]:
    """Kleinman (1973)-style moment estimates of (prior mean, α + β) to start the fit."""
    total = np.sum(count * n)
    mean = np.sum(count * x) / total
    mean = min(max(mean, 1e-6), 1.0 - 1e-6)
    units = count.sum()
    spread = np.sum(count * n * (x / n - mean) ** 2) / (mean * (1.0 - mean))
    denominator = total - np.sum(count * n * n) / total
    rho = (spread - (units - 1.0)) / denominator if denominator > 0 else 0.0
    rho = min(max(rho, 1e-6), 0.99)  # intra-unit correlation 1/(1 + α + β)
    return mean, 1.0 / rho - 1.0


def beta_binomial_shrinkage(x, n, *, confidence=0.95) -> tuple[pd.DataFrame, BetaBinomialFit]:
    """Empirical-Bayes shrinkage of unit shares towards the overall level.

    Model: unit i's true share θ_i ~ Beta(α, β), and x_i | θ_i ~ Binomial(n_i, θ_i), so x_i
    is beta-binomial. (α, β) are fitted by maximum likelihood over all units with n > 0
    (Griffiths 1973), maximising

        ℓ(α, β) = Σ_i [log B(x_i + α, n_i - x_i + β) - log B(α, β)]

    over (logit μ, log(α + β)), μ = α/(α + β), by L-BFGS-B with the analytic gradient,
    started at moment estimates (Kleinman 1973). Identical (x, n) units are pooled first.
    Each unit's posterior is Beta(x_i + α, n_i - x_i + β), giving

        shrunken_i = (x_i + α) / (n_i + α + β)
                   = weight_i · x_i/n_i + (1 - weight_i) · μ,   weight_i = n_i / (n_i + α + β)

    (Efron & Morris 1975 for the idea), and an equal-tailed credible interval from the Beta
    quantiles. The shrunken estimate always lies between the unit's own share and μ, and
    small units move furthest.

    Degenerate cases:

    * No spread beyond chance (including a single unit): the likelihood keeps rising as
      α + β -> ∞. Detected by comparing the optimum with the binomial limit at the pooled
      share; α + β is then set to its cap 1e8 (``fit.at_bound``) and every estimate is
      essentially the pooled share with a near-zero-width interval (the model's honest
      answer: the data show no difference between units).
    * No satisfied answer anywhere (or only satisfied answers): the ML prior is a point
      mass at 0 (or 1). ``shrunken`` is then the observed share, ``weight`` 0, ``low`` and
      ``high`` NaN, and ``fit.alpha``, ``fit.beta`` NaN with ``prior_mean`` 0 (or 1).
    * Every unit has n == 0: the fit and all estimates are NaN.
    * Units with n == 0 always get NaN (their posterior would only repeat the prior).

    Parameters
    ----------
    x, n : array-like of int
        Satisfied answers and answers per unit.
    confidence : float
        Level of the credible intervals.

    Returns
    -------
    (table, fit)
        ``table``: pandas.DataFrame, one row per unit, with ``x``, ``n``, ``observed``
        (x/n), ``shrunken``, ``low``, ``high``, ``weight``. ``fit``: :class:`BetaBinomialFit`.
    """
    level = _check_confidence(confidence)
    x, n = _units(x, n)
    used = n > 0
    table = {
        "x": x,
        "n": n,
        "observed": np.where(used, x / np.where(used, n, 1.0), np.nan),
        "shrunken": np.full(x.shape, np.nan),
        "low": np.full(x.shape, np.nan),
        "high": np.full(x.shape, np.nan),
        "weight": np.full(x.shape, np.nan),
    }
    if not used.any():
        nan = float("nan")
        return pd.DataFrame(table), BetaBinomialFit(nan, nan, nan, nan, nan, False, False, 0)

    distinct, count = np.unique(np.column_stack([x[used], n[used]]), axis=0, return_counts=True)
    ux, un, count = distinct[:, 0], distinct[:, 1], count.astype(float)
    units = int(used.sum())
    satisfied, answers = float(np.sum(count * ux)), float(np.sum(count * un))
    if satisfied in (0.0, answers):
        # Nobody (or everybody) satisfied anywhere: the ML prior is a point mass at 0 (or 1).
        # Its "posteriors" would be zero-width intervals, which no data justify: give none.
        table["shrunken"][used] = table["observed"][used]
        table["weight"][used] = 0.0
        nan = float("nan")
        return pd.DataFrame(table), BetaBinomialFit(
            nan, nan, satisfied / answers, nan, 0.0, True, False, units
        )

    start_mean, start_strength = _moment_start(ux, un, count)
    low_strength, high_strength = (math.log(v) for v in _PRIOR_STRENGTH_RANGE)
    start = np.array(
        [
            special.logit(start_mean),
            min(max(math.log(start_strength), low_strength), high_strength),
        ]
    )
    bounds = [(-_LOGIT_MEAN_BOUND, _LOGIT_MEAN_BOUND), (low_strength, high_strength)]
    with np.errstate(over="ignore", under="ignore"):
        result = optimize.minimize(
            _negative_log_likelihood,
            start,
            args=(ux, un, count),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
        )
    logit_mean, log_strength = (float(v) for v in result.x)
    # As α + β -> ∞ the kernel tends to the binomial one at the pooled share. When that
    # limit is at least as likely as the optimum found, the likelihood is still rising (the
    # optimiser stalls on the flat ridge first): no spread beyond chance, so take the cap.
    pooled = satisfied / answers
    binomial_limit = float(
        np.sum(count * (ux * math.log(pooled) + (un - ux) * math.log1p(-pooled)))
    )
    if binomial_limit >= -float(result.fun):
        logit_mean, log_strength = float(special.logit(pooled)), high_strength
    mean = float(special.expit(logit_mean))
    strength = math.exp(log_strength)
    alpha, beta = strength * mean, strength * (1.0 - mean)
    at_bound = bool(
        abs(abs(logit_mean) - _LOGIT_MEAN_BOUND) < 1e-6
        or abs(log_strength - high_strength) < 1e-3
        or abs(log_strength - low_strength) < 1e-3
    )

    post_a = x[used] + alpha
    post_b = n[used] - x[used] + beta
    tail = (1.0 - level) / 2.0
    table["shrunken"][used] = post_a / (post_a + post_b)
    table["low"][used] = special.betaincinv(post_a, post_b, tail)
    table["high"][used] = special.betaincinv(post_a, post_b, 1.0 - tail)
    table["weight"][used] = n[used] / (n[used] + strength)
    fit = BetaBinomialFit(
        alpha=alpha,
        beta=beta,
        prior_mean=mean,
        prior_strength=strength,
        log_likelihood=beta_binomial_log_likelihood(x[used], n[used], alpha, beta),
        at_bound=at_bound,
        converged=bool(result.success),
        n_units=units,
    )
    return pd.DataFrame(table), fit


# --------------------------------------------------------------------------- change


def change_flags(
    x_now, n_now, x_prev, n_prev, *, confidence=0.95, method="newcombe"
) -> pd.DataFrame:
    """Change in each unit's satisfied share since the previous period.

    The difference p_now - p_prev and its interval come from
    :func:`analysis.intervals.difference_ci` (Newcombe 1998 hybrid score interval by
    default), treating the two periods as independent samples. The flag is

    * ``"improved"`` when the whole interval lies above 0 (low > 0),
    * ``"declined"`` when it lies below 0 (high < 0),
    * ``"no clear change"`` when it contains 0,
    * ``"insufficient data"`` when either period has no answers (n == 0) or is missing
      (NaN in x or n, e.g. a counter that did not exist before); difference and limits
      are then NaN.

    Returns
    -------
    pandas.DataFrame
        One row per unit: ``x_now``, ``n_now``, ``x_prev``, ``n_prev``, ``difference``,
        ``low``, ``high``, ``change``.
    """
    if method not in DIFFERENCE_METHODS:
        choices = ", ".join(DIFFERENCE_METHODS)
        raise ValueError(f"unknown method {method!r}; choose one of: {choices}")
    level = _check_confidence(confidence)
    arrays = {
        name: _as_1d(name, value)
        for name, value in (
            ("x_now", x_now), ("n_now", n_now), ("x_prev", x_prev), ("n_prev", n_prev)
        )
    }
    x1, m1, x2, m2 = _broadcast(**arrays)
    missing = np.isnan(x1) | np.isnan(m1) | np.isnan(x2) | np.isnan(m2)
    # Missing periods are passed as 0/0, which difference_ci turns into NaN.
    x1, m1, x2, m2 = (np.where(missing, 0.0, a) for a in (x1, m1, x2, m2))
    difference, low, high = difference_ci(x1, m1, x2, m2, method=method, confidence=level)
    difference, low, high = (
        np.atleast_1d(np.asarray(v, dtype=float)) for v in (difference, low, high)
    )
    change = np.where(
        np.isnan(difference),
        INSUFFICIENT_DATA,
        np.where(low > 0.0, IMPROVED, np.where(high < 0.0, DECLINED, NO_CLEAR_CHANGE)),
    ).astype(object)
    x_now_out, n_now_out, x_prev_out, n_prev_out = _broadcast(**arrays)
    return pd.DataFrame(
        {
            "x_now": x_now_out,
            "n_now": n_now_out,
            "x_prev": x_prev_out,
            "n_prev": n_prev_out,
            "difference": difference,
            "low": low,
            "high": high,
            "change": change,
        }
    )
