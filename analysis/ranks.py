"""Rank intervals: where a unit could plausibly stand among all units, and how sure we are.

A league table rewards luck. Following Goldstein & Spiegelhalter (1996) and Marshall &
Spiegelhalter (1998), the product publishes, for each unit, the range of ranks it holds in
95 % of draws from the joint posterior of all units' true shares. The posterior is the
hierarchical beta-binomial of :mod:`analysis.shrinkage` — the units' own counts, pulled
towards the overall level, *including the uncertainty of that level and of the spread between
units*: each block of draws first draws (μ, α + β) from their posterior, then every unit's
share from Beta(x_i + μM, n_i - x_i + (1 - μ)M).

Monte Carlo error is measured, not assumed: each rank limit is a sample quantile of a discrete
distribution, and a pilot run with a fixed seed estimates, unit by unit, the chance that a run
with another seed would put the limit elsewhere. Each unit's limits are rounded outwards to the
smallest "step" (1, 2, 5, 10, 20, 50 … ranks) that keeps that chance at or below 2 %, so the
published limits do not depend on the seed; the largest Hall & Sheather (1988) standard error
of a limit is reported as well. Tables so large that the draw budget can only place limits to
the nearest fifth of the table get no ranks at all, and a note saying why.

Sources
-------
* Goldstein H, Spiegelhalter DJ (1996). League tables and their limitations. J R Stat Soc A
  159:385-443.
* Marshall EC, Spiegelhalter DJ (1998). Reliability of league tables of in vitro fertilisation
  clinics. BMJ 316:1701-1704.
* Hall P, Sheather SJ (1988). On the distribution of a studentized quantile. J R Stat Soc B
  50:381-391 (bandwidth of the sparsity estimate).
* Cornish EA, Fisher RA (1938). Moments and cumulants in the specification of distributions.
  Rev Inst Int Stat 5:307-320.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd
from scipy import special, stats

from analysis.intervals import _check_confidence
from analysis.shrinkage import HyperPosterior, _effective_units, fit_hyperprior, shrinkage_moments

__all__ = ["rank_intervals", "RANK_STEPS", "MAX_UNSTABLE_SHARE"]

#: Posterior draws in total (units × draws) the default aims for.
DRAW_BUDGET = 4_000_000
#: Fewest and most draws chosen automatically.
DRAWS_RANGE = (400, 50_000)
#: Fewest hyperparameter draws; each block of draws shares one (μ, α + β): every few draws
#: for small tables, where the prior is uncertain; down to this many for huge tables, where
#: it is pinned down.
HYPER_DRAWS = 16
# Cornish-Fisher coefficient sets (hyperparameter draws × units) computed at most.
_COEFFICIENT_BUDGET = 100_000
#: Rank limits are rounded outwards to one of these steps (times powers of ten).
RANK_STEPS = (1, 2, 5)
#: Largest estimated share of units whose limits would move with another seed.
MAX_UNSTABLE_SHARE = 0.02
# Units whose Beta(a, b) posterior has min(a, b) at least this large are drawn by a
# Cornish-Fisher transform of one normal; the rest exactly from gamma variates.
_CORNISH_FISHER_MIN_SHAPE = 10.0
# Seed of the pilot run that chooses the rounding step (fixed: the step must not depend on
# the seed of the published run).
_PILOT_SEED = 20_260_701
_LITTLE_ENDIAN = np.little_endian
# Rank limits are withheld when the median unit's step exceeds units / this.
_MOST_COARSE = 5
# Most cells (units × rank bins) of the rank histogram; beyond it ranks are binned.
_HISTOGRAM_CELLS = 2_000_000
# About this many draws are ranked at once.
_CHUNK_DRAWS = 1 << 21


def _steps():
    """1, 2, 5, 10, 20, 50, …"""
    scale = 1
    while True:
        for step in RANK_STEPS:
            yield step * scale
        scale *= 10


def _polygammas(x):
    """ψ, ψ1, ψ2, ψ3 at x >= 10 by their asymptotic series (relative error below 1e-9 there)."""
    inv = 1.0 / x
    inv2 = inv * inv
    psi0 = np.log(x)
    psi0 -= inv * (0.5 + inv * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240)))))
    psi1 = inv * (1.0 + inv * (0.5 + inv * (1 / 6 - inv2 * (1 / 30 - inv2 * (1 / 42 - inv2 * (1 / 30))))))
    psi2 = -inv2 * (1.0 + inv * (1.0 + inv * (0.5 - inv2 * (1 / 6 - inv2 * (1 / 6 - inv2 * 0.3)))))
    psi3 = inv * inv2 * (2.0 + inv * (3.0 + inv * (2.0 - inv2 * (1.0 - inv2 * (4 / 3 - inv2 * 3.0)))))
    return psi0, psi1, psi2, psi3


def _negated_logit_cubic(a, b):
    """Coefficients (c0, c1, c2, c3) such that -logit θ, θ ~ Beta(a, b), is approximately
    c0 + c1·w + c2·w² + c3·w³ with w ~ N(0, 1) (a, b >= 10).

    logit θ = log G_a - log G_b for independent gamma variates, so its cumulants are exactly
    κ1 = ψ(a) - ψ(b), κ2 = ψ1(a) + ψ1(b), κ3 = ψ2(a) - ψ2(b), κ4 = ψ3(a) + ψ3(b), with ψk
    the polygamma functions. The Cornish-Fisher expansion with skewness γ1 = κ3 / κ2^1.5
    and excess kurtosis γ2 = κ4 / κ2² is

        w + γ1 (w² - 1)/6 + γ2 (w³ - 3w)/24 - γ1² (2w³ - 5w)/36;

    the negated logit has cumulants (-κ1, κ2, -κ3, κ4): the same expansion with -κ1, -γ1.
    """
    pa, pb = _polygammas(np.asarray(a, float)), _polygammas(np.asarray(b, float))
    mean = pa[0] - pb[0]
    sd = np.sqrt(pa[1] + pb[1])
    skew = (pa[2] - pb[2]) / sd**3
    kurt = (pa[3] + pb[3]) / sd**4
    return (
        -(mean - sd * skew / 6.0),
        sd * (1.0 - kurt / 8.0 + 5.0 * skew**2 / 36.0),
        -sd * skew / 6.0,
        sd * (kurt / 24.0 - skew**2 / 18.0),
    )


def _order_keys(values: np.ndarray) -> np.ndarray:
    """Reinterpret float32 values in place as uint32 keys with the same ordering."""
    bits = values.view(np.int32)
    flip = bits >> 31  # -1 for negative numbers, 0 otherwise
    flip &= 0x7FFFFFFF
    bits ^= flip  # negative floats now order as signed integers do
    keys = bits.view(np.uint32)
    keys ^= np.uint32(0x80000000)  # signed order -> unsigned order
    return keys


def _draw_blocks(x, n, alpha, beta, rows, normal_rng, gamma_rng) -> np.ndarray:
    """(blocks × rows × units) float32 draws of -logit θ_i, block h with prior
    Beta(alpha[h], beta[h])."""
    a = x[None, :] + alpha[:, None]
    b = n[None, :] - x[None, :] + beta[:, None]
    blocks, units = a.shape
    fast = np.minimum(a, b) >= _CORNISH_FISHER_MIN_SHAPE
    if fast.all():
        coefficients = _negated_logit_cubic(a, b)
    else:  # the series needs shapes >= 10; the others are overwritten below
        coefficients = _negated_logit_cubic(np.maximum(a, 10.0), np.maximum(b, 10.0))
    c0, c1, c2, c3 = (c.astype(np.float32)[:, None, :] for c in coefficients)
    w = normal_rng.standard_normal((blocks, rows, units), dtype=np.float32)
    draws = c3 * w  # Horner's rule
    draws += c2
    draws *= w
    draws += c1
    draws *= w
    draws += c0
    if not fast.all():
        slow = ~fast
        tiny = np.finfo(float).tiny
        shape_a = np.repeat(a[slow], rows)
        shape_b = np.repeat(b[slow], rows)
        log_a = np.log(np.maximum(gamma_rng.standard_gamma(shape_a), tiny))
        log_b = np.log(np.maximum(gamma_rng.standard_gamma(shape_b), tiny))
        view = draws.transpose(0, 2, 1)  # blocks × units × rows
        view[slow] = (log_b - log_a).reshape(-1, rows)
    return draws


def _hall_sheather(draws: int, q: float, alpha: float = 0.05) -> float:
    """Hall & Sheather (1988) bandwidth for the sparsity (inverse density) at quantile q."""
    z = stats.norm.ppf(q)
    density = stats.norm.pdf(z)
    h = draws ** (-1 / 3) * stats.norm.isf(alpha / 2) ** (2 / 3) * (
        1.5 * density**2 / (2 * z * z + 1)
    ) ** (1 / 3)
    return float(min(h, q * 0.999, (1 - q) * 0.999))


def rank_intervals(
    x, n, *, confidence=0.95, n_sims=None, seed=0, fit: HyperPosterior | None = None,
    max_unstable=MAX_UNSTABLE_SHARE,
) -> pd.DataFrame:
    """Rank of each unit (1 = most satisfied) with a posterior interval and its Monte Carlo error.

    Parameters
    ----------
    x, n : array-like
        Satisfied answers and answers per unit (effective counts allowed). Units with
        n == 0 get NaN everywhere and are left out of everyone else's ranking.
    confidence : float
        Interval level.
    n_sims : int or None
        Posterior draws. Default: about 4 million unit-draws in all, i.e.
        clip(4e6 / units, 400, 50,000) — 40,000 draws for 100 units, 400 for 10,000.
    seed : int or None
        Seed of ``numpy.random.default_rng``; the same seed gives the same intervals.
    fit : HyperPosterior, optional
        The fitted hierarchical prior (:func:`analysis.shrinkage.fit_hyperprior`).
    max_unstable : float
        Largest estimated chance that a unit's limits move with another seed; each unit's
        rounding step grows until its estimate is below it (default 0.02).

    Method
    ------
    Draws come in blocks; each block draws (μ_h, M_h) from the hyperposterior (stratified
    over its ρ quantiles) — a block every few draws for small tables, where the prior is
    uncertain, and at least 16 blocks for huge ones — then each unit's -logit θ_i from its
    posterior Beta(x_i + μ_h M_h, n_i - x_i + (1 - μ_h) M_h): by a Cornish-Fisher cubic in one
    normal variate when both shapes are at least 10 (quantiles within 0.01 posterior sd of the
    exact ones), else exactly from gamma variates. Units are ranked within each draw and the
    ranks tallied per unit (in bins of a 1-2-5 width beyond about 1,400 units);
    ``rank_low`` / ``rank_high`` are the order statistics at floor(q·(S - 1)) and
    ceil((1 - q)·(S - 1)) of the S ranks, q = (1 - confidence)/2.

    Rounding: a pilot with a fixed seed (100 draws, then a quarter of S) gives each unit's
    empirical rank CDF F. Between two runs of S draws F at an edge differs by about
    N(0, 2F(1 - F)/S), which gives the chance that the limit crosses the edge of its rounding
    block; each unit gets the smallest step of 1, 2, 5, 10, … (and at least the histogram's
    bin width) for which the chance that either limit moves is at most ``max_unstable``, and
    its limits are rounded outwards to it. When the median step exceeds a fifth of the units,
    no rank is published (NaN) and ``attrs["rank_note"]`` says why. Because the steps come
    from the fixed-seed pilot, they are the same whatever ``seed`` is.

    The reported Monte Carlo error of a limit at quantile q is σ = sqrt(q(1 - q)/S) ·
    (R(q + h) - R(q - h)) / (2h), h the Hall-Sheather bandwidth (before rounding).

    The point ``rank`` orders the posterior means (ties share the best rank) and does not
    depend on the seed. It usually lies inside [rank_low, rank_high] but need not: a
    precisely measured unit among many uncertain ones can be first by posterior mean while in
    most draws some uncertain one overtakes it.

    Returns
    -------
    pandas.DataFrame
        One row per unit: ``x``, ``n``, ``posterior_mean``, ``rank``, ``rank_low``,
        ``rank_high`` (floats, NaN where n == 0 or where ranks are withheld). ``attrs``:
        ``rank_draws`` (S), ``rank_step`` (the largest step) and ``rank_step_median``,
        ``rank_mc_error`` (the largest σ over units and both limits, in ranks),
        ``rank_unstable_share`` (the estimated share of units whose limits would move with
        another seed, after rounding), ``rank_hyper_draws`` and, when withheld,
        ``rank_note``.
    """
    level = _check_confidence(confidence)
    if n_sims is not None:
        whole = isinstance(n_sims, numbers.Integral) and not isinstance(n_sims, (bool, np.bool_))
        if not whole or n_sims < 1:
            raise ValueError(f"n_sims must be a positive whole number, got {n_sims!r}")
    max_unstable = _check_confidence(max_unstable, "max_unstable")
    x, n = _effective_units(x, n)
    valid = np.flatnonzero(n > 0)
    units = valid.size
    out = {name: np.full(x.shape, np.nan) for name in
           ("posterior_mean", "rank", "rank_low", "rank_high")}
    attrs = {"rank_draws": 0, "rank_step": 1, "rank_mc_error": 0.0,
             "rank_unstable_share": 0.0, "rank_hyper_draws": 0}
    if units > 0:
        if fit is None:
            fit = fit_hyperprior(x[valid], n[valid])
        mean, _ = shrinkage_moments(x[valid], n[valid], fit)
        out["posterior_mean"][valid] = mean
        out["rank"][valid] = stats.rankdata(-mean, method="min")
        if units == 1:
            out["rank_low"][valid] = out["rank_high"][valid] = 1.0
            attrs["rank_draws"] = 0
        else:
            sims = n_sims if n_sims is not None else int(
                np.clip(math.ceil(DRAW_BUDGET / units), *DRAWS_RANGE)
            )
            low, high, attrs = _simulated_limits(x[valid], n[valid], fit, level, sims, seed,
                                                 max_unstable)
            out["rank_low"][valid], out["rank_high"][valid] = low, high
    frame = pd.DataFrame({"x": x, "n": n, **out})
    frame.attrs.update(attrs)
    return frame


def _rank_histogram(x, n, fit, sims, seed, width):
    """Cumulative counts (units × rank bins) of each unit's simulated rank over ``sims`` draws."""
    units = x.size
    bins = math.ceil(units / width)
    counts = np.zeros(units * bins, dtype=np.int64)
    hyper_rng, normal_rng, gamma_rng = np.random.default_rng(seed).spawn(3)
    # One hyperparameter draw per `per_block` rows: every few rows for small tables, and at
    # most _COEFFICIENT_BUDGET (hyperparameter draw × unit) Cornish-Fisher coefficient sets.
    blocks = int(min(sims, max(HYPER_DRAWS, math.ceil(_COEFFICIENT_BUDGET / units))))
    per_block = math.ceil(sims / blocks)
    blocks = math.ceil(sims / per_block)
    mu, strength = fit.draw(blocks, hyper_rng)
    alpha, beta = mu * strength, (1.0 - mu) * strength
    unit_ids = np.arange(units, dtype=np.uint64)
    position_bin = (np.arange(units) // width).astype(np.int64)
    chunk_blocks = max(1, _CHUNK_DRAWS // (units * per_block))
    drawn = 0
    for first in range(0, blocks, chunk_blocks):
        last = min(first + chunk_blocks, blocks)
        draws = _draw_blocks(x, n, alpha[first:last], beta[first:last], per_block,
                             normal_rng, gamma_rng).reshape(-1, units)
        draws = draws[: sims - drawn]  # the last block may be cut short
        drawn += draws.shape[0]
        # Sort (value, unit) keys packed in one integer: much faster than argsort.
        packed = _order_keys(draws).astype(np.uint64)
        packed <<= np.uint64(32)
        packed |= unit_ids
        packed.sort(axis=1)
        ranked = packed.view(np.uint32)[:, 0::2] if _LITTLE_ENDIAN else (
            (packed & np.uint64(0xFFFFFFFF)).astype(np.uint32))
        cells = ranked.astype(np.int64)
        cells *= bins
        cells += position_bin
        counts += np.bincount(cells.reshape(-1), minlength=units * bins)
    return np.cumsum(counts.reshape(units, bins), axis=1), blocks


def _move_chance(cumulative, sims, width, order, edge_below, edge_above):
    """Chance that a run of ``sims`` draws puts a limit outside (edge_below, edge_above]:
    between two runs the empirical CDF at an edge differs by about N(0, 2F(1 - F)/S)."""
    units, bins = cumulative.shape
    total = np.zeros(units)
    for edge, sign in ((edge_below, 1.0), (edge_above, -1.0)):
        inside = (edge >= 1) & (edge < units)
        column = np.clip(np.ceil(edge / width).astype(np.int64) - 1, 0, bins - 1)
        f = cumulative[np.arange(units), column] / cumulative[:, -1]
        spread = np.sqrt(np.maximum(2.0 * f * (1.0 - f), 1.0 / sims) / sims)
        gap = sign * (f - (order + 0.5) / (sims - 1.0))
        total += np.where(inside, special.ndtr(gap / spread), 0.0)
    return np.minimum(total, 1.0)


def _raw_limits(cumulative, width, tail):
    """Unrounded rank limits (lowest / highest rank of their bins) and the order statistics."""
    units = cumulative.shape[0]
    draws = cumulative[0, -1]
    orders = (math.floor(tail * (draws - 1) + 1e-9), math.ceil((1.0 - tail) * (draws - 1) - 1e-9))
    raw_low = np.argmax(cumulative > orders[0], axis=1) * width + 1.0
    raw_high = np.minimum((np.argmax(cumulative > orders[1], axis=1) + 1) * width, units)
    return raw_low, raw_high.astype(float), orders


def _limits(cumulative, sims, width, raw, step):
    """Rank limits rounded outwards to each unit's ``step``, and the chance each unit's limits
    move in another run of ``sims`` draws."""
    raw_low, raw_high, orders = raw
    units = cumulative.shape[0]
    draws = cumulative[0, -1]
    low = np.floor((raw_low - 1.0) / step) * step + 1.0
    top = np.ceil(raw_high / step) * step
    high = np.minimum(top, units)
    # The orders scaled to the run whose stability is judged (``sims`` draws).
    scale = (sims - 1.0) / max(draws - 1.0, 1.0)
    move_low = _move_chance(cumulative, sims, width, orders[0] * scale, low - 1.0, low - 1.0 + step)
    move_high = _move_chance(cumulative, sims, width, orders[1] * scale, top - step, top)
    return low, high, 1.0 - (1.0 - move_low) * (1.0 - move_high)


def _pilot_steps(pilot, sims, width, tail, max_unstable):
    """Each unit's smallest rounding step whose chance of moving in a run of ``sims`` draws is
    at most ``max_unstable``, estimated from a pilot histogram."""
    units = pilot.shape[0]
    raw = _raw_limits(pilot, width, tail)
    step = np.zeros(units)
    for candidate in _steps():
        if candidate < width or candidate % width:
            continue
        open_units = step == 0
        _, _, moving = _limits(pilot, sims, width, raw, np.full(units, float(candidate)))
        settle = open_units & ((moving <= max_unstable) | (candidate >= units))
        step[settle] = candidate
        if (step > 0).all():
            break
    return step


def _simulated_limits(x, n, fit, level, sims, seed, max_unstable):
    units = x.size
    tail = (1.0 - level) / 2.0
    # Rank histogram: one bin per rank, or bins of a 1-2-5 width for very large tables.
    width = next(s for s in _steps() if units * math.ceil(units / s) <= _HISTOGRAM_CELLS)

    # Each unit's rounding step is a property of the table, not of the seed: a pilot run with
    # a fixed seed and a quarter of the draws estimates, for a run of `sims` draws, the chance
    # that the unit's limits move, and the smallest step keeping it below max_unstable wins.
    # A first pilot of 100 draws settles tables whose limits are hopeless at once (the
    # median step more than twice the withholding threshold); the others get the full pilot.
    for pilot_draws in dict.fromkeys((100, max(100, sims // 4))):
        pilot, _ = _rank_histogram(x, n, fit, pilot_draws, _PILOT_SEED, width)
        step = _pilot_steps(pilot, sims, width, tail, max_unstable)
        if np.median(step) > 2.0 * max(1.0, units / _MOST_COARSE):
            break
    attrs = {"rank_draws": int(sims), "rank_step": int(step.max()),
             "rank_step_median": float(np.median(step)), "rank_hyper_draws": 0}
    if np.median(step) > max(1.0, units / _MOST_COARSE):
        # Limits this coarse say nothing a reader can use: no ranks rather than noise.
        nan = np.full(units, np.nan)
        attrs.update(rank_mc_error=None, rank_unstable_share=None,
                     rank_note=(f"rank intervals withheld: with {sims} draws their limits could "
                                f"only be given to the nearest {int(np.median(step))} of "
                                f"{units} ranks"))
        return nan, nan, attrs

    cumulative, blocks = _rank_histogram(x, n, fit, sims, seed, width)
    low, high, moving = _limits(cumulative, sims, width, _raw_limits(cumulative, width, tail), step)

    # Standard error of each limit as a continuous quantile (Hall-Sheather sparsity).
    def rank_at(q):
        order = np.floor(np.clip(q * (sims - 1), 0, sims - 1) + 1e-9)
        return np.argmax(cumulative > order, axis=1) * width + 1.0

    sigma = 0.0
    for q in (tail, 1.0 - tail):
        h = _hall_sheather(sims, q)
        spread = rank_at(min(q + h, 1.0)) - rank_at(max(q - h, 0.0))
        sigma = np.maximum(sigma, spread / (2.0 * h) * math.sqrt(q * (1.0 - q) / sims))
    attrs.update(
        rank_mc_error=float(np.max(sigma)),
        rank_unstable_share=float(moving.mean()),
        rank_hyper_draws=int(blocks),
    )
    return low, high, attrs
