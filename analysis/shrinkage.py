"""Shrinkage towards the overall level, honest about how well that level is known.

Model (beta-binomial, Skellam 1948; Griffiths 1973): unit i's true share θ_i ~ Beta(μM,
(1 - μ)M) and x_i | θ_i ~ Binomial(n_i, θ_i). The plug-in empirical-Bayes answer fixes (μ, M)
at their maximum-likelihood values; when units barely differ the likelihood keeps rising as
M -> ∞ and every unit's interval collapses onto the pooled share (30 of 40 alone gave
[0.74992, 0.75008]). Here (μ, M) are not fixed but integrated over their posterior:

* hyperprior: μ ~ Uniform(0, 1) and the intra-unit correlation ρ = 1/(1 + M) ~ Uniform(0, 1)
  — proper, so "no detectable spread" leaves ρ spread over small values instead of at 0;
* the posterior of ρ is computed on an adaptive grid over log ρ (:func:`fit_hyperprior`),
  with μ | ρ approximated by Beta(A_ρ, B_ρ) from the quasi-likelihood weighted mean;
* each unit's posterior is the mixture over the grid; :func:`beta_binomial_shrinkage`
  reports its mean and an interval from the Beta distribution with the mixture's mean and
  variance (Kass & Steffey 1989 add the prior's uncertainty to the variance in the same way,
  to first order).

The same fitted hyperposterior drives the rank simulation (:mod:`analysis.ranks`).

Sources
-------
* Skellam JG (1948). J R Stat Soc B 10:257-261.
* Griffiths DA (1973). Maximum likelihood estimation for the beta-binomial distribution.
  Biometrics 29:637-648.
* Kass RE, Steffey D (1989). Approximate Bayesian inference in conditionally independent
  hierarchical models (parametric empirical Bayes models). J Am Stat Assoc 84:717-726.
* Gelman A et al. (2013). Bayesian Data Analysis, 3rd ed., §5.3 (the hierarchical
  beta-binomial, computed on a grid of hyperparameters).
* Chib S (1995). Marginal likelihood from the Gibbs output. J Am Stat Assoc 90:1313-1321
  (the identity marginal = likelihood × prior / posterior used for μ).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from analysis.intervals import _check_confidence

__all__ = [
    "HyperPosterior",
    "fit_hyperprior",
    "beta_binomial_log_likelihood",
    "beta_binomial_shrinkage",
]

# Grid over log ρ: where to look, how many nodes per pass, and how many zooming passes.
_LOG_RHO_RANGE = (np.log(1e-9), np.log(1.0 - 1e-6))
_GRID_NODES = 16
_GRID_PASSES = 5
# Nodes whose log posterior is this far below the best carry no weight (e^-30).
_NEGLIGIBLE = 30.0


@dataclass(frozen=True)
class HyperPosterior:
    """The posterior of the between-unit distribution, on a grid of ρ = 1/(1 + α + β).

    Attributes
    ----------
    rho : array
        Grid nodes of ρ (increasing).
    weight : array
        Posterior probability of each node (sums to 1); nodes are equally spaced in log ρ.
    step : float
        Spacing of the nodes in log ρ.
    mu_a, mu_b : arrays
        μ | ρ ~ Beta(mu_a, mu_b) at each node.
    n_units : int
        Units used in the fit.
    """

    rho: np.ndarray
    weight: np.ndarray
    step: float
    mu_a: np.ndarray
    mu_b: np.ndarray
    n_units: int

    @property
    def strength(self) -> np.ndarray:
        """α + β = 1/ρ - 1 at each node: how many answers the prior is worth."""
        return 1.0 / self.rho - 1.0

    @property
    def mu_mean(self) -> np.ndarray:
        return self.mu_a / (self.mu_a + self.mu_b)

    @property
    def prior_mean(self) -> float:
        """Posterior mean of μ, the level small units are pulled towards."""
        return float(np.sum(self.weight * self.mu_mean))

    def rho_quantile(self, q) -> np.ndarray:
        """Quantiles of ρ (linear interpolation of the CDF over log ρ)."""
        return np.exp(self._log_rho_quantile(np.asarray(q, dtype=float)))

    def _log_rho_quantile(self, q):
        # Each node's mass is spread evenly over [log ρ - step/2, log ρ + step/2].
        log_rho = np.log(self.rho)
        edges = np.concatenate([[log_rho[0] - self.step / 2], log_rho + self.step / 2])
        cdf = np.concatenate([[0.0], np.cumsum(self.weight)])
        return np.interp(q, cdf, edges)

    @property
    def tau(self) -> float:
        """Posterior mean of the between-unit standard deviation sqrt(μ(1 - μ)ρ)."""
        mean_mu = self.mu_mean
        var_mu = mean_mu * (1 - mean_mu) / (self.mu_a + self.mu_b + 1)
        spread = (mean_mu * (1 - mean_mu) - var_mu) * self.rho
        return float(np.sum(self.weight * np.sqrt(np.maximum(spread, 0.0))))

    def summary(self) -> dict:
        """Plain numbers for ``attrs``: prior mean, median and 95 % range of ρ, τ, strength."""
        low, median, high = self.rho_quantile([0.025, 0.5, 0.975])
        return {
            "mean": self.prior_mean,
            "rho": float(median),
            "rho_low": float(low),
            "rho_high": float(high),
            "strength": float(1.0 / median - 1.0),
            "tau": self.tau,
            "n_units": self.n_units,
            "hyperprior": "mu ~ Uniform(0, 1), rho = 1/(1 + alpha + beta) ~ Uniform(0, 1)",
        }

    def draw(self, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Stratified draws (μ, α + β) from the hyperposterior."""
        u = (np.arange(size) + rng.random(size)) / size
        rng.shuffle(u)
        log_rho = np.minimum(self._log_rho_quantile(u), _LOG_RHO_RANGE[1])  # ρ < 1
        rho = np.exp(log_rho)
        log_nodes = np.log(self.rho)
        a = np.interp(log_rho, log_nodes, self.mu_a)
        b = np.interp(log_rho, log_nodes, self.mu_b)
        mu = rng.beta(a, b)
        return mu, 1.0 / rho - 1.0


