"""Confidence intervals for satisfaction shares, their differences and mean scores.

Everything here is vectorised over units (counters, offices, periods): pass arrays of
counts and get arrays of estimates and limits back, with no Python loop over units.
Scalars in give Python floats out, so a view or a report can use the result directly.

Conventions shared by every function:

* Each function returns ``(estimate, low, high)``.
* No observations (``n == 0``) is not an error: the estimate and both limits are NaN.
* Impossible input (negative or non-integer counts, more successes than trials,
  a confidence level outside (0, 1), an unknown method) raises ``ValueError``.

Sources
-------
* Wilson EB (1927). Probable inference, the law of succession, and statistical
  inference. J Am Stat Assoc 22:209-212.
* Clopper CJ, Pearson ES (1934). The use of confidence or fiducial limits illustrated
  in the case of the binomial. Biometrika 26:404-413.
* Agresti A, Coull BA (1998). Approximate is better than "exact" for interval
  estimation of binomial proportions. Am Stat 52:119-126.
* Newcombe RG (1998a). Two-sided confidence intervals for the single proportion:
  comparison of seven methods. Stat Med 17:857-872.
* Newcombe RG (1998b). Interval estimation for the difference between independent
  proportions: comparison of eleven methods. Stat Med 17:873-890.
* Brown LD, Cai TT, DasGupta A (2001). Interval estimation for a binomial proportion.
  Stat Sci 16:101-133.
* Efron B (1987). Better bootstrap confidence intervals. J Am Stat Assoc 82:171-185.
* Cochran WG (1977). Sampling Techniques, 3rd ed., section 3.3 (finite-population
  correction for a proportion).
* Agresti A, Caffo B (2000). Simple and effective confidence intervals for proportions and
  differences of proportions result from adding two successes and two failures. Am Stat
  54:280-288 (the "add pseudo-observations" idea, used here for bounded mean scores).
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import stats

__all__ = [
    "PROPORTION_METHODS",
    "DIFFERENCE_METHODS",
    "MEAN_METHODS",
    "z_value",
    "proportion_ci",
    "difference_ci",
    "mean_ci",
    "mean_ci_from_counts",
]

#: Methods accepted by :func:`proportion_ci`.
PROPORTION_METHODS = ("wilson", "wilson-cc", "clopper-pearson", "jeffreys", "agresti-coull")
#: Methods accepted by :func:`difference_ci`.
DIFFERENCE_METHODS = ("newcombe", "newcombe-cc")
#: Methods accepted by :func:`mean_ci` (``mean_ci_from_counts`` takes all but ``"bootstrap"``).
MEAN_METHODS = ("t", "bootstrap", "agresti-coull")


# --------------------------------------------------------------------------- validation


def _check_confidence(confidence, name: str = "confidence") -> float:
    """Return a level (confidence, significance, ...) as a float, or raise if it is not in (0, 1)."""
    if isinstance(confidence, (bool, np.bool_)) or not isinstance(confidence, numbers.Real):
        raise ValueError(f"{name} must be a single number between 0 and 1, got {confidence!r}")
    level = float(confidence)
    if not 0.0 < level < 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be strictly between 0 and 1, got {confidence!r}")
    return level


def _check_method(method, allowed: tuple[str, ...]) -> str:
    if method not in allowed:
        raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(allowed)}")
    return method


def _as_counts(name: str, value) -> np.ndarray:
    """Convert counts to a float array, checking they are finite non-negative integers."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric counts, got {value!r}") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite counts (no NaN or infinity)")
    if np.any(array < 0):
        raise ValueError(f"{name} must not be negative")
    if np.any(array != np.floor(array)):
        raise ValueError(f"{name} must be whole numbers (counts of people or transactions)")
    return array


def _check_scale(scale) -> tuple[float, float]:
    try:
        lowest, highest = (float(v) for v in scale)
    except (TypeError, ValueError):
        raise ValueError(f"scale must be a pair (lowest, highest), got {scale!r}") from None
    if not (np.isfinite(lowest) and np.isfinite(highest) and lowest < highest):
        raise ValueError(f"scale must be two finite numbers with lowest < highest, got {scale!r}")
    return lowest, highest


