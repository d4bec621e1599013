"""Tests for the comparison modules: funnel, over-dispersion, verdicts, ranks, shrinkage, change.

Expected values never come from the code under test. They come from:

* brute-force re-computation of the published definitions with scipy.stats (binomial and
  beta-binomial CDFs, a plain search for the quantiles, log-space sums of probabilities);
* exact identities the definitions imply (the limits are quantiles of R ∓ U, U ~ Uniform(0, 1),
  which gives a CDF identity and a mirror symmetry between p0 and 1 - p0; a share is at or
  beyond a limit exactly when its exact tail probability is at most the nominal one);
* statsmodels: the DerSimonian-Laird τ² of a random-effects meta-analysis, Benjamini-Hochberg,
  the pooled two-sample z-test, Newcombe's interval for a difference;
* simulations with a fixed seed where the truth is known (Monte Carlo error stated).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from analysis.comparison import (
    ABOVE,
    BELOW,
    COMPARISON_VALUES,
    DECLINED,
    IMPROVED,
    INSUFFICIENT,
    INSUFFICIENT_DATA,
    NO_CLEAR_CHANGE,
    WITHIN,
    adjusted_funnel_limits,
    benjamini_hochberg,
    beta_binomial_log_likelihood,
    beta_binomial_shrinkage,
    beta_binomial_tails,
    change_flags,
    fit_hyperprior,
    funnel_flags,
    funnel_limits,
    overdispersion,
    rank_intervals,
)
from analysis.intervals import difference_ci

LEVEL_TAILS = {"95": 0.025, "99.8": 0.001}


# --------------------------------------------------------------------------- helpers


def quantile_limits(n: int, p0: float, tail: float, pmf) -> tuple[float, float]:
    """The lower (R - U) and upper (R + U) interpolated quantiles by a plain search.

    ``pmf`` is the null's probability of each count 0..n. NaN where no count can be flagged.
    """
    probs = pmf(np.arange(n + 1))
    cdf = np.cumsum(probs)
    sf = 1.0 - np.concatenate([[0.0], cdf[:-1]])  # P(R >= k)
    lows = [k for k in range(n + 1) if cdf[k] <= tail]
    lower = np.nan
    if lows:
        k = max(lows)
        lower = (k + (tail - cdf[k]) / probs[k + 1]) / n
    highs = [k for k in range(n + 1) if sf[k] <= tail]
    upper = np.nan
    if highs:
        k = min(highs)
        upper = (k - (tail - sf[k]) / probs[k - 1]) / n
    return lower, upper


def log_space_tail(x: int, n: int, a: float, b: float, upper: bool) -> float:
    """P(X >= x) or P(X <= x) for a beta-binomial, summing every term in log space."""
    k = np.arange(n + 1)
    log_pmf = (special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
               + special.betaln(k + a, n - k + b) - special.betaln(a, b))
    chosen = log_pmf[k >= x] if upper else log_pmf[k <= x]
    top = chosen.max()
    return float(np.exp(top) * np.exp(chosen - top).sum())


def winsorised_null_phi(q: float) -> float:
    """E[clip(Z, z_q, z_(1-q))²] for Z ~ N(0, 1), by numerical integration."""
    c = stats.norm.isf(q)
    inner, _ = integrate.quad(lambda z: z * z * stats.norm.pdf(z), -c, c)
    return inner + 2.0 * q * c * c


@pytest.fixture(scope="module")
def null_units():
    """20,000 units whose true share is exactly the target 0.8 (no over-dispersion)."""
    rng = np.random.default_rng(20240501)
    n = rng.integers(30, 601, 20_000)
    return rng.binomial(n, 0.8), n


@pytest.fixture(scope="module")
def overdispersed_units():
    """400 units with true shares ~ Beta(40, 10): mean 0.8, variance 0.8·0.2/51."""
    rng = np.random.default_rng(77)
    n = rng.integers(100, 1001, 400)
    return rng.binomial(n, rng.beta(40.0, 10.0, 400)), n, 0.8 * 0.2 / 51.0


# --------------------------------------------------------------------------- exact tails


@pytest.mark.parametrize("p0, rho", [(0.8, 0.01), (0.95, 0.05), (0.5, 0.2), (0.9, 0.001),
                                     (0.3, 0.6), (0.93, 0.08)])
def test_beta_binomial_tails_match_scipy_and_log_space_sums(p0, rho):
    rng = np.random.default_rng(int(1000 * p0 + 10_000 * rho))
    n = rng.integers(1, 800, 60)
    x = rng.integers(0, n + 1)
    lower, upper = beta_binomial_tails(x, n, p0, rho)
    a, b = p0 * (1 / rho - 1), (1 - p0) * (1 / rho - 1)
    # scipy agrees where its (1 - cdf) is not eaten by rounding...
    np.testing.assert_allclose(lower, stats.betabinom.cdf(x, n, a, b), atol=1e-10)
    np.testing.assert_allclose(upper, stats.betabinom.sf(x - 1, n, a, b), atol=1e-10)
    # ... and a plain log-space sum of every term agrees to 1e-9 relative, deep tails included.
    exact_lower = [log_space_tail(xi, ni, a, b, False) for xi, ni in zip(x, n)]
    exact_upper = [log_space_tail(xi, ni, a, b, True) for xi, ni in zip(x, n)]
    np.testing.assert_allclose(lower, exact_lower, rtol=1e-9)
    np.testing.assert_allclose(upper, exact_upper, rtol=1e-9)


def test_binomial_tails_and_the_30_of_30_case():
    lower, upper = beta_binomial_tails([30, 25, 0], [30, 30, 30], 0.95, 0.0)
    np.testing.assert_allclose(upper, stats.binom.sf([29, 24, -1], 30, 0.95))
    np.testing.assert_allclose(lower, stats.binom.cdf([30, 25, 0], 30, 0.95))
    # The case: 30 of 30 against a 0.95 target is an ordinary result.
    assert upper[0] == pytest.approx(0.95**30) == pytest.approx(0.2146, abs=1e-4)


def test_tails_reject_bad_rho():
    with pytest.raises(ValueError):
        beta_binomial_tails([3], [10], 0.5, 1.0)
    with pytest.raises(ValueError):
        beta_binomial_tails([3], [10], 0.5, -0.1)


# --------------------------------------------------------------------------- funnel limits


@pytest.mark.parametrize("p0", [0.1, 0.5, 0.8, 0.93])
def test_funnel_limits_match_brute_force_search(p0):
    sizes = [1, 2, 5, 10, 37, 100, 250, 1000]
    table = funnel_limits(sizes, p0)
    for label, tail in LEVEL_TAILS.items():
        expected = [quantile_limits(n, p0, tail, lambda k, n=n: stats.binom.pmf(k, n, p0))
                    for n in sizes]
        np.testing.assert_allclose(table[f"lower_{label}"], [e[0] for e in expected], atol=1e-12)
        np.testing.assert_allclose(table[f"upper_{label}"], [e[1] for e in expected], atol=1e-12)


@pytest.mark.parametrize("p0", [0.3, 0.8, 0.95])
@pytest.mark.parametrize("n", [12, 30, 57, 200, 1500])
def test_a_share_is_beyond_a_limit_exactly_when_its_tail_probability_is_small(p0, n):
    table = funnel_limits(n, p0)
    x = np.arange(n + 1)
    for label, tail in LEVEL_TAILS.items():
        lower, upper = table[f"lower_{label}"].iloc[0], table[f"upper_{label}"].iloc[0]
        below = stats.binom.cdf(x, n, p0) <= tail
        above = stats.binom.sf(x - 1, n, p0) <= tail
        np.testing.assert_array_equal(x / n <= lower if np.isfinite(lower) else False, below)
        np.testing.assert_array_equal(x / n >= upper if np.isfinite(upper) else False, above)


def test_thirty_of_thirty_is_not_above_a_095_target():
    # Regression (issue 7): the old upper limit flagged 30/30 "above" at 99.8 %.
    table = funnel_limits(30, 0.95)
    assert np.isnan(table["upper_99.8"].iloc[0]) and np.isnan(table["upper_95"].iloc[0])
    flags = funnel_flags([30], [30], 0.95, adjustment="none")
    assert flags["flag_99.8"].iloc[0] == WITHIN and flags["flag_95"].iloc[0] == WITHIN
    assert flags["p_upper"].iloc[0] == pytest.approx(0.95**30)


@pytest.mark.parametrize("p0", [0.3, 0.8])
def test_limits_are_quantiles_of_r_minus_and_plus_uniform(p0):
    # P(R - U <= t) = F(r - 1) + (t - r + 1)·P(R = r) for t in [r - 1, r]: at t = n·lower it
    # equals the tail probability; P(R + U >= t) = P(R >= r + 1) + (r + 1 - t)·P(R = r) for
    # t in [r, r + 1]: at t = n·upper it equals the tail probability too.
    sizes = np.array([20, 55, 130, 400, 2500])
    table = funnel_limits(sizes, p0)
    for label, tail in LEVEL_TAILS.items():
        t = sizes * table[f"lower_{label}"].to_numpy()
        r = np.ceil(t)
        cdf = stats.binom.cdf(r - 1, sizes, p0) + (t - r + 1) * stats.binom.pmf(r, sizes, p0)
        np.testing.assert_allclose(cdf, tail, rtol=1e-9)
        upper = table[f"upper_{label}"].to_numpy()
        drawn = np.isfinite(upper)  # NaN: even n of n has a tail probability above `tail`
        assert drawn.sum() >= 4 and (stats.binom.pmf(sizes, sizes, p0)[~drawn] > tail).all()
        t = (sizes * upper)[drawn]
        r = np.floor(t)
        sf = (stats.binom.sf(r, sizes[drawn], p0)
              + (r + 1 - t) * stats.binom.pmf(r, sizes[drawn], p0))
        np.testing.assert_allclose(sf, tail, rtol=1e-9)


@pytest.mark.parametrize("n", [10_000, 100_000, 1_000_000])
def test_funnel_limits_approach_the_normal_approximation(n):
    p0 = 0.8
    sd = np.sqrt(p0 * (1 - p0) / n)
    table = funnel_limits(n, p0)
    for label, tail in LEVEL_TAILS.items():
        z = stats.norm.isf(tail)
        assert abs(table[f"lower_{label}"].iloc[0] - (p0 - z * sd)) < 0.05 * sd
        assert abs(table[f"upper_{label}"].iloc[0] - (p0 + z * sd)) < 0.05 * sd


def test_funnel_narrows_as_n_grows():
    coarse = funnel_limits([50, 100, 200, 500, 1000, 2000, 5000, 20000], 0.8)
    for label in LEVEL_TAILS:
        assert np.all(np.diff(coarse[f"upper_{label}"] - coarse[f"lower_{label}"]) < 0)
    fine = funnel_limits(np.arange(10, 3001), 0.8)
    for label in LEVEL_TAILS:
        lower = fine[f"lower_{label}"].dropna().to_numpy()
        upper = fine[f"upper_{label}"].dropna().to_numpy()
        assert np.all(np.diff(lower) >= -1e-12)
        # Discreteness leaves only a small sawtooth in the upper limit.
        assert np.all(np.diff(upper) < 2e-3)


@pytest.mark.parametrize("n", [20, 51, 300, 4000])
def test_mirror_symmetry_between_p0_and_1_minus_p0(n):
    # n - R ~ Bin(n, 1 - p0) and n - (R - U) = (n - R) + U: upper(1 - p0) = 1 - lower(p0).
    low_p, high_p = funnel_limits(n, 0.3), funnel_limits(n, 0.7)
    for label in LEVEL_TAILS:
        np.testing.assert_allclose(high_p[f"upper_{label}"], 1.0 - low_p[f"lower_{label}"],
                                   atol=1e-12)
        np.testing.assert_allclose(high_p[f"lower_{label}"], 1.0 - low_p[f"upper_{label}"],
                                   atol=1e-12)


def test_998_limits_are_wider_than_95_limits():
    table = funnel_limits(np.arange(30, 2001), 0.8).dropna()
    assert np.all(table["lower_99.8"] < table["lower_95"])
    assert np.all(table["upper_99.8"] > table["upper_95"])


def test_funnel_limits_shape_columns_and_empty_units():
    table = funnel_limits([0, 10, 100], 0.7, levels=(0.9,))
    assert list(table.columns) == ["n", "target", "lower_90", "upper_90"]
    assert table.iloc[0][["lower_90", "upper_90"]].isna().all()
    assert table.iloc[1:][["lower_90", "upper_90"]].notna().all().all()
    # Where no count can be flagged the limit is NaN, never a clipped 0 or 1.
    tiny = funnel_limits(np.arange(1, 30), 0.97)
    assert tiny["upper_95"].isna().all()
    assert tiny.filter(like="_").stack().dropna().between(0.0, 1.0).all()


def test_per_unit_targets_broadcast():
    table = funnel_limits([100, 100], [0.6, 0.9])
    single = [funnel_limits(100, p) for p in (0.6, 0.9)]
    np.testing.assert_allclose(table["upper_95"], [s["upper_95"].iloc[0] for s in single])


def test_additive_limits_are_beta_binomial_quantiles():
    tau2 = 0.001
    rho = tau2 / (0.8 * 0.2)
    a, b = 0.8 * (1 / rho - 1), 0.2 * (1 / rho - 1)
    sizes = [30, 100, 400]
    table = adjusted_funnel_limits(sizes, 0.8, method="additive", tau2=tau2)
    for i, n in enumerate(sizes):
        for label, tail in LEVEL_TAILS.items():
            low, high = quantile_limits(n, 0.8, tail, lambda k, n=n: stats.betabinom.pmf(k, n, a, b))
            assert table[f"lower_{label}"].iloc[i] == pytest.approx(low, abs=1e-9)
            if np.isnan(high):
                assert np.isnan(table[f"upper_{label}"].iloc[i])
            else:
                assert table[f"upper_{label}"].iloc[i] == pytest.approx(high, abs=1e-9)


def test_additive_limits_are_wider_and_tend_to_the_spread_of_true_shares(overdispersed_units):
    x, n, _ = overdispersed_units
    tau2 = overdispersion(x, n, 0.8).tau2
    grid = np.array([50, 100, 200, 500, 1000, 5000, 100_000])
    exact = funnel_limits(grid, 0.8)
    additive = adjusted_funnel_limits(grid, 0.8, method="additive", tau2=tau2)
    rho = tau2 / 0.16
    prior = stats.beta(0.8 * (1 / rho - 1), 0.2 * (1 / rho - 1))
    for label, tail in LEVEL_TAILS.items():
        assert np.all(additive[f"lower_{label}"] < exact[f"lower_{label}"])
        assert np.all(additive[f"upper_{label}"] > exact[f"upper_{label}"])
        # With 100,000 answers the count is the true share: the funnel is the Beta's quantiles.
        assert additive[f"lower_{label}"].iloc[-1] == pytest.approx(prior.ppf(tail), abs=2e-3)
        assert additive[f"upper_{label}"].iloc[-1] == pytest.approx(prior.isf(tail), abs=2e-3)


def test_multiplicative_limits_scale_by_root_phi_and_never_narrow():
    grid = np.array([100, 400, 1600])
    base = adjusted_funnel_limits(grid, 0.6, method="multiplicative", phi=1.0)
    wide = adjusted_funnel_limits(grid, 0.6, method="multiplicative", phi=2.25)
    narrow = adjusted_funnel_limits(grid, 0.6, method="multiplicative", phi=0.5)
    np.testing.assert_allclose(wide["upper_95"] - 0.6, 1.5 * (base["upper_95"] - 0.6))
    np.testing.assert_allclose(base["upper_95"], 0.6 + stats.norm.isf(0.025) * np.sqrt(0.24 / grid))
    pd.testing.assert_frame_equal(narrow, base)
    pd.testing.assert_frame_equal(
        adjusted_funnel_limits(grid, 0.6, method="none"), funnel_limits(grid, 0.6)
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: funnel_limits([10], 0.0),
        lambda: funnel_limits([10], 1.0),
        lambda: funnel_limits([10], float("nan")),
        lambda: funnel_limits([-1], 0.5),
        lambda: funnel_limits([2.5], 0.5),
        lambda: funnel_limits([10], 0.5, levels=(0.95, 1.0)),
        lambda: funnel_limits([10], 0.5, levels=()),
        lambda: funnel_limits([[10]], 0.5),
        lambda: adjusted_funnel_limits([10], 0.5, method="bogus"),
        lambda: adjusted_funnel_limits([10], 0.5, method="additive", tau2=-0.1),
        lambda: funnel_flags([11], [10], 0.5),
        lambda: funnel_flags([1, 2], [10, 10, 10], 0.5),
        lambda: funnel_flags([1], [10], 0.5, adjustment="auto-ish"),
        lambda: funnel_flags([1], [10], 0.5, design_effect=0.5),
        lambda: funnel_flags([1], [10], 0.5, fdr=0.0),
        lambda: overdispersion([1, 2], [10, 10], 0.5, winsorize=0.5),
    ],
)
def test_impossible_input_raises(call):
    with pytest.raises(ValueError):
        call()


# --------------------------------------------------------------------------- flags and verdicts


def test_unit_at_target_is_within_and_clear_outliers_are_flagged():
    table = funnel_flags([800, 700, 900, 0], [1000, 1000, 1000, 0], 0.8, adjustment="none")
    assert table["z"].iloc[0] == 0.0
    assert list(table["flag_95"]) == [WITHIN, BELOW, ABOVE, INSUFFICIENT_DATA]
    assert list(table["flag_99.8"]) == [WITHIN, BELOW, ABOVE, INSUFFICIENT_DATA]
    assert list(table["comparison"]) == [WITHIN, BELOW, ABOVE, INSUFFICIENT]
    assert table["z"].iloc[1] == pytest.approx(-0.1 / np.sqrt(0.16 / 1000))
    assert np.isnan(table["z"].iloc[3]) and np.isnan(table["proportion"].iloc[3])
    assert set(table["comparison"]) <= set(COMPARISON_VALUES)


def test_flags_follow_the_exact_tails_and_agree_with_the_limits(overdispersed_units):
    x, n, _ = overdispersed_units
    for adjustment in ("none", "additive"):
        table = funnel_flags(x, n, 0.8, adjustment=adjustment)
        tau2 = table.attrs["tau2"]
        rho = tau2 / 0.16
        if rho > 0:
            a, b = 0.8 * (1 / rho - 1), 0.2 * (1 / rho - 1)
            lower, upper = stats.betabinom.cdf(x, n, a, b), stats.betabinom.sf(x - 1, n, a, b)
        else:
            lower, upper = stats.binom.cdf(x, n, 0.8), stats.binom.sf(x - 1, n, 0.8)
        np.testing.assert_allclose(table["p_lower"], lower, atol=1e-10)
        np.testing.assert_allclose(table["p_upper"], upper, atol=1e-10)
        for label, tail in LEVEL_TAILS.items():
            assert ((table[f"flag_{label}"] == ABOVE) == (upper <= tail)).all()
            assert ((table[f"flag_{label}"] == BELOW) == (lower <= tail)).all()
            # The unit's own band limits say the same.
            assert ((table[f"flag_{label}"] == ABOVE) ==
                    (table["proportion"] >= table[f"upper_{label}"])).all()
            assert ((table[f"flag_{label}"] == BELOW) ==
                    (table["proportion"] <= table[f"lower_{label}"])).all()


def test_verdicts_are_benjamini_hochberg_over_exact_two_sided_p_values(overdispersed_units):
    x, n, _ = overdispersed_units
    table = funnel_flags(x, n, 0.8, adjustment="none")
    two_sided = np.minimum(1, 2 * np.minimum(table["p_lower"], table["p_upper"]))
    np.testing.assert_allclose(table["p_value"], two_sided)
    reject, q, _, _ = multipletests(two_sided, alpha=0.05, method="fdr_bh")
    np.testing.assert_allclose(table["q_value"], q, rtol=1e-12)
    named = table["comparison"].isin([ABOVE, BELOW])
    np.testing.assert_array_equal(named, reject)
    assert (table.loc[named & (table["proportion"] > 0.8), "comparison"] == ABOVE).all()
    assert (table.loc[named & (table["proportion"] < 0.8), "comparison"] == BELOW).all()


def test_null_units_are_flagged_at_most_at_the_nominal_rate(null_units):
    # 20,000 units, none different: exact tails never exceed the nominal rate (discreteness
    # makes them conservative). Monte Carlo error of a 5 % rate here: 0.0015.
    x, n = null_units
    table = funnel_flags(x, n, 0.8, adjustment="none")
    outside_95 = (table["flag_95"] != WITHIN).mean()
    outside_998 = (table["flag_99.8"] != WITHIN).mean()
    assert 0.035 < outside_95 <= 0.05 + 2 * 0.0015
    assert outside_998 <= 0.002 + 2 * 0.0003
    assert 0.3 < (table["flag_95"] == ABOVE).mean() / outside_95 < 0.7
    # And the published verdict names (almost) nobody: FDR control across 20,000 units.
    assert table["comparison"].isin([ABOVE, BELOW]).sum() <= 2


def test_additive_adjustment_is_applied_even_without_a_significant_test(null_units):
    x, n = null_units
    table = funnel_flags(x, n, 0.8)  # the default, "additive"
    assert table.attrs["adjustment"] == "additive"
    assert table.attrs["tau2"] == pytest.approx(overdispersion(x, n, 0.8).tau2)
    auto = funnel_flags(x, n, 0.8, adjustment="auto")
    assert auto.attrs["adjustment"] == "none"  # the test is not significant: no adjustment


def test_overdispersed_units_are_not_all_flagged_after_adjustment(overdispersed_units):
    x, n, _ = overdispersed_units
    plain = funnel_flags(x, n, 0.8, adjustment="none")
    additive = funnel_flags(x, n, 0.8)
    assert (plain["flag_95"] != WITHIN).mean() > 0.3
    # Monte Carlo error of a 5 % rate over 400 units: 0.011.
    assert (additive["flag_95"] != WITHIN).mean() <= 0.05 + 3 * 0.011


def test_design_effect_widens_the_null():
    x, n = [130, 130], [200, 200]
    plain = funnel_flags(x, n, 0.8, adjustment="none")
    clustered = funnel_flags(x, n, 0.8, adjustment="none", design_effect=[1.0, 3.0])
    assert clustered["p_value"].iloc[1] > 10 * plain["p_value"].iloc[1]
    assert clustered["p_value"].iloc[0] == pytest.approx(plain["p_value"].iloc[0])
    # The beta-binomial null with ρ = (deff - 1)/(n - 1) has variance n p q deff.
    rho = 2.0 / 199.0
    a, b = 0.8 * (1 / rho - 1), 0.2 * (1 / rho - 1)
    assert clustered["p_lower"].iloc[1] == pytest.approx(stats.betabinom.cdf(130, 200, a, b))


def test_explicit_phi_and_tau2_are_used():
    x, n = [60, 80, 95], [100, 100, 100]
    table = funnel_flags(x, n, 0.8, adjustment="additive", tau2=0.001)
    rho = 0.001 / 0.16
    a, b = 0.8 * (1 / rho - 1), 0.2 * (1 / rho - 1)
    np.testing.assert_allclose(table["p_lower"], stats.betabinom.cdf(x, 100, a, b))
    sd = np.sqrt(0.16 * (1 + 99 * rho) / 100)
    assert table["z_adjusted"].iloc[0] == pytest.approx(-0.2 / sd)
    table = funnel_flags(x, n, 0.8, adjustment="multiplicative", phi=4.0)
    assert table["z_adjusted"].iloc[0] == pytest.approx(table["z"].iloc[0] / 2.0)
    assert table["p_lower"].iloc[0] == pytest.approx(stats.norm.cdf(table["z"].iloc[0] / 2.0))


def test_benjamini_hochberg_matches_statsmodels_and_skips_nan():
    rng = np.random.default_rng(4)
    p = rng.uniform(size=300) ** 3
    np.testing.assert_allclose(benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1],
                               rtol=1e-12)
    with_gaps = benjamini_hochberg([0.01, np.nan, 0.04, 0.03])
    assert np.isnan(with_gaps[1])
    np.testing.assert_allclose(with_gaps[[0, 2, 3]],
                               multipletests([0.01, 0.04, 0.03], method="fdr_bh")[1])
    assert np.isnan(benjamini_hochberg([np.nan])).all()
    with pytest.raises(ValueError):
        benjamini_hochberg([0.5, 1.5])


# --------------------------------------------------------------------------- over-dispersion


def test_no_overdispersion_gives_phi_near_one_and_no_significance(null_units):
    x, n = null_units
    units = len(n)
    plain = overdispersion(x, n, 0.8, target_estimated=False)
    assert abs(plain.phi - 1.0) < 3 * np.sqrt(2.0 / units)
    assert plain.p_value > 0.05
    assert plain.df == units and plain.n_units == units
    # Winsorising is corrected for its bias: φ stays near 1 (it was 0.68 before).
    winsorised = overdispersion(x, n, 0.8, winsorize=0.1)
    raw = winsorised.phi * winsorised_null_phi(0.1)
    assert winsorised.phi == pytest.approx(1.0, abs=0.03)
    assert raw == pytest.approx(winsorised_null_phi(0.1), abs=0.02)


def test_statistic_is_the_pearson_chi_square(overdispersed_units):
    x, n, _ = overdispersed_units
    p0 = 0.8
    pearson = sum(
        stats.chisquare([xi, ni - xi], f_exp=[ni * p0, ni * (1 - p0)]).statistic
        for xi, ni in zip(x, n)
    )
    result = overdispersion(x, n, p0)
    assert result.statistic == pytest.approx(pearson, rel=1e-9)
    assert result.p_value == pytest.approx(stats.chi2.sf(pearson, len(n) - 1))


def test_tau2_is_dersimonian_laird(overdispersed_units):
    # For a pooled target the estimator is exactly the DerSimonian-Laird τ² of a
    # random-effects meta-analysis of the shares with variances p0 q0 / n.
    x, n, _ = overdispersed_units
    target = x.sum() / n.sum()
    result = overdispersion(x, n, target)
    meta = combine_effects(x / n, target * (1 - target) / n, method_re="dl")
    assert result.tau2 == pytest.approx(meta.tau2, rel=1e-10)


def test_tau2_recovers_the_between_unit_variance_on_average():
    # 200 tables of 300 units, true shares ~ Beta with τ = 0.02 (the case).
    rng = np.random.default_rng(31)
    tau = 0.02
    strength = 0.8 * 0.2 / tau**2 - 1
    estimates, winsorised = [], []
    for _ in range(200):
        n = rng.integers(100, 1001, 300)
        x = rng.binomial(n, rng.beta(0.8 * strength, 0.2 * strength, 300))
        target = x.sum() / n.sum()
        estimates.append(overdispersion(x, n, target).tau2)
        winsorised.append(overdispersion(x, n, target, winsorize=0.1).tau2)
    mc_error = np.std(estimates) / np.sqrt(len(estimates))
    assert np.mean(estimates) == pytest.approx(tau**2, abs=3 * mc_error + 2e-6), mc_error
    # The corrected Winsorised estimate is no longer biased low (it was about 0.6 of τ²).
    assert np.mean(winsorised) > 0.85 * tau**2


def test_given_target_uses_i_degrees_of_freedom_and_the_known_mean_moment():
    x, n = np.array([50, 70, 90, 65]), np.array([100, 100, 100, 100])
    result = overdispersion(x, n, 0.75, target_estimated=False)
    w = n / (0.75 * 0.25)
    q = np.sum(w * (x / n - 0.75) ** 2)
    assert result.df == 4
    assert result.tau2 == pytest.approx((q - 4) / w.sum())


def test_overdispersion_with_too_few_units():
    single = overdispersion([5], [10], 0.5)
    assert single.n_units == 1 and np.isnan(single.p_value) and single.tau2 == 0.0
    empty = overdispersion([0, 0], [0, 0], 0.5)
    assert empty.n_units == 0 and np.isnan(empty.phi)


# --------------------------------------------------------------------------- shrinkage


def test_log_likelihood_matches_scipy_betabinom():
    x, n = np.array([0, 3, 7, 10, 0]), np.array([10, 10, 12, 10, 0])
    expected = stats.betabinom.logpmf(x, n, 2.5, 1.5).sum()
    assert beta_binomial_log_likelihood(x, n, 2.5, 1.5) == pytest.approx(expected, rel=1e-12)


@pytest.fixture(scope="module")
def beta_binomial_sample():
    """3,000 units with true shares ~ Beta(16, 4) (mean 0.8, α + β = 20)."""
    rng = np.random.default_rng(2025)
    n = rng.integers(50, 501, 3000)
    return rng.binomial(n, rng.beta(16.0, 4.0, 3000)), n


def test_hyperposterior_recovers_the_truth(beta_binomial_sample):
    x, n = beta_binomial_sample
    fit = fit_hyperprior(x, n)
    summary = fit.summary()
    assert summary["mean"] == pytest.approx(0.8, abs=0.01)
    assert summary["rho_low"] < 1 / 21 < summary["rho_high"]
    assert summary["strength"] == pytest.approx(20.0, rel=0.15)
    assert fit.weight.sum() == pytest.approx(1.0)
    # The posterior mode sits where scipy's beta-binomial likelihood is highest along ρ.
    best = fit.rho[np.argmax(fit.weight)]
    profile = [stats.betabinom.logpmf(x, n, 0.8 * (1 / r - 1), 0.2 * (1 / r - 1)).sum()
               for r in (best * 0.8, best, best * 1.25)]
    assert profile[1] > profile[0] and profile[1] > profile[2]


def test_shrinkage_moments_match_a_brute_force_mixture(beta_binomial_sample):
    # Independent route: draw (ρ, μ) from the fitted grid, then θ from its Beta posterior.
    x, n = beta_binomial_sample
    x, n = np.concatenate([x[:50], [5, 500]]), np.concatenate([n[:50], [10, 1000]])
    table, fit = beta_binomial_shrinkage(x, n)
    rng = np.random.default_rng(8)
    node = rng.choice(fit.rho.size, size=400_000, p=fit.weight)
    mu = rng.beta(fit.mu_a[node], fit.mu_b[node])
    strength = fit.strength[node]
    for i in (0, 7, 50, 51):
        theta = rng.beta(x[i] + mu * strength, n[i] - x[i] + (1 - mu) * strength)
        assert table["shrunken"].iloc[i] == pytest.approx(theta.mean(), abs=4 * theta.std() / 630)
        low, high = np.quantile(theta, [0.025, 0.975])
        assert table["low"].iloc[i] == pytest.approx(low, abs=0.004)
        assert table["high"].iloc[i] == pytest.approx(high, abs=0.004)
    small, large = table.iloc[-2], table.iloc[-1]
    assert abs(small["shrunken"] - 0.5) > 5 * abs(large["shrunken"] - 0.5)
    assert small["weight"] < large["weight"]
    low = np.minimum(table["observed"], fit.prior_mean) - 1e-9
    high = np.maximum(table["observed"], fit.prior_mean) + 1e-9
    assert table["shrunken"].between(low, high).all()


def test_a_single_unit_keeps_an_honest_interval():
    # Regression (issue 7): 30 of 40 alone gave [0.74992, 0.75008].
    table, fit = beta_binomial_shrinkage([30], [40])
    low, high = table[["low", "high"]].iloc[0]
    jeffreys = stats.beta(30.5, 10.5).ppf([0.025, 0.975])
    assert high - low > 0.8 * (jeffreys[1] - jeffreys[0])
    assert low < 0.75 < high


def test_units_that_barely_differ_do_not_collapse_onto_the_pooled_share():
    table, fit = beta_binomial_shrinkage([80] * 10, [100] * 10)
    np.testing.assert_allclose(table["shrunken"], 0.8, atol=2e-3)
    # The interval is at least as wide as what the pooled share alone is known to.
    pooled = stats.beta(801, 201).ppf([0.025, 0.975])
    assert (table["high"] - table["low"] > pooled[1] - pooled[0]).all()


def test_shrinkage_degenerate_inputs():
    table, fit = beta_binomial_shrinkage([0, 0], [0, 0])
    assert fit is None
    assert table[["observed", "shrunken", "low", "high"]].isna().all().all()

    table, fit = beta_binomial_shrinkage([0, 0, 0], [10, 20, 5])
    assert (table["shrunken"] > 0).all() and (table["low"] < table["high"]).all()
    assert table["shrunken"].max() < 0.02

    table, fit = beta_binomial_shrinkage([12, 0, 30, 3], [20, 0, 40, 10])
    assert table.loc[1, ["observed", "shrunken", "low", "high", "weight"]].isna().all()
    assert table.drop(index=1)["shrunken"].notna().all()


# --------------------------------------------------------------------------- rank intervals


def test_clearly_best_large_unit_is_ranked_first_for_certain():
    rng = np.random.default_rng(3)
    n = np.concatenate([[10_000], rng.integers(100, 400, 30)])
    x = np.concatenate([[9_900], rng.binomial(n[1:], 0.75)])
    table = rank_intervals(x, n)
    assert table.loc[0, ["rank", "rank_low", "rank_high"]].tolist() == [1.0, 1.0, 1.0]


def test_small_units_have_wide_rank_intervals():
    rng = np.random.default_rng(11)
    n = np.concatenate([np.full(10, 3), np.full(30, 3000)])
    x = np.concatenate([np.full(10, 2), rng.binomial(3000, rng.uniform(0.6, 0.9, 30))])
    table = rank_intervals(x, n)
    width = table["rank_high"] - table["rank_low"]
    assert width[:10].min() > 3 * width[10:].median()
    assert width[:10].min() >= 15


def test_rank_intervals_are_reproducible_and_ordered():
    rng = np.random.default_rng(5)
    n = rng.integers(20, 2000, 120)
    x = rng.binomial(n, rng.uniform(0.7, 0.95, 120))
    first = rank_intervals(x, n, seed=42, n_sims=3000)
    pd.testing.assert_frame_equal(first, rank_intervals(x, n, seed=42, n_sims=3000))
    assert (first["rank_low"] <= first["rank_high"]).all()
    assert first["rank_low"].min() >= 1 and first["rank_high"].max() <= 120
    # Point ranks order the posterior means, most satisfied first.
    np.testing.assert_array_equal(first["rank"], stats.rankdata(-first["posterior_mean"], method="min"))


def test_rank_intervals_match_an_independent_simulation():
    # A large, well-measured table pins the prior down; then the ranks follow independent
    # Beta(x + μM, n - x + (1 - μ)M) draws, sampled here with scipy and ranked with rankdata.
    rng = np.random.default_rng(7)
    n = rng.integers(200, 2000, 40)
    x = rng.binomial(n, rng.beta(40, 10, 40))
    fit = fit_hyperprior(x, n)
    strength = float(np.sum(fit.weight * fit.strength))
    mu = fit.prior_mean
    sims = 20_000
    draws = stats.beta.rvs(x + mu * strength, n - x + (1 - mu) * strength, size=(sims, 40),
                           random_state=np.random.default_rng(99))
    ranks = stats.rankdata(-draws, axis=1, method="ordinal")
    low = np.quantile(ranks, 0.025, axis=0, method="lower")
    high = np.quantile(ranks, 0.975, axis=0, method="higher")
    table = rank_intervals(x, n, n_sims=sims, seed=1, max_unstable=0.5)
    # Published limits are the simulated ones rounded outwards to each unit's step.
    assert (table["rank_low"] <= low + 1).all() and (table["rank_high"] >= high - 1).all()
    assert np.abs(table["rank_low"] - low).mean() < 1.0
    assert np.abs(table["rank_high"] - high).mean() < 1.0


def test_two_units_rank_interval_follows_the_probability_of_being_ahead():
    unsure = rank_intervals([60, 50], [100, 100])
    assert unsure[["rank_low", "rank_high"]].values.tolist() == [[1.0, 2.0], [1.0, 2.0]]
    sure = rank_intervals([80, 50], [100, 100])
    assert sure[["rank", "rank_low", "rank_high"]].values.tolist() == [[1, 1, 1], [2, 2, 2]]


@pytest.mark.parametrize(
    "a, b", [(10.5, 990.5), (990.5, 10.5), (12.5, 40.5), (300.5, 60.5), (500.5, 500.5)]
)
def test_fast_posterior_draws_have_the_exact_beta_quantiles(a, b):
    from analysis.ranks import _negated_logit_cubic, _polygammas

    for k, value in enumerate(_polygammas(np.array([a, b]))):
        reference = special.digamma([a, b]) if k == 0 else special.polygamma(k, [a, b])
        np.testing.assert_allclose(value, reference, rtol=1e-8)
    c0, c1, c2, c3 = _negated_logit_cubic(np.array(a), np.array(b))
    q = np.array([0.001, 0.025, 0.25, 0.5, 0.75, 0.975, 0.999])
    w = stats.norm.ppf(q)
    approximate = c0 + c1 * w + c2 * w**2 + c3 * w**3
    exact = -special.logit(stats.beta.isf(q, a, b))
    sd = np.sqrt(special.polygamma(1, a) + special.polygamma(1, b))
    assert np.abs(approximate - exact).max() < 0.01 * sd


def test_units_without_answers_are_left_out_of_the_ranking():
    table = rank_intervals([30, 0, 45, 12], [50, 0, 60, 40], seed=9)
    assert table.loc[1, ["posterior_mean", "rank", "rank_low", "rank_high"]].isna().all()
    assert sorted(table["rank"].dropna()) == [1, 2, 3]
    assert rank_intervals([0], [0])["rank"].isna().all()
    single = rank_intervals([3], [9])
    assert single[["rank", "rank_low", "rank_high"]].values.tolist() == [[1, 1, 1]]


def test_rank_limits_barely_move_with_the_seed_and_report_their_monte_carlo_error():
    rng = np.random.default_rng(21)
    n = rng.integers(30, 500, 60)
    x = rng.binomial(n, rng.beta(40, 8, 60))
    tables = [rank_intervals(x, n, seed=seed) for seed in range(4)]
    attrs = tables[0].attrs
    assert attrs["rank_draws"] >= 20_000 and attrs["rank_mc_error"] > 0
    assert attrs["rank_unstable_share"] <= 0.05
    moved = np.mean([
        ((t["rank_low"] != tables[0]["rank_low"]) | (t["rank_high"] != tables[0]["rank_high"])).mean()
        for t in tables[1:]
    ])
    assert moved < 0.05, moved


@pytest.mark.parametrize(
    "kwargs", [{"n_sims": 0}, {"n_sims": 2.5}, {"confidence": 1.5}, {"max_unstable": 0}],
)
def test_rank_intervals_reject_bad_options(kwargs):
    with pytest.raises(ValueError):
        rank_intervals([1, 2], [5, 5], **kwargs)


# --------------------------------------------------------------------------- change


def test_change_flags_direction_interval_and_p_value():
    x_now, n_now = [90, 50, 50, 0, 7], [100, 100, 100, 0, 10]
    x_prev, n_prev = [50, 90, 50, 5, 0], [100, 100, 100, 10, 0]
    table = change_flags(x_now, n_now, x_prev, n_prev)
    expected = [IMPROVED, DECLINED, NO_CLEAR_CHANGE, INSUFFICIENT_DATA, INSUFFICIENT_DATA]
    assert list(table["change"]) == expected
    difference, low, high = difference_ci(x_now[:3], n_now[:3], x_prev[:3], n_prev[:3])
    np.testing.assert_allclose(table["difference"].iloc[:3], difference)
    np.testing.assert_allclose(table["low"].iloc[:3], low)
    np.testing.assert_allclose(table["high"].iloc[:3], high)
    for i in range(3):
        _, p = proportions_ztest([x_now[i], x_prev[i]], [n_now[i], n_prev[i]])
        assert table["p_value"].iloc[i] == pytest.approx(p if np.isfinite(p) else 1.0)
    np.testing.assert_allclose(table["q_value"].iloc[:3],
                               multipletests(table["p_value"].iloc[:3], method="fdr_bh")[1])
    assert table.iloc[3:][["difference", "low", "high", "p_value"]].isna().all().all()


def test_change_interval_agrees_with_statsmodels_newcombe():
    table = change_flags([90, 31, 412], [100, 44, 500], [50, 28, 380], [100, 45, 500])
    for row in table.itertuples():
        low, high = confint_proportions_2indep(
            row.x_now, row.n_now, row.x_prev, row.n_prev, method="newcomb", compare="diff"
        )
        assert (row.low, row.high) == pytest.approx((low, high), abs=1e-10)


def test_change_flags_are_fdr_controlled_not_per_unit():
    rng = np.random.default_rng(8)
    n_now, n_prev = rng.integers(20, 200, 500), rng.integers(20, 200, 500)
    x_now, x_prev = rng.binomial(n_now, 0.8), rng.binomial(n_prev, 0.8)
    table = change_flags(x_now, n_now, x_prev, n_prev)
    per_unit = change_flags(x_now, n_now, x_prev, n_prev, fdr=None)
    _, low, high = difference_ci(x_now, n_now, x_prev, n_prev)
    assert ((per_unit["change"] == IMPROVED) == (low > 0)).all()
    assert per_unit["change"].isin([IMPROVED, DECLINED]).sum() > 5  # ~5 % of 500 by chance
    assert table["change"].isin([IMPROVED, DECLINED]).sum() <= 1
    flagged = table["change"].isin([IMPROVED, DECLINED])
    assert (table.loc[flagged, "q_value"] <= 0.05).all()


def test_change_with_effective_counts():
    # Non-integer effective counts (clustered ratings) are accepted and widen the interval.
    plain = change_flags([80], [100], [70], [100])
    effective = change_flags([40.0], [50.0], [35.0], [50.0])
    assert effective["difference"].iloc[0] == pytest.approx(plain["difference"].iloc[0])
    assert effective["high"].iloc[0] - effective["low"].iloc[0] > plain["high"].iloc[0] - plain["low"].iloc[0]
    assert effective["p_value"].iloc[0] > plain["p_value"].iloc[0]


def test_change_flags_treat_missing_periods_as_insufficient_data():
    table = change_flags([40, 40], [50, 50], [np.nan, 20], [np.nan, 50])
    assert list(table["change"]) == [INSUFFICIENT_DATA, IMPROVED]
    with pytest.raises(ValueError):
        change_flags([60], [50], [20], [50])
    with pytest.raises(ValueError):
        change_flags([40], [50], [20], [50], method="wald")


# --------------------------------------------------------------------------- scale


def test_ten_thousand_units_give_complete_results():
    # Speed is measured in benchmarks/analysis_scale.py; here: at national scale nothing is
    # left undefined, and rank limits that could not be made stable are withheld, not noise.
    rng = np.random.default_rng(0)
    n = rng.poisson(1000, 10_000)
    x = rng.binomial(n, rng.beta(80, 20, 10_000))
    x_prev = rng.binomial(n, 0.8)
    target = x.sum() / n.sum()
    flags = funnel_flags(x, n, target, limits=False)
    ranks = rank_intervals(x, n)
    shrunk, _ = beta_binomial_shrinkage(x, n)
    change = change_flags(x, n, x_prev, n)
    assert len(flags) == len(ranks) == len(shrunk) == len(change) == 10_000
    assert flags["flag_95"].isin([ABOVE, WITHIN, BELOW]).all()
    assert flags["comparison"].isin([ABOVE, WITHIN, BELOW]).all()
    if ranks["rank_low"].isna().all():
        assert "withheld" in ranks.attrs["rank_note"]
    else:
        assert ((ranks["rank_low"] >= 1) & (ranks["rank_high"] <= 10_000)).all()
    assert shrunk["shrunken"].between(0, 1).all()
    assert change["change"].isin([IMPROVED, DECLINED, NO_CLEAR_CHANGE]).all()