def beta_binomial_log_likelihood(x, n, alpha, beta) -> float:
    """Beta-binomial log-likelihood Σ log P(x_i | n_i, α, β).

    P(x | n, α, β) = C(n, x) · B(x + α, n - x + β) / B(α, β), with B the beta function.
    Units with n == 0 contribute log 1 = 0.
    """
    from analysis.funnel import _units

    x, n = _units(x, n)
    alpha = float(alpha)
    beta = float(beta)
    if not (alpha > 0 and beta > 0 and np.isfinite(alpha) and np.isfinite(beta)):
        raise ValueError(f"alpha and beta must be positive and finite, got {alpha!r}, {beta!r}")
    log_choose = special.gammaln(n + 1.0) - special.gammaln(x + 1.0) - special.gammaln(n - x + 1.0)
    kernel = special.betaln(x + alpha, n - x + beta) - special.betaln(alpha, beta)
    return float(np.sum(log_choose + kernel))


def _effective_units(x, n):
    """Validated (possibly non-integer, effective) counts of the units with n > 0."""
    try:
        x = np.atleast_1d(np.asarray(x, dtype=float))
        n = np.atleast_1d(np.asarray(n, dtype=float))
    except (TypeError, ValueError):
        raise ValueError("x and n must be numeric") from None
    if x.shape != n.shape or x.ndim != 1:
        raise ValueError("x and n must be one-dimensional and of the same length")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(n))):
        raise ValueError("x and n must be finite")
    if np.any(x < 0) or np.any(x > n):
        raise ValueError("counts must satisfy 0 <= x <= n")
    return x, n


def _log_marginal(log_rho, x, n, count):
    """log p(data | ρ) (up to a constant), and the Beta(A, B) approximation of μ | ρ, per node."""
    rho = np.exp(log_rho)[:, None]
    strength = 1.0 / rho - 1.0
    weights = n / (1.0 + (n - 1.0) * rho)  # quasi-likelihood weights of a beta-binomial mean
    share = x / n
    a = np.sum(count * weights * share, axis=1) + 1.0
    b = np.sum(count * weights * (1.0 - share), axis=1) + 1.0
    mu = (a / (a + b))[:, None]
    alpha, beta = mu * strength, (1.0 - mu) * strength
    log_lik = np.sum(
        count * (special.betaln(x + alpha, n - x + beta) - special.betaln(alpha, beta)), axis=1
    )
    # Chib's identity with a uniform prior on μ: log p(data | ρ) = ℓ(μ, ρ) - log p(μ | ρ, data).
    log_post_mu = stats.beta.logpdf(mu[:, 0], a, b)
    return log_lik - log_post_mu, a, b