def _output(*arrays: np.ndarray):
    """Python floats for 0-d results, numpy arrays otherwise."""
    if arrays[0].ndim == 0:
        return tuple(float(a) for a in arrays)
    return arrays


def z_value(confidence: float = 0.95) -> float:
    """Two-sided standard normal critical value, e.g. 1.959964 for ``confidence=0.95``.

    It is the ``1 - (1 - confidence) / 2`` quantile of N(0, 1).
    """
    level = _check_confidence(confidence)
    return float(stats.norm.isf((1.0 - level) / 2.0))


# --------------------------------------------------------------------------- one proportion


def _fpc_factor(n: np.ndarray, population) -> np.ndarray | None:
    """The finite-population factor f = (N - n) / (N - 1), or None without a population.

    f = 0 when the whole population was observed (n == N, including N == 1).
    """
    if population is None:
        return None
    N = _as_counts("population", population)
    if np.any(N < n):
        raise ValueError(
            "population (transactions served) must be at least the sample size n; "
            "a population smaller than the sample is impossible"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(N > n, (N - n) / np.where(N > 1, N - 1, 1.0), 0.0)
    return factor


def _proportion_limits(x, n, method, level, fpc):
    """Limits for already-validated, broadcast float arrays ``x`` and ``n``.

    Rows with ``n == 0`` are computed on safe stand-in values and blanked to NaN here.
    """
    alpha = 1.0 - level
    z = stats.norm.isf(alpha / 2.0)
    empty = n == 0
    n_safe = np.where(empty, 1.0, n)
    x_safe = np.where(empty, 0.0, x)
    p = x_safe / n_safe
    at_zero = x_safe == 0
    at_all = x_safe == n_safe

    if method in ("wilson", "agresti-coull"):
        # z^2 -> z^2 * f: the FPC-adjusted variance p(1-p) f / n inside the score test.
        k = z * z if fpc is None else z * z * fpc
        if method == "wilson":
            centre = (x_safe + k / 2.0) / (n_safe + k)
            half = np.sqrt(k) * np.sqrt(x_safe * (n_safe - x_safe) / n_safe + k / 4.0) / (n_safe + k)
            low, high = centre - half, centre + half
            # Exact at the boundaries (the formula leaves rounding dust of order 1e-17).
            low = np.where(at_zero, 0.0, low)
            high = np.where(at_all, 1.0, high)
        else:
            n_tilde = n_safe + k
            p_tilde = (x_safe + k / 2.0) / n_tilde
            half = np.sqrt(k) * np.sqrt(p_tilde * (1.0 - p_tilde) / n_tilde)
            low, high = p_tilde - half, p_tilde + half
        low, high = np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)
    else:
        if method == "wilson-cc":
            # Newcombe (1998a) method 4, written with x = n p so it stays vectorised.
            z2 = z * z
            denominator = 2.0 * (n_safe + z2)
            spread = x_safe * (n_safe - x_safe) / n_safe
            radicand_low = z2 - 2.0 - 1.0 / n_safe + 4.0 * spread + 4.0 * x_safe / n_safe
            radicand_high = z2 + 2.0 - 1.0 / n_safe + 4.0 * spread - 4.0 * x_safe / n_safe
            # Radicands are positive whenever 0 < x < n; at x = 0 (x = n) the lower
            # (upper) limit is fixed by convention below, so clamp to avoid sqrt(<0).
            low = (2.0 * x_safe + z2 - 1.0 - z * np.sqrt(np.maximum(radicand_low, 0.0))) / denominator
            high = (2.0 * x_safe + z2 + 1.0 + z * np.sqrt(np.maximum(radicand_high, 0.0))) / denominator
            low = np.where(at_zero, 0.0, np.clip(low, 0.0, 1.0))
            high = np.where(at_all, 1.0, np.clip(high, 0.0, 1.0))
        elif method == "clopper-pearson":
            # Beta quantiles; parameters replaced by 1 where the limit is fixed anyway.
            low = stats.beta.ppf(alpha / 2.0, np.where(at_zero, 1.0, x_safe), n_safe - x_safe + 1.0)
            high = stats.beta.isf(alpha / 2.0, x_safe + 1.0, np.where(at_all, 1.0, n_safe - x_safe))
            low = np.where(at_zero, 0.0, low)
            high = np.where(at_all, 1.0, high)
        else:  # jeffreys
            a, b = x_safe + 0.5, n_safe - x_safe + 0.5
            low = np.where(at_zero, 0.0, stats.beta.ppf(alpha / 2.0, a, b))
            high = np.where(at_all, 1.0, stats.beta.isf(alpha / 2.0, a, b))
        if fpc is not None:
            # No closed-form FPC version exists: shrink both half-widths around p by sqrt(f).
            shrink = np.sqrt(fpc)
            low = p - shrink * (p - low)
            high = p + shrink * (high - p)

    nan = np.nan
    return np.where(empty, nan, p), np.where(empty, nan, low), np.where(empty, nan, high)


