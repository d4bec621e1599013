"""Comparing units with a target: funnel limits, over-dispersion, exact tails and verdicts.

A unit is published as **above** or **below** expected only when two things hold:

1. its exact tail probability under the null — the count of satisfied answers a unit of its
   size would show if it differed from the target only as much as units generally do — is
   small. The null is beta-binomial: binomial chance around the target p0, widened by the
   unit's own design effect (clustered ratings) and by τ², the between-unit variance the table
   itself shows (DerSimonian-Laird). Tails are summed exactly over whole counts, so a 30/30
   unit against a 0.95 target has P(X >= 30) = 0.215, not "above";
2. it survives Benjamini-Hochberg false-discovery-rate control across the table (q = 0.05;
   Jones, Ohlssen & Spiegelhalter 2008), so a table of 200 ordinary units names nobody.

The funnel bands (95 % and 99.8 %) are the per-unit version of the same exact test, without
the multiplicity control: they are what the funnel plot draws. :func:`funnel_curve` returns the
curves for any grid of sample sizes from a results table, so the plot never recomputes them.

Sources
-------
* Spiegelhalter DJ (2005a). Funnel plots for comparing institutional performance.
  Stat Med 24:1185-1202.
* Spiegelhalter DJ (2005b). Handling over-dispersion of performance indicators.
  Qual Saf Health Care 14:347-351.
* DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. Control Clin Trials
  7:177-188.
* Jones HE, Ohlssen DI, Spiegelhalter DJ (2008). Use of the false discovery rate when
  comparing multiple health care providers. J Clin Epidemiol 61:232-240.
* Skellam JG (1948). A probability distribution derived from the binomial distribution by
  regarding the probability of success as variable between the sets of trials. J R Stat Soc B
  10:257-261 (the beta-binomial).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from analysis.intervals import _as_counts, _check_confidence
from analysis.multiplicity import benjamini_hochberg

__all__ = [
    "ABOVE",
    "WITHIN",
    "BELOW",
    "INSUFFICIENT",
    "INSUFFICIENT_DATA",
    "COMPARISON_VALUES",
    "ADJUSTMENTS",
    "DEFAULT_LEVELS",
    "FDR_LEVEL",
    "funnel_limits",
    "adjusted_funnel_limits",
    "funnel_curve",
    "beta_binomial_tails",
    "Overdispersion",
    "overdispersion",
    "funnel_flags",
]

#: Verdict and funnel band: more satisfied than the target allows.
ABOVE = "above"
#: Verdict and funnel band: compatible with the target.
WITHIN = "within"
#: Verdict and funnel band: less satisfied than the target allows.
BELOW = "below"
#: Verdict (``comparison`` column): the unit is not published, so it is not compared.
INSUFFICIENT = "insufficient"
#: Funnel band and change flag: the unit has no (publishable) data for the comparison.
INSUFFICIENT_DATA = "insufficient data"
#: The values of the ``comparison`` column, in display order.
COMPARISON_VALUES = (ABOVE, WITHIN, BELOW, INSUFFICIENT)
#: Over-dispersion handling accepted by :func:`funnel_flags`.
ADJUSTMENTS = ("additive", "auto", "none", "multiplicative")
#: The funnel bands drawn: 95 % ("2 standard deviations") and 99.8 % ("3").
DEFAULT_LEVELS = (0.95, 0.998)
#: False-discovery rate of the published above/below verdicts.
FDR_LEVEL = 0.05

# False-discovery rate of the leave-one-out screen for clear outliers, whose units are left
# out of the τ² estimate (strict: a screen at 0.05 lets small over-dispersed tables shrink
# their own τ² by chance).
_SCREEN_FDR = 0.001
# Windows of the exact tail sums: terms more than e^-40 below the first one are dropped.
_TAIL_DROP = 40.0


# --------------------------------------------------------------------------- validation


def _level_label(level: float) -> str:
    """Column suffix for a level: 0.95 -> "95", 0.998 -> "99.8"."""
    return f"{100.0 * level:.10g}"


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


def _check_nonnegative(name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a single non-negative number, got {value!r}")
    number = float(value)
    if not (np.isfinite(number) and number >= 0.0):
        raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    return number


def _check_design_effect(design_effect, shape) -> np.ndarray:
    if design_effect is None:
        return np.ones(shape)
    deff = np.broadcast_to(_as_1d("design_effect", design_effect), shape).astype(float)
    if not np.all(np.isfinite(deff) & (deff >= 1.0)):
        raise ValueError("design_effect must be finite and at least 1 for every unit")
    return deff


# --------------------------------------------------------------------------- the null distribution


def _null_rho(n, p0, tau2, deff):
    """Intra-unit correlation ρ of the beta-binomial null of a unit with n answers.

    Var(X) = n p0 q0 · deff + n (n - 1) τ² (design effect of the ratings plus between-unit
    variance τ²) equals the beta-binomial variance n p0 q0 [1 + (n - 1) ρ] when

        ρ = (deff - 1) / (n - 1) + τ² / (p0 q0).
    """
    pq = p0 * (1.0 - p0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(n > 1, (deff - 1.0) / np.maximum(n - 1.0, 1.0), 0.0) + tau2 / pq
    # A between-unit variance at or beyond p0 q0 is no longer a beta distribution.
    return np.clip(rho, 0.0, 1.0 - 1e-9)


def _segments(lengths: np.ndarray):
    """Segment number and position within the segment for ragged windows of these lengths."""
    lengths = lengths.astype(np.int64)
    total = int(lengths.sum())
    segment = np.repeat(np.arange(lengths.size), lengths)
    starts = np.cumsum(lengths) - lengths
    position = np.arange(total, dtype=np.int64) - starts[segment]
    return segment, position, starts


def _log_pmf(k, n, p0, a, b, binomial):
    """log P(X = k) for the binomial (where ``binomial``) or beta-binomial (a, b) null."""
    log_choose = special.gammaln(n + 1.0) - special.gammaln(k + 1.0) - special.gammaln(n - k + 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        binom_part = special.xlogy(k, p0) + special.xlog1py(n - k, -p0)
        beta_part = special.betaln(k + a, n - k + b) - special.betaln(a, b)
    return log_choose + np.where(binomial, binom_part, beta_part)


def _shape(p0, rho):
    """Beta parameters (a, b) of the beta-binomial with mean p0 and intra-unit correlation ρ."""
    with np.errstate(divide="ignore"):
        strength = np.where(rho > 0, 1.0 / np.where(rho > 0, rho, 1.0) - 1.0, np.inf)
    return p0 * strength, (1.0 - p0) * strength


def beta_binomial_tails(x, n, target, rho) -> tuple[np.ndarray, np.ndarray]:
    """Exact tails ``P(X <= x)`` and ``P(X >= x)`` of X ~ BetaBinomial(n, target, ρ).

    The beta-binomial with mean ``target`` and intra-unit correlation ρ has
    α + β = 1/ρ - 1; ρ = 0 is the binomial. Both tails include P(X = x), so their sum
    exceeds 1 by that much: the tests they give respect the discreteness of the counts
    (a unit is never flagged on a tail probability above the nominal one).

    The binomial tails come from ``scipy.stats.binom``. The beta-binomial ones are summed
    exactly, term by term, from x outwards on the side away from the mean, using the ratio
    P(k + 1)/P(k) = (n - k)(k + α) / ((k + 1)(n - k - 1 + β)), in blocks; the other tail is
    1 minus that sum plus P(X = x). When α, β >= 1 the probabilities are log-concave: once
    they fall they keep falling at least by the last ratio r, so after a block ending in a
    fall the next block is just long enough (by that bound) to reach e^-40 below the first
    term, and the sum stops there (the rest is below e^-40 of the sum). Blocks that do not yet
    end in a fall double in length (64, 128, …). Otherwise (J- or U-shaped distributions)
    the whole range is summed.

    Parameters are broadcast together; returns two float arrays.
    """
    x, n = _units(x, n)
    x, n, p0, rho = _broadcast(x=x, n=n, target=_check_target(target), rho=_as_1d("rho", rho))
    if not np.all(np.isfinite(rho) & (rho >= 0.0) & (rho < 1.0)):
        raise ValueError("rho must lie in [0, 1)")
    return _tails(x, n, p0, rho)


def _tails(x, n, p0, rho):
    lower = np.empty(x.shape)
    upper = np.empty(x.shape)
    plain = rho <= 0.0
    if plain.any():
        lower[plain] = stats.binom.cdf(x[plain], n[plain], p0[plain])
        upper[plain] = stats.binom.sf(x[plain] - 1.0, n[plain], p0[plain])
    spread = np.flatnonzero(~plain)
    if spread.size:
        low_s, high_s = _beta_binomial_tails(x[spread], n[spread], p0[spread], rho[spread])
        lower[spread], upper[spread] = low_s, high_s
    return np.clip(lower, 0.0, 1.0), np.clip(upper, 0.0, 1.0)


def _beta_binomial_tails(x, n, p0, rho):
    a, b = _shape(p0, rho)
    up = x >= n * p0  # sum the tail on the side of x away from the mean
    direction = np.where(up, 1.0, -1.0)
    room = np.where(up, n - x, x) + 1.0  # terms from x to the end of the range
    concave = (a >= 1.0) & (b >= 1.0)
    log_first = _log_pmf(x, n, p0, a, b, np.zeros(x.shape, dtype=bool))
    far = np.zeros(x.shape)
    done = np.zeros(x.shape)  # terms summed so far
    log_last = log_first.copy()  # log of the last term summed (the next one is built on it)
    active = np.arange(x.size)
    want = np.full(x.size, 64.0)  # length of the next block of each unit
    while active.size:
        lengths = np.minimum(room[active] - done[active], want[active]).astype(np.int64)
        segment, position, starts = _segments(lengths)
        unit = active[segment]
        offset = done[unit] + position  # terms from x
        k = x[unit] + direction[unit] * offset
        ns, aa, bb = n[unit], a[unit], b[unit]
        # log P(k)/P(k - 1) moving outwards: the ratio from the previous term to this one.
        previous = k - direction[unit]
        # Upwards P(k)/P(k - 1) = (n - k + 1)(k - 1 + α) / (k (n - k + β)); downwards
        # P(k)/P(k + 1) = (k + 1)(n - k - 1 + β) / ((n - k)(k + α)): in terms of the previous
        # count j, (n - j)(j + α) / ((j + 1)(n - j - 1 + β)) and its mirror image.
        upward = direction[unit] > 0
        mirror = np.where(upward, previous, ns - previous)
        alpha_side = np.where(upward, aa, bb)
        beta_side = np.where(upward, bb, aa)
        with np.errstate(divide="ignore", invalid="ignore"):
            steps = np.log(((ns - mirror) * (mirror + alpha_side))
                           / ((mirror + 1.0) * (ns - mirror - 1.0 + beta_side)))
        steps = np.where(offset == 0, 0.0, steps)  # the term at x itself is log_first
        steps = np.where(np.isnan(steps), -np.inf, steps)
        running = np.cumsum(steps)
        running -= (running[starts] - steps[starts])[segment]
        log_terms = log_last[unit] + running
        log_terms = np.where(offset == 0, log_first[unit], log_terms)
        far[active] += np.bincount(segment, weights=np.exp(log_terms), minlength=active.size)
        ends = starts + lengths - 1
        log_last[active] = log_terms[ends]
        done[active] += lengths
        # Finished: the range is exhausted, or (log-concave) the terms are falling and already
        # e^-40 below the first, so the rest of the tail is smaller still.
        last_step = steps[ends]
        falling = last_step < 0
        finished = (done[active] >= room[active]) | (
            concave[active] & falling & (log_last[active] < log_first[active] - _TAIL_DROP)
        )
        # Log-concave and falling: the terms keep falling at least by the last ratio, so this
        # many more reach e^-40 below the first term. Otherwise double the block.
        with np.errstate(divide="ignore", invalid="ignore"):
            needed = np.ceil((log_last[active] - log_first[active] + _TAIL_DROP) / -last_step) + 1
        bounded = concave[active] & falling & np.isfinite(needed)
        want[active] = np.where(bounded, np.maximum(needed, 1.0), 2.0 * want[active])
        active = active[~finished]
    at_x = np.exp(log_first)
    near = 1.0 - far + at_x
    lower = np.where(up, near, far)
    upper = np.where(up, far, near)
    return lower, upper


def _interpolated_limits(n, p0, rho, tail):
    """Funnel limits of the (beta-)binomial null for a tail probability, per sample size.

    Lower: the ``tail``-quantile of (R - U)/n; upper: the (1 - ``tail``)-quantile of
    (R + U)/n, with R the null count and U ~ Uniform(0, 1). A share x/n is at or below the
    lower limit exactly when P(R <= x) <= tail, and at or above the upper one exactly when
    P(R >= x) <= tail: the smooth curves agree with the exact per-unit tests. NaN where no
    count of that size can be flagged on that side.
    """
    a, b = _shape(p0, rho)
    binomial = rho <= 0.0
    mean = n * p0
    sd = np.sqrt(n * p0 * (1.0 - p0) * (1.0 + (n - 1.0) * rho))
    reach = np.where((a >= 1.0) & (b >= 1.0) | binomial, 12.0 * sd + 10.0, np.inf)
    start = np.maximum(0.0, np.floor(mean - reach))
    stop = np.minimum(n, np.ceil(mean + reach))
    lengths = (stop - start + 1.0).astype(np.int64)
    segment, position, starts = _segments(lengths)
    k = start[segment] + position
    pmf = np.exp(_log_pmf(k, n[segment], p0[segment], a[segment], b[segment], binomial[segment]))
    cdf = np.cumsum(pmf)
    cdf = cdf - np.concatenate([[0.0], cdf])[starts][segment]
    ends = starts + lengths
    reverse = np.cumsum(pmf[::-1])[::-1]  # Σ from here to the end of the whole array
    after = np.concatenate([reverse, [0.0]])[ends][segment]
    sf = reverse - after  # P(R >= k) within the window

    # Lower: the last k with cdf(k) <= tail (k = -1 when even P(R = 0) exceeds it).
    low_ok = cdf <= tail
    last_low = np.full(n.size, -1, dtype=np.int64)
    np.maximum.at(last_low, segment[low_ok], position[low_ok])
    has_low = last_low >= 0
    at = starts + np.maximum(last_low, 0)
    next_pmf = np.where(last_low + 1 < lengths, pmf[np.minimum(at + 1, ends - 1)], np.nan)
    lower = (k[at] + (tail - cdf[at]) / next_pmf) / n
    lower = np.where(has_low, lower, np.nan)

    # Upper: the first k with sf(k) <= tail.
    high_ok = sf <= tail
    first_high = np.full(n.size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_high, segment[high_ok], position[high_ok])
    has_high = first_high < lengths
    at = starts + np.where(has_high, first_high, 0)
    previous_pmf = np.where(has_high & (first_high > 0), pmf[np.maximum(at - 1, starts)], np.nan)
    upper = (k[at] - (tail - sf[at]) / previous_pmf) / n
    upper = np.where(has_high, upper, np.nan)
    return lower, upper


def _normal_limits(n, p0, level, variance_factor):
    z = stats.norm.isf((1.0 - level) / 2.0)
    spread = np.sqrt(variance_factor * p0 * (1.0 - p0) / n)
    return p0 - z * spread, p0 + z * spread


# --------------------------------------------------------------------------- funnel limits


def funnel_limits(n, target, *, levels=DEFAULT_LEVELS) -> pd.DataFrame:
    """Exact binomial funnel limits around a target share, for each sample size.

    For R ~ Binomial(n, p0) and U ~ Uniform(0, 1), the limits at level L are

        lower = the (1 - L)/2 quantile of (R - U) / n,
        upper = the (1 + L)/2 quantile of (R + U) / n,

    i.e. with t = (1 - L)/2, x_l the largest count with P(R <= x_l) <= t and x_u the
    smallest with P(R >= x_u) <= t,

        lower = [x_l + (t - P(R <= x_l)) / P(R = x_l + 1)] / n,
        upper = [x_u - (t - P(R >= x_u)) / P(R = x_u - 1)] / n.

    The interpolation (Spiegelhalter 2005a, Appendix) makes the step functions of the exact
    quantiles smooth in n, and it is placed so that a share is at or beyond a limit exactly
    when its exact one-sided tail probability is at most t: ``x/n <= lower`` iff
    ``P(R <= x) <= t`` and ``x/n >= upper`` iff ``P(R >= x) <= t``. (Spiegelhalter's appendix
    takes both limits from R - U; its upper limit then flags the count x_u - 1, whose tail
    probability exceeds t — e.g. 30 of 30 "above" a 0.95 target at 99.8 % although
    P(R >= 30) = 0.215.) Where no count of size n can be flagged on a side (P(R = n) > t for
    the upper limit, P(R = 0) > t for the lower one) that limit is NaN.

    Parameters
    ----------
    n : int or array-like of int
        Sample sizes. ``n == 0`` gives NaN limits.
    target : float or array-like
        p0 in (0, 1); an array broadcasts against ``n``.
    levels : sequence of float
        Two-sided levels in (0, 1).

    Returns
    -------
    pandas.DataFrame
        ``n``, ``target``, then ``lower_<L>`` and ``upper_<L>`` per level, ``<L>`` in percent
        (``lower_95``, ``upper_95``, ``lower_99.8``, ``upper_99.8``).
    """
    return adjusted_funnel_limits(n, target, method="none", levels=levels)


def adjusted_funnel_limits(
    n, target, *, method="none", phi=1.0, tau2=0.0, levels=DEFAULT_LEVELS
) -> pd.DataFrame:
    """Funnel limits, optionally widened for over-dispersion.

    ``method``
        ``"none"``
            The exact binomial limits of :func:`funnel_limits`.
        ``"additive"``
            Random effects: units' true shares vary around p0 with variance τ²; the null
            count is beta-binomial with mean p0 and intra-unit correlation ρ = τ² / (p0 q0),
            i.e. variance n p0 q0 + n (n - 1) τ². Limits are its exact interpolated quantiles,
            as in :func:`funnel_limits`. As n grows the funnel no longer closes to p0 but to
            the quantiles of the Beta distribution of true shares (about p0 ± z_L·τ).
        ``"multiplicative"``
            Spiegelhalter (2005a, sec. 5.1; 2005b): normal limits inflated by sqrt(φ),
            p0 ± z_L · sqrt(φ p0 q0 / n); φ below 1 is treated as 1.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`funnel_limits`.
    """
    if method not in ("none", "additive", "multiplicative"):
        raise ValueError(
            f"unknown method {method!r}; choose one of: none, additive, multiplicative"
        )
    levels = _check_levels(levels)
    sizes = _as_counts("n", _as_1d("n", n))
    sizes, p0 = _broadcast(n=sizes, target=_check_target(target))
    table = {"n": sizes, "target": p0}
    empty = sizes == 0
    safe = np.where(empty, 1.0, sizes)
    if method == "multiplicative":
        factor = max(_check_nonnegative("phi", phi), 1.0)
        for level in levels:
            low, high = _normal_limits(safe, p0, level, factor)
            label = _level_label(level)
            table[f"lower_{label}"] = np.where(empty, np.nan, low)
            table[f"upper_{label}"] = np.where(empty, np.nan, high)
        return pd.DataFrame(table)
    tau2 = _check_nonnegative("tau2", tau2) if method == "additive" else 0.0
    rho = _null_rho(safe, p0, tau2, np.ones_like(p0))
    for level in levels:
        low, high = _interpolated_limits(safe, p0, rho, (1.0 - level) / 2.0)
        label = _level_label(level)
        table[f"lower_{label}"] = np.where(empty, np.nan, low)
        table[f"upper_{label}"] = np.where(empty, np.nan, high)
    return pd.DataFrame(table)


def funnel_curve(table, n_grid) -> pd.DataFrame:
    """The funnel bands a results table was judged against, for a grid of sample sizes.

    ``table`` is a :func:`analysis.satisfaction_table` result (or its ``attrs`` mapping);
    its ``attrs["funnel"]`` records the target, the over-dispersion adjustment, τ² (or φ)
    and the levels. ``n_grid`` is the x-axis of the plot: **effective** sample sizes. A unit
    is drawn at (``n_eff``, ``index``) — with no cluster column n_eff = n — and its
    ``funnel_95`` / ``funnel_998`` band is the one these curves show: for unclustered ratings
    a share is at or beyond a curve exactly when the unit is flagged; for clustered ratings
    the unit's own test uses its design effect, which the curve at n_eff approximates.

    Returns a DataFrame with ``n``, ``target`` and ``lower_<L>``/``upper_<L>`` per level
    (``lower_95``, ``upper_95``, ``lower_99.8``, ``upper_99.8``). NaN marks sizes at which no
    unit can be flagged on that side (draw no line there), and every limit is NaN when the
    table made no comparison (no publishable unit).
    """
    attrs = table.attrs if isinstance(table, pd.DataFrame) else table
    if not isinstance(attrs, Mapping) or "funnel" not in attrs:
        raise ValueError("funnel_curve needs a satisfaction_table result (attrs['funnel'])")
    funnel = attrs["funnel"]
    levels = tuple(funnel["levels"])
    sizes = _as_counts("n_grid", _as_1d("n_grid", n_grid))
    target = float(funnel["target"])
    if not 0.0 < target < 1.0 or funnel["adjustment"] is None:
        frame = {"n": sizes, "target": np.full(sizes.shape, target)}
        for level in levels:
            label = _level_label(level)
            frame[f"lower_{label}"] = np.full(sizes.shape, np.nan)
            frame[f"upper_{label}"] = np.full(sizes.shape, np.nan)
        return pd.DataFrame(frame)
    adjustment = funnel["adjustment"]
    method = "multiplicative" if adjustment == "multiplicative" else "additive"
    return adjusted_funnel_limits(
        sizes, target, method=method, phi=float(funnel.get("phi") or 1.0),
        tau2=float(funnel.get("tau2") or 0.0), levels=levels,
    )


# --------------------------------------------------------------------------- over-dispersion


@dataclass(frozen=True)
class Overdispersion:
    """Over-dispersion of units around a target: estimate, test and between-unit variance.

    Attributes
    ----------
    phi : float
        φ = Q / I, the mean squared z-score; about 1 when units differ by chance only.
    statistic : float
        Q = Σ z_i², the Pearson statistic (Cochran's Q), referred to χ² on ``df``.
    df : int
        I - 1 when the target was estimated from these units, I when it was given.
    p_value : float
        P(χ²_df >= Q). Small values mean more spread than chance.
    tau2 : float
        τ², the DerSimonian-Laird between-unit variance of true shares (0 when Q <= df).
    n_units : int
        I, the number of units with n > 0.
    winsorize : float
        The fraction Winsorised at each end (0: none).
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


def _winsorised_null_mean_square(fraction: float) -> float:
    """E[clip(Z, -c, c)²] for Z ~ N(0, 1) and c its (1 - fraction) quantile."""
    c = stats.norm.isf(fraction)
    inside = (2.0 * stats.norm.cdf(c) - 1.0) - 2.0 * c * stats.norm.pdf(c)
    return float(inside + 2.0 * fraction * c * c)


def overdispersion(x, n, target, *, winsorize=0.0, design_effect=None,
                   target_estimated=True) -> Overdispersion:
    """Estimate and test over-dispersion around a target (Spiegelhalter 2005a sec. 5, 2005b).

    With y_i = x_i/n_i and s_i² = d_i · p0 q0 / n_i (d_i the design effect of unit i's
    ratings, 1 unless given), z_i = (y_i - p0)/s_i, Q = Σ z_i² and φ = Q / I. Under "chance
    only" Q is referred to χ² on I - 1 degrees of freedom (I when the target was given rather
    than estimated from the same units, ``target_estimated=False``). The between-unit
    variance is the DerSimonian & Laird (1986) moment estimate with weights w_i = 1/s_i²,

        τ² = max(0, (Q - df) / (Σw - Σw²/Σw))      (target estimated),
        τ² = max(0, (Q - I) / Σw)                  (target given),

    which for a pooled target p0 = Σx/Σn (the weighted mean of the y_i) is exactly the
    DerSimonian-Laird estimator of a random-effects meta-analysis of the units.

    ``winsorize`` (default 0) sets the top and bottom fraction of z-scores to the
    corresponding percentiles first, as Spiegelhalter (2005b) suggests so that a few outlying
    units do not inflate φ. Winsorising also shrinks the z-scores of ordinary units: for
    normal z-scores the mean square falls to c = E[clip(Z)²] (0.679 at 10 %), which biased φ
    and τ² low (10.8 % of units outside a "95 %" funnel when τ = 0.02). So the Winsorised mean
    square is divided by c, which makes it unbiased for normal z-scores at any spread, before
    Q, the test and τ² are computed from it.

    Returns
    -------
    Overdispersion
        With fewer than two units (one, with a given target) the test is undefined:
        ``p_value`` NaN and ``tau2`` 0; φ is NaN when there are no units.
    """
    winsorize = _check_nonnegative("winsorize", winsorize)
    if winsorize >= 0.5:
        raise ValueError(f"winsorize must be below 0.5 (a fraction at each end), got {winsorize!r}")
    x, n = _units(x, n)
    x, n, p0 = _broadcast(x=x, n=n, target=_check_target(target))
    deff = _check_design_effect(design_effect, n.shape)
    return _overdispersion(x, n, p0, deff, winsorize, bool(target_estimated))


def _overdispersion(x, n, p0, deff, winsorize, target_estimated) -> Overdispersion:
    used = n > 0
    units = int(used.sum())
    if units == 0:
        return Overdispersion(np.nan, np.nan, 0, np.nan, 0.0, 0, winsorize)
    x, n, p0, deff = x[used], n[used], p0[used], deff[used]
    variance = deff * p0 * (1.0 - p0) / n
    z = (x / n - p0) / np.sqrt(variance)
    if winsorize > 0.0:
        low, high = np.quantile(z, [winsorize, 1.0 - winsorize])
        squares = np.clip(z, low, high) ** 2 / _winsorised_null_mean_square(winsorize)
    else:
        squares = z * z
    statistic = float(squares.sum())
    phi = statistic / units
    df = units - 1 if target_estimated else units
    if df == 0:
        return Overdispersion(phi, statistic, 0, np.nan, 0.0, units, winsorize)
    p_value = float(stats.chi2.sf(statistic, df))
    weights = 1.0 / variance
    if target_estimated:
        denominator = weights.sum() - np.sum(weights * weights) / weights.sum()
    else:
        denominator = weights.sum()
    tau2 = float((statistic - df) / denominator) if statistic > df and denominator > 0 else 0.0
    return Overdispersion(phi, statistic, df, p_value, tau2, units, winsorize)


# --------------------------------------------------------------------------- flags and verdicts


def funnel_flags(
    x,
    n,
    target,
    *,
    levels=DEFAULT_LEVELS,
    adjustment="additive",
    winsorize=0.0,
    significance=0.05,
    phi=None,
    tau2=None,
    design_effect=None,
    target_estimated=True,
    fdr=FDR_LEVEL,
    limits=True,
) -> pd.DataFrame:
    """Compare each unit with the target: exact tail probabilities, funnel bands and verdicts.

    The null for unit i is a beta-binomial count with mean n_i p0 and variance

        n_i p0 q0 · d_i + n_i (n_i - 1) τ²

    (d_i its design effect, τ² the between-unit variance; see ``adjustment``). Its exact tails
    P(X <= x_i) and P(X >= x_i) (:func:`beta_binomial_tails`) give

    * ``flag_<L>`` per level L (the funnel bands): ``"below"`` when P(X <= x_i) <= (1 - L)/2,
      ``"above"`` when P(X >= x_i) <= (1 - L)/2, else ``"within"``; ``"insufficient data"``
      when n_i = 0. With ``limits`` the unit's own band limits (:func:`funnel_limits`'s
      interpolation under its null) are returned as ``lower_<L>``/``upper_<L>``: ``below``
      exactly when the share is at or under ``lower``, ``above`` exactly when at or over
      ``upper``.
    * ``p_value`` = min(1, 2·min(tails)), ``q_value`` its Benjamini-Hochberg adjustment over
      the units compared, and the published verdict ``comparison``: ``"above"`` / ``"below"``
      (the side of the smaller tail) when ``q_value <= fdr``, else ``"within"``;
      ``"insufficient"`` when n_i = 0.

    ``adjustment``
        ``"additive"`` (default): τ² is the DerSimonian-Laird estimate of
            :func:`overdispersion` (0 when units vary no more than chance), unless given.
            Always applied — a pre-test that switches it on only when "significant" leaves
            mild over-dispersion unadjusted and its units flagged. Clear outliers are left out
            of the τ² estimate so that they cannot hide themselves by widening the funnel: a
            unit is left out when its leave-one-out predictive p-value — its count against the
            target and τ² of the *other* units, with the target's own sampling variance —
            survives Benjamini-Hochberg at 0.001 (Jones & Spiegelhalter 2011 use such
            cross-validatory p-values for the same reason). ``attrs["tau2_units_left_out"]``
            counts them.
        ``"auto"``: the additive adjustment only when the over-dispersion test is
            significant at ``significance``, else none (the older behaviour).
        ``"none"``: τ² = 0; chance (and the design effect) only.
        ``"multiplicative"``: normal approximation with variance φ·d_i·p0 q0/n_i, φ >= 1
            (estimated unless given); tails from the normal distribution.

    Returns
    -------
    pandas.DataFrame
        One row per unit: ``x``, ``n``, ``proportion``, ``z`` (unadjusted, (y - p0)/sqrt(p0
        q0/n)), ``z_adjusted`` (over the null standard deviation), then per level
        ``lower_<L>``, ``upper_<L>`` (with ``limits``), ``flag_<L>``; then ``p_lower``
        (P(X <= x)), ``p_upper`` (P(X >= x)), ``p_value``, ``q_value``, ``comparison`` and
        ``adjustment``. ``attrs``: ``adjustment``, ``phi``, ``tau2``,
        ``overdispersion_p_value``, ``fdr``, ``tau2_units_left_out``.
    """
    if adjustment not in ADJUSTMENTS:
        choices = ", ".join(ADJUSTMENTS)
        raise ValueError(f"unknown adjustment {adjustment!r}; choose one of: {choices}")
    levels = _check_levels(levels)
    significance = _check_confidence(significance, "significance")
    fdr = _check_confidence(fdr, "fdr")
    winsorize = _check_nonnegative("winsorize", winsorize)
    if winsorize >= 0.5:
        raise ValueError(f"winsorize must be below 0.5 (a fraction at each end), got {winsorize!r}")
    x, n = _units(x, n)
    x, n, p0 = _broadcast(x=x, n=n, target=_check_target(target))
    deff = _check_design_effect(design_effect, n.shape)

    fitted = _overdispersion(x, n, p0, deff, winsorize, bool(target_estimated))
    applied, phi_used, tau2_used = adjustment, 1.0, 0.0
    left_out = 0
    if adjustment == "auto":
        significant = np.isfinite(fitted.p_value) and fitted.p_value < significance
        applied = "additive" if significant else "none"
    if applied == "additive":
        if tau2 is not None:
            tau2_used = _check_nonnegative("tau2", tau2)
        else:
            # Units that stand apart from all the others would widen their own null (one
            # unit at 50 % among twelve at 80 % inflates τ² enough to hide itself): τ² is
            # estimated from the units that the leave-one-out screen does not name.
            outliers = _leave_one_out_outliers(x, n, deff, p0, target_estimated, _SCREEN_FDR)
            left_out = int(outliers.sum())
            kept = fitted if not left_out else _overdispersion(
                x[~outliers], n[~outliers], p0[~outliers], deff[~outliers], winsorize,
                bool(target_estimated),
            )
            tau2_used = kept.tau2
    elif adjustment == "multiplicative":
        phi_used = _check_nonnegative("phi", phi) if phi is not None else fitted.phi
        phi_used = max(phi_used, 1.0) if np.isfinite(phi_used) else 1.0

    empty = n == 0
    safe = np.where(empty, 1.0, n)
    proportion = np.where(empty, np.nan, x / safe)
    pq = p0 * (1.0 - p0)
    z = np.where(empty, np.nan, (proportion - p0) / np.sqrt(pq / safe))
    if applied == "multiplicative":
        null_sd = np.sqrt(phi_used * deff * pq / safe)
        z_adjusted = (proportion - p0) / null_sd
        p_lower = np.where(empty, np.nan, stats.norm.cdf(z_adjusted))
        p_upper = np.where(empty, np.nan, stats.norm.sf(z_adjusted))
    else:
        rho = _null_rho(safe, p0, tau2_used, deff)
        null_sd = np.sqrt(pq * (1.0 + (safe - 1.0) * rho) / safe)
        z_adjusted = (proportion - p0) / null_sd
        p_lower, p_upper = _tails(np.where(empty, 0.0, x), safe, p0, rho)
        p_lower = np.where(empty, np.nan, p_lower)
        p_upper = np.where(empty, np.nan, p_upper)
    z_adjusted = np.where(empty, np.nan, z_adjusted)

    table: dict[str, np.ndarray] = {
        "x": x, "n": n, "proportion": proportion, "z": z, "z_adjusted": z_adjusted,
    }
    for level in levels:
        label, tail = _level_label(level), (1.0 - level) / 2.0
        if limits:
            if applied == "multiplicative":
                low, high = _normal_limits(safe, p0, level, phi_used * deff)
            else:
                low, high = _interpolated_limits(safe, p0, rho, tail)
            table[f"lower_{label}"] = np.where(empty, np.nan, low)
            table[f"upper_{label}"] = np.where(empty, np.nan, high)
        flag = np.where(p_upper <= tail, ABOVE, np.where(p_lower <= tail, BELOW, WITHIN))
        table[f"flag_{label}"] = np.where(empty, INSUFFICIENT_DATA, flag).astype(object)
    p_value = np.minimum(1.0, 2.0 * np.minimum(p_lower, p_upper))
    q_value = benjamini_hochberg(p_value)
    side = np.where(p_upper < p_lower, ABOVE, BELOW)
    verdict = np.where(q_value <= fdr, side, WITHIN)
    table.update(
        p_lower=p_lower, p_upper=p_upper, p_value=p_value, q_value=q_value,
        comparison=np.where(empty, INSUFFICIENT, verdict).astype(object),
        adjustment=np.full(x.shape, applied, dtype=object),
    )
    frame = pd.DataFrame(table)
    frame.attrs.update(
        adjustment=applied,
        phi=phi_used if applied == "multiplicative" else fitted.phi,
        tau2=tau2_used,
        overdispersion_p_value=fitted.p_value,
        fdr=fdr,
        tau2_units_left_out=left_out,
    )
    return frame


def _leave_one_out_outliers(x, n, deff, p0, target_estimated, fdr) -> np.ndarray:
    """Units that differ from all the *other* units (cross-validatory screen).

    For each unit i the null comes from the other units only: their pooled share t_-i (or the
    given target), their DerSimonian-Laird τ²_-i, and the sampling variance of t_-i itself,

        Var(X_i) = n_i t q d_i + n_i (n_i - 1) τ²_-i + n_i² Var(t_-i),

    matched by a beta-binomial; its exact two-sided tail p-value is then controlled by
    Benjamini-Hochberg at ``fdr`` (Jones & Spiegelhalter 2011 recommend such leave-one-out
    p-values exactly so that an outlier does not mask itself). Needs three units.
    """
    used = n > 0
    flagged = np.zeros(n.shape, dtype=bool)
    if used.sum() < 3:
        return flagged
    idx = np.flatnonzero(used)
    xs, ns, ds = x[idx], n[idx], deff[idx]
    y = xs / ns
    w = ns / ds  # precision weights up to the common factor 1 / (t q)
    s0, s1, s2, ss0 = w.sum(), (w * y).sum(), (w * y * y).sum(), (w * w).sum()
    if target_estimated:
        t = (xs.sum() - xs) / (ns.sum() - ns)
    else:
        t = p0[idx]
    t = np.clip(t, 1e-12, 1.0 - 1e-12)
    tq = t * (1.0 - t)
    others = idx.size - 1
    w0, w1, w2 = s0 - w, s1 - w * y, s2 - w * y * y
    q_stat = (w2 - 2.0 * t * w1 + t * t * w0) / tq
    df = others - 1 if target_estimated else others
    denominator = (w0 - (ss0 - w * w) / w0) / tq if target_estimated else w0 / tq
    tau2 = np.where((q_stat > df) & (denominator > 0), (q_stat - df) / denominator, 0.0)
    if target_estimated:
        n_others = ns.sum() - ns
        nd = np.sum(ns * ds) - ns * ds
        nn = np.sum(ns * (ns - 1.0)) - ns * (ns - 1.0)
        var_target = (tq * nd + tau2 * nn) / n_others**2
    else:
        var_target = np.zeros_like(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(
            ns > 1,
            ((ds - 1.0) * tq + (ns - 1.0) * tau2 + ns * var_target) / ((ns - 1.0) * tq),
            0.0,
        )
    lower, upper = _tails(xs, ns, t, np.clip(rho, 0.0, 1.0 - 1e-9))
    q_value = benjamini_hochberg(np.minimum(1.0, 2.0 * np.minimum(lower, upper)))
    flagged[idx] = q_value <= fdr
    return flagged