def fit_hyperprior(x, n) -> HyperPosterior | None:
    """Posterior of (μ, ρ) given units' satisfied counts x and answers n (None if no unit).

    Counts may be effective (non-integer) counts from clustered ratings. Identical (x, n)
    units are pooled. The log posterior of ρ (uniform prior on ρ, hence density ∝ ρ on the
    log ρ grid) is evaluated on 16 nodes over log ρ ∈ [log 1e-9, 0), then on 16 nodes over
    the region within e^-30 of the best node, zooming until at least 10 nodes carry weight
    (at most five passes). Marginalising μ uses Chib's identity with μ | ρ ≈ Beta(1 + Σ w_i
    p_i, 1 + Σ w_i (1 - p_i)), w_i = n_i / (1 + (n_i - 1) ρ) — exact as ρ -> 0.
    """
    x, n = _effective_units(x, n)
    used = n > 0
    if not used.any():
        return None
    distinct, count = np.unique(np.column_stack([x[used], n[used]]), axis=0, return_counts=True)
    ux, un, count = distinct[:, 0], distinct[:, 1], count.astype(float)
    low, high = _LOG_RHO_RANGE
    for _ in range(_GRID_PASSES):
        nodes = np.linspace(low, high, _GRID_NODES)
        log_marginal, a, b = _log_marginal(nodes, ux, un, count)
        log_post = log_marginal + nodes  # uniform prior on ρ: density ρ on the log scale
        log_post = np.where(np.isfinite(log_post), log_post, -np.inf)
        best = log_post.max()
        alive = np.flatnonzero(log_post > best - _NEGLIGIBLE)
        step = nodes[1] - nodes[0]
        if alive.size >= 10:
            break
        low = max(_LOG_RHO_RANGE[0], nodes[alive[0]] - step)
        high = min(_LOG_RHO_RANGE[1], nodes[alive[-1]] + step)
    weight = np.exp(log_post - best)
    weight /= weight.sum()
    return HyperPosterior(
        rho=np.exp(nodes), weight=weight, step=float(step), mu_a=a, mu_b=b,
        n_units=int(used.sum()),
    )


def shrinkage_moments(x, n, fit: HyperPosterior) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and variance of each unit's θ, mixed over the hyperposterior grid.

    Given ρ (M = 1/ρ - 1) and μ ~ Beta(A, B) with mean m and variance s,
    E[θ | ρ] = (x + mM)/(n + M) and E[θ² | ρ] = [(x + mM)(x + mM + 1) + M² s] /
    ((n + M)(n + M + 1)), both exact; they are averaged over the nodes with their weights.
    """
    keep = fit.weight > 0
    strength = fit.strength[keep][:, None]
    w = fit.weight[keep][:, None]
    a, b = fit.mu_a[keep][:, None], fit.mu_b[keep][:, None]
    m = a / (a + b)
    s = m * (1.0 - m) / (a + b + 1.0)
    total = n[None, :] + strength
    first = x[None, :] + m * strength
    mean = np.sum(w * first / total, axis=0)
    second = np.sum(w * (first * (first + 1.0) + strength**2 * s) / (total * (total + 1.0)), axis=0)
    return mean, np.maximum(second - mean**2, 0.0)


def beta_binomial_shrinkage(x, n, *, confidence=0.95, fit: HyperPosterior | None = None):
    """Shrunken estimates of unit shares with intervals that carry the prior's uncertainty.

    Each unit's posterior for θ_i averages Beta(x_i + μM, n_i - x_i + (1 - μ)M) over the
    hyperposterior of (μ, M) (:func:`fit_hyperprior`; pass ``fit`` to reuse one). Reported:
    its mean ``shrunken`` and the equal-tailed interval of the Beta distribution with the
    same mean and variance. The estimate lies between the unit's own share and the overall
    level, small units move furthest, and the interval never collapses: when units barely
    differ the hyperposterior keeps the between-unit spread the data cannot exclude.

    ``x`` and ``n`` may be effective (non-integer) counts. Units with n == 0 get NaN.

    Returns
    -------
    (table, fit)
        ``table``: one row per unit with ``x``, ``n``, ``observed`` (x/n), ``shrunken``,
        ``low``, ``high`` and ``weight`` (the share of the unit's own data in the estimate,
        ``(shrunken - μ)/(observed - μ)`` averaged as n/(n + M) over the grid). ``fit``: the
        :class:`HyperPosterior` (None when no unit has answers).
    """
    level = _check_confidence(confidence)
    x, n = _effective_units(x, n)
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
    if fit is None:
        fit = fit_hyperprior(x, n)
    if fit is None or not used.any():
        return pd.DataFrame(table), fit
    mean, variance = shrinkage_moments(x[used], n[used], fit)
    low, high = beta_interval(mean, variance, level)
    table["shrunken"][used] = mean
    table["low"][used] = low
    table["high"][used] = high
    keep = fit.weight > 0
    own = n[used][None, :] / (n[used][None, :] + fit.strength[keep][:, None])
    table["weight"][used] = np.sum(fit.weight[keep][:, None] * own, axis=0)
    return pd.DataFrame(table), fit


def beta_interval(mean, variance, level):
    """Equal-tailed interval of the Beta distribution with this mean and variance."""
    mean = np.clip(mean, 1e-12, 1 - 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = np.where(variance > 0, mean * (1.0 - mean) / variance - 1.0, 1e15)
    # A variance at or above the Bernoulli one has no Beta: take the widest there is.
    total = np.clip(total, 1e-6, 1e15)
    a, b = mean * total, (1.0 - mean) * total
    tail = (1.0 - level) / 2.0
    return special.betaincinv(a, b, tail), special.betaincinv(a, b, 1.0 - tail)