def proportion_ci(successes, n, *, method="wilson", confidence=0.95, population=None):
    """Confidence interval for a binomial proportion, e.g. the share of satisfied citizens.

    Parameters
    ----------
    successes, n : int or array-like of int
        Number of "successes" (e.g. satisfied answers) and of answers. Broadcast
        against each other (and against ``population``).
    method : str
        ``"wilson"`` (default)
            Wilson (1927) score interval; recommended by Newcombe (1998a, method 3) and
            Brown, Cai & DasGupta (2001). Low is exactly 0 at x = 0, high exactly 1 at x = n.
        ``"wilson-cc"``
            Wilson score interval with continuity correction, Newcombe (1998a) method 4
            closed form, clipped to [0, 1]; low = 0 at x = 0 and high = 1 at x = n.
        ``"clopper-pearson"``
            "Exact" interval from beta quantiles, Beta(x, n-x+1) and Beta(x+1, n-x);
            low = 0 at x = 0 and high = 1 at x = n. Coverage is never below nominal.
        ``"jeffreys"``
            Equal-tailed Jeffreys interval, quantiles of Beta(x + 1/2, n - x + 1/2), with
            the boundary modification of Brown, Cai & DasGupta (2001, p. 108): low = 0
            at x = 0 and high = 1 at x = n.
        ``"agresti-coull"``
            Agresti & Coull (1998): Wald interval around (x + z²/2) / (n + z²) with
            n + z² trials, clipped to [0, 1].
    confidence : float
        Two-sided confidence level in (0, 1), default 0.95.
    population : int or array-like of int, optional
        N, the number of transactions served in the period (known from the register).
        When given, the finite-population correction f = (N - n) / (N - 1) is applied
        (Cochran 1977, sec. 3.3), assuming answers are a simple random sample without
        replacement of the N transactions:

        * ``"wilson"``: the score test is inverted with the FPC variance p(1-p)·f/n,
          i.e. z² is replaced by z²·f in the Wilson formula.
        * ``"agresti-coull"``: the same substitution z² -> z²·f in both the pseudo-counts
          and the half-width (it is the Wald approximation of the FPC Wilson interval).
        * ``"wilson-cc"``, ``"clopper-pearson"``, ``"jeffreys"``: the distances from
          the estimate p = x/n to each limit are multiplied by sqrt(f). This is an
          approximation; the exact finite-population analogue (hypergeometric
          inversion) is not implemented, so Clopper-Pearson loses its
          never-below-nominal guarantee under the FPC.

        With n == N the interval has zero width at the observed proportion; as N grows
        the interval tends to the one without FPC. N < n raises ``ValueError``.

    Returns
    -------
    (estimate, low, high)
        ``x / n`` and the limits. Python floats if every input is a scalar, otherwise
        numpy arrays of the broadcast shape. ``n == 0`` gives NaN for all three.
    """
    method = _check_method(method, PROPORTION_METHODS)
    level = _check_confidence(confidence)
    x = _as_counts("successes", successes)
    trials = _as_counts("n", n)
    if np.any(x > trials):
        raise ValueError("successes must not exceed n (more successes than answers)")
    x, trials = np.broadcast_arrays(x, trials)
    fpc = _fpc_factor(trials, population)
    if fpc is not None:
        x, trials, fpc = np.broadcast_arrays(x, trials, fpc)
    return _output(*_proportion_limits(x, trials, method, level, fpc))


# --------------------------------------------------------------------------- differences


def difference_ci(x1, n1, x2, n2, *, method="newcombe", confidence=0.95):
    """Confidence interval for the difference of two independent proportions p1 - p2.

    Parameters
    ----------
    x1, n1, x2, n2 : int or array-like of int
        Successes and trials in each group; broadcast together.
    method : str
        ``"newcombe"`` (default)
            Newcombe (1998b) method 10, the hybrid score ("square-and-add") interval::

                low  = d - sqrt((p1 - l1)² + (u2 - p2)²)
                high = d + sqrt((u1 - p1)² + (p2 - l2)²)

            with (l_i, u_i) the Wilson score limits of each proportion.
        ``"newcombe-cc"``
            Newcombe (1998b) method 11: the same with continuity-corrected Wilson limits
            (``proportion_ci(method="wilson-cc")``).
    confidence : float
        Two-sided confidence level in (0, 1).

    Returns
    -------
    (difference, low, high)
        Python floats for scalar inputs, numpy arrays otherwise. If either ``n`` is 0
        all three are NaN. Limits lie in [-1, 1].
    """
    method = _check_method(method, DIFFERENCE_METHODS)
    level = _check_confidence(confidence)
    counts = [_as_counts(name, v) for name, v in (("x1", x1), ("n1", n1), ("x2", x2), ("n2", n2))]
    if np.any(counts[0] > counts[1]) or np.any(counts[2] > counts[3]):
        raise ValueError("successes must not exceed n in either group (x1 <= n1, x2 <= n2)")
    a1, m1, a2, m2 = np.broadcast_arrays(*counts)
    single = "wilson" if method == "newcombe" else "wilson-cc"
    p1, l1, u1 = _proportion_limits(a1, m1, single, level, None)
    p2, l2, u2 = _proportion_limits(a2, m2, single, level, None)
    difference = p1 - p2
    low = difference - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    # Mathematically already inside [-1, 1]; the clip only removes rounding dust.
    return _output(difference, np.clip(low, -1.0, 1.0), np.clip(high, -1.0, 1.0))


# --------------------------------------------------------------------------- mean scores


def _t_limits(mean, variance, n, level):
    """Student t limits; n <= 1 gives NaN limits, zero variance gives zero width."""
    informative = n > 1
    df = np.where(informative, n - 1.0, 1.0)
    quantile = stats.t.ppf(0.5 + level / 2.0, df)
    half = quantile * np.sqrt(np.maximum(variance, 0.0) / np.where(informative, n, 1.0))
    low = np.where(informative, mean - half, np.nan)
    high = np.where(informative, mean + half, np.nan)
    return low, high


def _padded_mean_limits(table, levels, lowest, highest, level):
    """Agresti-Coull-type limits for the mean of answers on the bounded scale [lowest, highest].

    ``table[..., j]`` answers sit at ``levels[j]``. On the unit scale y = (v - lowest) /
    (highest - lowest), z²/2 pseudo-answers are added at 0 and z²/2 at 1 (for 0/1 answers this
    is exactly Agresti & Coull's interval), and the limits are m̃ ± z·s̃/sqrt(ñ) with

        ñ = n + z²,   m̃ = (Σ y + z²/2) / ñ,   s̃² = [Σ (y - m̃)² + z²/2 · (m̃² + (1 - m̃)²)] / ñ,

    clipped to the scale. The pseudo-answers keep the interval from collapsing when every
    answer is equal (or nearly so) and pull its centre inwards when answers pile up at one end
    of the scale, where the t interval undercovers badly. n == 0 gives NaN limits.
    """
    z = stats.norm.isf((1.0 - level) / 2.0)
    pseudo = z * z / 2.0
    span = highest - lowest
    y = (levels - lowest) / span
    n = table.sum(axis=-1)
    padded_n = n + 2.0 * pseudo
    centre = (table @ y + pseudo) / padded_n
    deviations = y - centre[..., None]
    sum_squares = np.sum(table * deviations**2, axis=-1)
    sum_squares += pseudo * (centre**2 + (1.0 - centre) ** 2)
    half = z * np.sqrt(sum_squares) / padded_n
    low = np.clip(centre - half, 0.0, 1.0) * span + lowest
    high = np.clip(centre + half, 0.0, 1.0) * span + lowest
    empty = n == 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def mean_ci(scores, *, method="t", confidence=0.95, scale=(1, 5), n_resamples=9999, seed=None):
    """Confidence interval for the mean of raw scores on a bounded scale (1-5 by default).

    Parameters
    ----------
    scores : array-like, one dimension
        Individual answers; each must lie within ``scale``.
    method : str
        ``"t"`` (default)
            Student t interval, mean ± t_{n-1, 1-α/2} · s / sqrt(n). It undercovers when
            answers pile up at one end of the scale (0.78 at n = 30 when 95 % answer 5) and
            has zero width when every answer is equal.
        ``"agresti-coull"``
            z²/2 pseudo-answers added at each end of the scale, then a normal interval (see
            :func:`mean_ci_from_counts`); what the results table publishes. Never zero width
            for a finite sample; at least 0.93 coverage at n >= 30 on skewed 1-5 data in the
            simulations of ``tests/test_honesty.py``.
        ``"bootstrap"``
            BCa bootstrap interval (Efron 1987) from ``scipy.stats.bootstrap``, with
            ``n_resamples`` resamples drawn from ``numpy.random.default_rng(seed)``:
            the same ``seed`` gives the same interval.
    confidence : float
        Two-sided confidence level in (0, 1).
    scale : (lowest, highest)
        The answer scale. Limits are clipped to it (a mean of 1-5 answers cannot leave
        [1, 5], whatever the normal approximation says).
    n_resamples : int
        Bootstrap resamples (``"bootstrap"`` only).
    seed : int, numpy.random.Generator or None
        Bootstrap random seed (``"bootstrap"`` only).

    Returns
    -------
    (mean, low, high) as Python floats.
        * n = 0: all NaN.
        * n = 1: ``"t"`` and ``"bootstrap"`` give the single value with NaN limits (one
          answer says nothing about spread); ``"agresti-coull"`` gives its (wide) interval.
        * All answers equal (n >= 2): ``"t"`` and ``"bootstrap"`` give a zero-width interval
          at that value, returned directly so no division by zero or scipy warning occurs;
          ``"agresti-coull"`` does not collapse.
    """
    method = _check_method(method, MEAN_METHODS)
    level = _check_confidence(confidence)
    lowest, highest = _check_scale(scale)
    if method == "bootstrap" and (
        isinstance(n_resamples, (bool, np.bool_))
        or not isinstance(n_resamples, numbers.Integral)
        or n_resamples < 1
    ):
        raise ValueError(f"n_resamples must be a positive whole number, got {n_resamples!r}")
    try:
        values = np.asarray(scores, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("scores must be numbers") from None
    if values.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("scores must be finite (drop missing answers first)")
    if np.any((values < lowest) | (values > highest)):
        raise ValueError(f"scores must lie within the scale [{lowest:g}, {highest:g}]")
    n = values.size
    if n == 0:
        return (np.nan, np.nan, np.nan)
    mean = float(values.mean())
    if method == "agresti-coull":
        low, high = _padded_mean_limits(np.ones(n), values, lowest, highest, level)
        return (mean, float(low), float(high))
    if n == 1:
        return (mean, np.nan, np.nan)
    if values.min() == values.max():
        return (mean, mean, mean)

    if method == "t":
        low, high = _t_limits(mean, values.var(ddof=1), float(n), level)
        low, high = float(low), float(high)
    else:
        result = stats.bootstrap(
            (values,),
            np.mean,
            n_resamples=int(n_resamples),
            # Bound memory to about four million resampled values per batch.
            batch=max(1, 4_000_000 // n),
            confidence_level=level,
            method="BCa",
            rng=np.random.default_rng(seed),
        )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return (mean, float(np.clip(low, lowest, highest)), float(np.clip(high, lowest, highest)))


def mean_ci_from_counts(counts, values, *, confidence=0.95, scale=(1, 5), method="t"):
    """Interval for mean scores given only the count of each answer level.

    This is what a SQL ``GROUP BY unit, answer`` returns, so no raw rows are needed.

    ``method="t"`` (default) equals ``mean_ci(scores, method="t")`` on the expanded scores,
    with the same conventions (n = 0: NaN; n = 1: NaN limits; one level only: zero width;
    limits clipped to ``scale``).

    ``method="agresti-coull"`` equals ``mean_ci(scores, method="agresti-coull")``: on the
    unit scale y = (v - lowest)/(highest - lowest), add z²/2 pseudo-answers at 0 and z²/2 at 1
    and take m̃ ± z·s̃/sqrt(ñ) with ñ = n + z², m̃ = (Σy + z²/2)/ñ and s̃² the variance of the
    padded answers (divisor ñ), clipped to the scale. For answers that are all at the two
    ends of the scale this is Agresti & Coull's (1998) interval for a proportion. The estimate
    stays the plain mean; the interval is never zero width for a finite sample.

    Parameters
    ----------
    counts : array-like of int, shape (..., k)
        Answers at each of the k levels, one row per unit (vectorised over rows).
    values : array-like, shape (k,)
        The score of each level, e.g. ``[1, 2, 3, 4, 5]``; must lie within ``scale``.
    confidence : float
        Two-sided confidence level in (0, 1).
    scale : (lowest, highest)
        The answer scale, for clipping and (``"agresti-coull"``) for the pseudo-answers.
    method : ``"t"`` or ``"agresti-coull"``.

    Returns
    -------
    (mean, low, high)
        Python floats if ``counts`` is one row (1-D), otherwise arrays of shape
        ``counts.shape[:-1]``.
    """
    method = _check_method(method, ("t", "agresti-coull"))
    level = _check_confidence(confidence)
    lowest, highest = _check_scale(scale)
    table = _as_counts("counts", counts)
    try:
        levels = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("values must be numbers") from None
    if levels.ndim != 1 or table.ndim < 1 or table.shape[-1] != levels.size:
        raise ValueError(
            "counts must have shape (..., k) and values shape (k,) with the same k; "
            f"got {table.shape} and {levels.shape}"
        )
    if not np.all(np.isfinite(levels)) or np.any((levels < lowest) | (levels > highest)):
        raise ValueError(f"values must be finite and lie within the scale [{lowest:g}, {highest:g}]")

    n = table.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, (table @ levels) / np.where(n > 0, n, 1.0), np.nan)
    if method == "agresti-coull":
        low, high = _padded_mean_limits(table, levels, lowest, highest, level)
        return _output(mean, low, high)
    with np.errstate(invalid="ignore", divide="ignore"):
        deviations = levels - mean[..., None]
        sum_squares = np.sum(table * np.where(table > 0, deviations, 0.0) ** 2, axis=-1)
        variance = np.where(n > 1, sum_squares / np.where(n > 1, n - 1.0, 1.0), np.nan)
    # One answer level only: exactly zero spread (avoids rounding dust in the variance).
    variance = np.where(np.count_nonzero(table, axis=-1) == 1, 0.0, variance)
    low, high = _t_limits(mean, variance, n, level)
    low, high = np.clip(low, lowest, highest), np.clip(high, lowest, highest)
    return _output(mean, low, high)
