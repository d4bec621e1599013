"""Tests for analysis.comparison: funnel plots, over-dispersion, rank intervals, shrinkage, change.

Expected values never come from the code under test. They come from:

* brute-force re-computation of the published definitions with scipy.stats (binomial CDF
  search for Spiegelhalter's interpolated limits, beta draws and rankdata for rank intervals,
  betabinom.logpmf for the beta-binomial likelihood, beta.ppf for credible intervals);
* exact identities the definitions imply (the interpolated limit is a quantile of R - U,
  U ~ Uniform(0, 1), which gives a CDF identity and a mirror symmetry between p0 and 1 - p0);
* the normal approximation for large n;
* simulations with a fixed seed where the truth is known;
* statsmodels' own Newcombe interval for the change in share.

No published worked example with numbers was found for Spiegelhalter's funnel limits or
over-dispersion estimates (the FunnelPlotR tests check only shapes and types), so none is
used here; the independent computations above stand in for one.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

from analysis.comparison import (
    ABOVE,
    BELOW,
    DECLINED,
    IMPROVED,
    INSUFFICIENT_DATA,
    NO_CLEAR_CHANGE,
    WITHIN,
    adjusted_funnel_limits,
    beta_binomial_log_likelihood,
    beta_binomial_shrinkage,
    change_flags,
    funnel_flags,
    funnel_limits,
    overdispersion,
    rank_intervals,
)
from analysis.intervals import difference_ci

LEVEL_TAILS = {"95": 0.025, "99.8": 0.001}


# --------------------------------------------------------------------------- helpers


def brute_force_limit(n: int, p0: float, prob: float) -> float:
    """Spiegelhalter (2005) appendix limit by a plain search over r with binom.cdf."""
    r = 0
    while stats.binom.cdf(r, n, p0) < prob:
        r += 1
    at, below = stats.binom.cdf(r, n, p0), stats.binom.cdf(r - 1, n, p0)
    alpha = (at - prob) / (at - below)
    return min(max((r - alpha) / n, 0.0), 1.0)


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


# --------------------------------------------------------------------------- funnel limits


@pytest.mark.parametrize("p0", [0.1, 0.5, 0.8, 0.93])
def test_funnel_limits_match_brute_force_binomial_search(p0):
    sizes = [1, 2, 5, 10, 37, 100, 250, 1000]
    table = funnel_limits(sizes, p0)
    for label, tail in LEVEL_TAILS.items():
        expected_low = [brute_force_limit(n, p0, tail) for n in sizes]
        expected_high = [brute_force_limit(n, p0, 1.0 - tail) for n in sizes]
        np.testing.assert_allclose(table[f"lower_{label}"], expected_low, rtol=0, atol=1e-12)
        np.testing.assert_allclose(table[f"upper_{label}"], expected_high, rtol=0, atol=1e-12)


@pytest.mark.parametrize("p0", [0.3, 0.8])
def test_interpolated_limit_is_a_quantile_of_r_minus_uniform(p0):
    # P(R - U <= t) = F(r - 1) + (t - r + 1)·P(R = r) for t in [r - 1, r]; at t = n·limit it
    # must equal the tail probability exactly.
    sizes = np.array([20, 55, 130, 400, 2500])
    table = funnel_limits(sizes, p0)
    for label, tail in LEVEL_TAILS.items():
        for side, prob in (("lower", tail), ("upper", 1.0 - tail)):
            t = sizes * table[f"{side}_{label}"].to_numpy()
            r = np.ceil(t)
            cdf = stats.binom.cdf(r - 1, sizes, p0) + (t - r + 1) * stats.binom.pmf(r, sizes, p0)
            np.testing.assert_allclose(cdf, prob, rtol=1e-9)


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
    coarse = funnel_limits([10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 20000], 0.8)
    for label in LEVEL_TAILS:
        assert np.all(np.diff(coarse[f"upper_{label}"] - coarse[f"lower_{label}"]) < 0)
    fine = funnel_limits(np.arange(10, 3001), 0.8)
    for label in LEVEL_TAILS:
        assert np.all(np.diff(fine[f"lower_{label}"]) >= -1e-12)
        # Discreteness leaves only a small sawtooth in the upper limit.
        assert np.all(np.diff(fine[f"upper_{label}"]) < 1e-3)


@pytest.mark.parametrize("n", [20, 51, 300, 4000])
def test_funnel_symmetry_at_one_half_and_mirror_between_p0_and_1_minus_p0(n):
    # R - U is symmetric about (n - 1)/2 at p0 = 0.5, so lower + upper = 1 - 1/n exactly.
    half = funnel_limits(n, 0.5)
    for label in LEVEL_TAILS:
        total = half[f"lower_{label}"].iloc[0] + half[f"upper_{label}"].iloc[0]
        assert total == pytest.approx(1.0 - 1.0 / n, abs=1e-12)
    # n - R ~ Bin(n, 1 - p0) gives upper(1 - p0) = 1 - 1/n - lower(p0).
    low_p, high_p = funnel_limits(n, 0.3), funnel_limits(n, 0.7)
    for label in LEVEL_TAILS:
        assert high_p[f"upper_{label}"].iloc[0] == pytest.approx(
            1.0 - 1.0 / n - low_p[f"lower_{label}"].iloc[0], abs=1e-12
        )


def test_998_limits_are_wider_than_95_limits():
    table = funnel_limits(np.arange(1, 2001), 0.8)
    assert np.all(table["lower_99.8"] <= table["lower_95"])
    assert np.all(table["upper_99.8"] >= table["upper_95"])
    big = table[table["n"] >= 30]
    assert np.all(big["lower_99.8"] < big["lower_95"])
    assert np.all(big["upper_99.8"] > big["upper_95"])


def test_funnel_limits_shape_columns_and_empty_units():
    table = funnel_limits([0, 10, 100], 0.7, levels=(0.9,))
    assert list(table.columns) == ["n", "target", "lower_90", "upper_90"]
    assert table.iloc[0][["lower_90", "upper_90"]].isna().all()
    assert table.iloc[1:][["lower_90", "upper_90"]].notna().all().all()
    # Limits stay inside [0, 1] even where the interpolation would step outside.
    tiny = funnel_limits(np.arange(1, 30), 0.97)
    assert tiny.filter(like="_").stack().between(0.0, 1.0).all()


def test_per_unit_targets_broadcast():
    table = funnel_limits([100, 100], [0.6, 0.9])
    single = [funnel_limits(100, p) for p in (0.6, 0.9)]
    np.testing.assert_allclose(table["upper_95"], [s["upper_95"].iloc[0] for s in single])


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
        lambda: overdispersion([1, 2], [10, 10], 0.5, winsorize=0.5),
    ],
)
def test_impossible_input_raises(call):
    with pytest.raises(ValueError):
        call()


# --------------------------------------------------------------------------- funnel flags


def test_unit_at_target_is_within_and_clear_outliers_are_flagged():
    table = funnel_flags([800, 700, 900, 0], [1000, 1000, 1000, 0], 0.8, adjustment="none")
    assert table["z"].iloc[0] == 0.0
    assert list(table["flag_95"]) == [WITHIN, BELOW, ABOVE, INSUFFICIENT_DATA]
    assert list(table["flag_99.8"]) == [WITHIN, BELOW, ABOVE, INSUFFICIENT_DATA]
    # z by hand: (0.7 - 0.8) / sqrt(0.8 · 0.2 / 1000)
    assert table["z"].iloc[1] == pytest.approx(-0.1 / np.sqrt(0.16 / 1000))
    assert np.isnan(table["z"].iloc[3]) and np.isnan(table["proportion"].iloc[3])


def test_flags_agree_with_the_limits_they_report(overdispersed_units):
    x, n, _ = overdispersed_units
    for adjustment in ("none", "multiplicative", "additive"):
        table = funnel_flags(x, n, 0.8, adjustment=adjustment)
        for label in LEVEL_TAILS:
            above = table["proportion"] > table[f"upper_{label}"]
            below = table["proportion"] < table[f"lower_{label}"]
            assert (table[f"flag_{label}"] == ABOVE).equals(above)
            assert (table[f"flag_{label}"] == BELOW).equals(below)


def test_null_units_are_flagged_at_about_the_nominal_rate(null_units):
    x, n = null_units
    table = funnel_flags(x, n, 0.8, adjustment="none")
    outside_95 = (table["flag_95"] != WITHIN).mean()
    outside_998 = (table["flag_99.8"] != WITHIN).mean()
    assert 0.04 < outside_95 < 0.06
    assert 0.0008 < outside_998 < 0.004
    # Both directions are flagged, roughly evenly.
    assert 0.3 < (table["flag_95"] == ABOVE).mean() / outside_95 < 0.7


def test_auto_adjustment_leaves_null_data_alone_and_widens_overdispersed_data(
    null_units, overdispersed_units
):
    x, n = null_units
    null_table = funnel_flags(x, n, 0.8)
    assert null_table.attrs["adjustment"] == "none"
    assert (null_table["adjustment"] == "none").all()

    x, n, _ = overdispersed_units
    plain = funnel_flags(x, n, 0.8, adjustment="none")
    auto = funnel_flags(x, n, 0.8)
    assert auto.attrs["adjustment"] == "additive"
    assert auto.attrs["tau2"] == pytest.approx(overdispersion(x, n, 0.8).tau2)
    assert (auto["flag_95"] != WITHIN).sum() < (plain["flag_95"] != WITHIN).sum()
    # Over-dispersion makes far more than 5% of units look unusual without adjustment.
    assert (plain["flag_95"] != WITHIN).mean() > 0.3


def test_explicit_phi_and_tau2_are_used():
    x, n = [60, 80, 95], [100, 100, 100]
    table = funnel_flags(x, n, 0.8, adjustment="additive", tau2=0.001)
    expected = 0.8 + stats.norm.isf(0.025) * np.sqrt(0.16 / 100 + 0.001)
    assert table["upper_95"].iloc[0] == pytest.approx(expected)
    assert table["z_adjusted"].iloc[0] == pytest.approx(-0.2 / np.sqrt(0.16 / 100 + 0.001))
    assert list(table["flag_95"]) == [BELOW, WITHIN, ABOVE]  # limits 0.8 ± 0.0999
    table = funnel_flags(x, n, 0.8, adjustment="multiplicative", phi=4.0)
    assert table["z_adjusted"].iloc[0] == pytest.approx(table["z"].iloc[0] / 2.0)


# --------------------------------------------------------------------------- over-dispersion


def test_no_overdispersion_gives_phi_near_one_and_no_significance(null_units):
    x, n = null_units
    units = len(n)
    plain = overdispersion(x, n, 0.8, winsorize=0)
    assert abs(plain.phi - 1.0) < 3 * np.sqrt(2.0 / units)
    assert plain.p_value > 0.05
    assert plain.df == units - 1 and plain.n_units == units
    # Winsorising 10% at each end shrinks φ under the null to E[clip(Z)²] ≈ 0.68.
    winsorised = overdispersion(x, n, 0.8)
    assert winsorised.phi == pytest.approx(winsorised_null_phi(0.1), abs=0.02)
    assert winsorised.p_value > 0.05
    assert winsorised.tau2 == 0.0
    assert not winsorised.significant()


def test_unwinsorised_statistic_is_the_pearson_chi_square(overdispersed_units):
    x, n, _ = overdispersed_units
    p0 = 0.8
    pearson = sum(
        stats.chisquare([xi, ni - xi], f_exp=[ni * p0, ni * (1 - p0)]).statistic
        for xi, ni in zip(x, n)
    )
    result = overdispersion(x, n, p0, winsorize=0)
    assert result.statistic == pytest.approx(pearson, rel=1e-9)
    assert result.p_value == pytest.approx(stats.chi2.sf(pearson, len(n) - 1))


def test_beta_binomial_data_are_overdispersed_with_tau2_of_the_right_size(overdispersed_units):
    x, n, true_tau2 = overdispersed_units
    target = x.sum() / n.sum()
    result = overdispersion(x, n, target)
    assert result.phi > 2.0
    assert result.p_value < 1e-6 and result.significant()
    # Winsorised τ² runs low (documented); it still has the right order of magnitude.
    assert true_tau2 / 3 < result.tau2 < true_tau2
    assert overdispersion(x, n, target, winsorize=0).tau2 == pytest.approx(true_tau2, rel=0.25)


def test_overdispersion_with_too_few_units():
    single = overdispersion([5], [10], 0.5)
    assert single.n_units == 1 and np.isnan(single.p_value) and single.tau2 == 0.0
    empty = overdispersion([0, 0], [0, 0], 0.5)
    assert empty.n_units == 0 and np.isnan(empty.phi)


def test_additive_limits_are_wider_than_unadjusted_and_do_not_close(overdispersed_units):
    x, n, _ = overdispersed_units
    tau2 = overdispersion(x, n, 0.8).tau2
    grid = np.array([50, 100, 200, 500, 1000, 5000, 100_000])
    exact = funnel_limits(grid, 0.8)
    normal = adjusted_funnel_limits(grid, 0.8, method="multiplicative", phi=1.0)
    additive = adjusted_funnel_limits(grid, 0.8, method="additive", tau2=tau2)
    for label, tail in LEVEL_TAILS.items():
        for unadjusted in (exact, normal):
            assert np.all(additive[f"lower_{label}"] < unadjusted[f"lower_{label}"])
            assert np.all(additive[f"upper_{label}"] > unadjusted[f"upper_{label}"])
        z = stats.norm.isf(tail)
        expected = 0.8 + z * np.sqrt(0.16 / grid + tau2)
        np.testing.assert_allclose(additive[f"upper_{label}"], np.minimum(expected, 1.0))
        # As n grows the funnel tends to p0 ± z·τ, not to p0.
        width = additive[f"upper_{label}"].iloc[-1] - additive[f"lower_{label}"].iloc[-1]
        assert width == pytest.approx(2 * z * np.sqrt(tau2), rel=0.01)


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


# --------------------------------------------------------------------------- rank intervals


def test_clearly_best_large_unit_is_ranked_first_for_certain():
    rng = np.random.default_rng(3)
    n = np.concatenate([[10_000], rng.integers(100, 400, 30)])
    x = np.concatenate([[9_900], rng.binomial(n[1:], 0.75)])
    table = rank_intervals(x, n)
    assert table.loc[0, ["rank", "rank_low", "rank_high"]].tolist() == [1.0, 1.0, 1.0]


def test_small_units_have_wide_rank_intervals():
    # Ten units with 2 of 3 satisfied among thirty large units with shares 0.6-0.9.
    rng = np.random.default_rng(11)
    n = np.concatenate([np.full(10, 3), np.full(30, 3000)])
    x = np.concatenate([np.full(10, 2), rng.binomial(3000, rng.uniform(0.6, 0.9, 30))])
    table = rank_intervals(x, n)
    width = table["rank_high"] - table["rank_low"]
    assert width[:10].min() > 3 * width[10:].max()
    assert width[:10].min() >= 15


def test_rank_intervals_are_reproducible_ordered_and_contain_the_point_rank():
    rng = np.random.default_rng(5)
    n = rng.integers(20, 2000, 300)
    x = rng.binomial(n, rng.uniform(0.7, 0.95, 300))
    first = rank_intervals(x, n, seed=42)
    pd.testing.assert_frame_equal(first, rank_intervals(x, n, seed=42))
    assert not first.equals(rank_intervals(x, n, seed=43))
    assert (first["rank_low"] <= first["rank"]).all()
    assert (first["rank"] <= first["rank_high"]).all()
    assert first["rank_low"].min() >= 1 and first["rank_high"].max() <= 300
    # Point ranks order the posterior means (x + 1/2)/(n + 1), most satisfied first.
    expected = stats.rankdata(-(x + 0.5) / (n + 1.0), method="min")
    np.testing.assert_array_equal(first["rank"], expected)


def test_rank_intervals_match_brute_force_simulation():
    # Independent route: exact Beta draws from scipy and rankdata per draw.
    rng = np.random.default_rng(7)
    n = np.concatenate([rng.integers(3, 15, 10), rng.integers(100, 2000, 30)])
    x = rng.binomial(n, rng.uniform(0.6, 0.97, 40))
    sims = 4000
    draws = stats.beta.rvs(
        x + 0.5, n - x + 0.5, size=(sims, 40), random_state=np.random.default_rng(99)
    )
    ranks = stats.rankdata(-draws, axis=1, method="ordinal")
    low = np.quantile(ranks, 0.025, axis=0, method="lower")
    high = np.quantile(ranks, 0.975, axis=0, method="higher")
    table = rank_intervals(x, n, n_sims=sims, seed=1)
    assert np.abs(table["rank_low"] - low).max() <= 2
    assert np.abs(table["rank_high"] - high).max() <= 2
    assert np.abs(table["rank_low"] - low).mean() < 0.5


def test_two_units_rank_interval_follows_the_probability_of_being_ahead():
    # P(θ_A > θ_B) by integration: ~0.92 for 60/100 v 50/100 (not sure who is first),
    # ~1 for 80/100 v 50/100 (sure).
    def p_ahead(xa, na, xb, nb):
        a, b = stats.beta(xa + 0.5, na - xa + 0.5), stats.beta(xb + 0.5, nb - xb + 0.5)
        return integrate.quad(lambda t: a.pdf(t) * b.cdf(t), 0, 1)[0]

    assert 0.5 < p_ahead(60, 100, 50, 100) < 0.975
    unsure = rank_intervals([60, 50], [100, 100])
    assert unsure[["rank_low", "rank_high"]].values.tolist() == [[1.0, 2.0], [1.0, 2.0]]
    assert p_ahead(80, 100, 50, 100) > 0.9999
    sure = rank_intervals([80, 50], [100, 100])
    assert sure[["rank", "rank_low", "rank_high"]].values.tolist() == [[1, 1, 1], [2, 2, 2]]


@pytest.mark.parametrize(
    "a, b", [(10.5, 990.5), (990.5, 10.5), (12.5, 40.5), (300.5, 60.5), (500.5, 500.5)]
)
def test_fast_posterior_draws_have_the_exact_beta_quantiles(a, b):
    # Rank simulation draws -logit θ as a cubic in a standard normal for min(a, b) >= 10;
    # its quantiles must match scipy's exact Beta quantiles out to the 0.1% tails.
    from analysis.comparison import _negated_logit_cubic

    c0, c1, c2, c3 = _negated_logit_cubic(np.array(a), np.array(b))
    q = np.array([0.001, 0.025, 0.25, 0.5, 0.75, 0.975, 0.999])
    w = stats.norm.ppf(q)
    approximate = c0 + c1 * w + c2 * w**2 + c3 * w**3
    exact = -special.logit(stats.beta.isf(q, a, b))  # the q-quantile of -logit θ
    sd = np.sqrt(special.polygamma(1, a) + special.polygamma(1, b))
    assert np.abs(approximate - exact).max() < 0.01 * sd


def test_units_without_answers_are_left_out_of_the_ranking():
    x, n = [30, 0, 45, 12], [50, 0, 60, 40]
    table = rank_intervals(x, n, seed=9)
    assert table.loc[1, ["posterior_mean", "rank", "rank_low", "rank_high"]].isna().all()
    without = rank_intervals([30, 45, 12], [50, 60, 40], seed=9)
    np.testing.assert_array_equal(
        table.drop(index=1)[["rank", "rank_low", "rank_high"]].to_numpy(),
        without[["rank", "rank_low", "rank_high"]].to_numpy(),
    )
    assert rank_intervals([0], [0])["rank"].isna().all()
    single = rank_intervals([3], [9])
    assert single[["rank", "rank_low", "rank_high"]].values.tolist() == [[1, 1, 1]]


def test_rank_intervals_beyond_65536_units_use_wide_keys():
    rng = np.random.default_rng(13)
    n = rng.integers(50, 200, 70_000)
    x = rng.binomial(n, 0.8)
    x[123], n[123] = 100_000, 100_000
    table = rank_intervals(x, n, n_sims=20)
    assert table.loc[123, ["rank_low", "rank_high"]].tolist() == [1.0, 1.0]
    assert table["rank_low"].min() == 1 and table["rank_high"].max() <= 70_000
    assert (table["rank_low"] <= table["rank_high"]).all()


@pytest.mark.parametrize(
    "kwargs",
    [{"n_sims": 0}, {"n_sims": 2.5}, {"confidence": 1.5}, {"prior": (0, 1)}, {"prior": "jeffreys"}],
)
def test_rank_intervals_reject_bad_options(kwargs):
    with pytest.raises(ValueError):
        rank_intervals([1, 2], [5, 5], **kwargs)


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


def test_fitted_prior_recovers_the_truth(beta_binomial_sample):
    x, n = beta_binomial_sample
    _, fit = beta_binomial_shrinkage(x, n)
    assert fit.converged and not fit.at_bound
    assert fit.prior_mean == pytest.approx(0.8, abs=0.01)
    assert fit.prior_strength == pytest.approx(20.0, rel=0.15)
    assert fit.alpha == pytest.approx(16.0, rel=0.15) and fit.beta == pytest.approx(4.0, rel=0.15)
    # It is a maximum of the likelihood as scipy computes it.
    best = stats.betabinom.logpmf(x, n, fit.alpha, fit.beta).sum()
    assert fit.log_likelihood == pytest.approx(best, rel=1e-10)
    for da, db in ((1.02, 1), (0.98, 1), (1, 1.02), (1, 0.98), (1.02, 1.02), (0.98, 0.98)):
        assert stats.betabinom.logpmf(x, n, fit.alpha * da, fit.beta * db).sum() < best


def test_shrinkage_pulls_small_units_furthest_and_stays_between(beta_binomial_sample):
    x, n = beta_binomial_sample
    x = np.concatenate([x, [5, 500]])
    n = np.concatenate([n, [10, 1000]])
    table, fit = beta_binomial_shrinkage(x, n)
    small, large = table.iloc[-2], table.iloc[-1]
    assert small["observed"] == large["observed"] == 0.5
    assert abs(small["shrunken"] - 0.5) > 5 * abs(large["shrunken"] - 0.5)
    assert small["weight"] < large["weight"]
    low = np.minimum(table["observed"], fit.prior_mean) - 1e-12
    high = np.maximum(table["observed"], fit.prior_mean) + 1e-12
    assert table["shrunken"].between(low, high).all()
    # Posterior mean and equal-tailed interval of Beta(x + α, n - x + β), via scipy.stats.
    posterior = stats.beta(x + fit.alpha, n - x + fit.beta)
    np.testing.assert_allclose(table["shrunken"], posterior.mean(), rtol=1e-12)
    np.testing.assert_allclose(table["low"], posterior.ppf(0.025), rtol=1e-9)
    np.testing.assert_allclose(table["high"], posterior.ppf(0.975), rtol=1e-9)
    assert (table["low"] < table["shrunken"]).all() and (table["shrunken"] < table["high"]).all()
    # The estimate is the weighted average weight·observed + (1 - weight)·prior mean.
    np.testing.assert_allclose(table["weight"], n / (n + fit.alpha + fit.beta), rtol=1e-12)
    blend = table["weight"] * table["observed"] + (1 - table["weight"]) * fit.prior_mean
    np.testing.assert_allclose(table["shrunken"], blend, rtol=1e-12)


def test_shrinkage_without_spread_between_units_goes_to_the_pooled_share():
    table, fit = beta_binomial_shrinkage([80] * 10, [100] * 10)
    assert fit.at_bound and fit.prior_strength > 1e7
    np.testing.assert_allclose(table["shrunken"], 0.8, atol=1e-6)
    table, fit = beta_binomial_shrinkage([7], [20])
    assert fit.at_bound and fit.n_units == 1
    assert table["shrunken"].iloc[0] == pytest.approx(0.35, abs=1e-6)


def test_shrinkage_degenerate_inputs():
    table, fit = beta_binomial_shrinkage([0, 0], [0, 0])
    assert fit.n_units == 0 and np.isnan(fit.alpha)
    assert table[["observed", "shrunken", "low", "high"]].isna().all().all()

    table, fit = beta_binomial_shrinkage([0, 0, 0], [10, 20, 5])
    assert fit.prior_mean == 0.0 and fit.at_bound
    assert (table["shrunken"] == 0.0).all() and table[["low", "high"]].isna().all().all()

    table, fit = beta_binomial_shrinkage([12, 0, 30, 3], [20, 0, 40, 10])
    assert table.loc[1, ["observed", "shrunken", "low", "high", "weight"]].isna().all()
    assert table.drop(index=1)["shrunken"].notna().all()


# --------------------------------------------------------------------------- change


def test_change_flags_direction_and_interval():
    x_now, n_now = [90, 50, 50, 0, 7], [100, 100, 100, 0, 10]
    x_prev, n_prev = [50, 90, 50, 5, 0], [100, 100, 100, 10, 0]
    table = change_flags(x_now, n_now, x_prev, n_prev)
    expected = [IMPROVED, DECLINED, NO_CLEAR_CHANGE, INSUFFICIENT_DATA, INSUFFICIENT_DATA]
    assert list(table["change"]) == expected
    assert table["difference"].iloc[2] == 0.0
    assert table["low"].iloc[2] < 0.0 < table["high"].iloc[2]
    difference, low, high = difference_ci(x_now[:3], n_now[:3], x_prev[:3], n_prev[:3])
    np.testing.assert_allclose(table["difference"].iloc[:3], difference)
    np.testing.assert_allclose(table["low"].iloc[:3], low)
    np.testing.assert_allclose(table["high"].iloc[:3], high)
    assert table.iloc[3:][["difference", "low", "high"]].isna().all().all()


def test_change_interval_agrees_with_statsmodels_newcombe():
    from statsmodels.stats.proportion import confint_proportions_2indep

    table = change_flags([90, 31, 412], [100, 44, 500], [50, 28, 380], [100, 45, 500])
    for row in table.itertuples():
        low, high = confint_proportions_2indep(
            row.x_now, row.n_now, row.x_prev, row.n_prev, method="newcomb", compare="diff"
        )
        assert (row.low, row.high) == pytest.approx((low, high), abs=1e-10)


def test_change_flag_follows_the_sign_of_the_interval():
    rng = np.random.default_rng(8)
    n_now, n_prev = rng.integers(20, 200, 500), rng.integers(20, 200, 500)
    x_now, x_prev = rng.binomial(n_now, 0.8), rng.binomial(n_prev, 0.77)
    table = change_flags(x_now, n_now, x_prev, n_prev, confidence=0.9)
    _, low, high = difference_ci(x_now, n_now, x_prev, n_prev, confidence=0.9)
    assert ((table["change"] == IMPROVED) == (low > 0)).all()
    assert ((table["change"] == DECLINED) == (high < 0)).all()
    assert ((table["change"] == NO_CLEAR_CHANGE) == ((low <= 0) & (high >= 0))).all()
    assert table["change"].isin([IMPROVED, DECLINED]).any()


def test_change_flags_treat_missing_periods_as_insufficient_data():
    table = change_flags([40, 40], [50, 50], [np.nan, 20], [np.nan, 50], confidence=0.9)
    assert list(table["change"]) == [INSUFFICIENT_DATA, IMPROVED]
    with pytest.raises(ValueError):
        change_flags([60], [50], [20], [50])
    with pytest.raises(ValueError):
        change_flags([40], [50], [20], [50], method="wald")


# --------------------------------------------------------------------------- scale


def test_ten_thousand_units_give_complete_results():
    # Speed is measured in benchmarks/analysis_scale.py; here: at national scale nothing is left undefined.
    rng = np.random.default_rng(0)
    n = rng.poisson(1000, 10_000)
    x = rng.binomial(n, rng.beta(80, 20, 10_000))
    x_prev = rng.binomial(n, 0.8)
    target = x.sum() / n.sum()
    flags = funnel_flags(x, n, target)
    ranks = rank_intervals(x, n)
    shrunk, _ = beta_binomial_shrinkage(x, n)
    change = change_flags(x, n, x_prev, n)
    assert len(flags) == len(ranks) == len(shrunk) == len(change) == 10_000
    assert flags["flag_95"].isin([ABOVE, WITHIN, BELOW]).all()
    assert ranks[["rank", "rank_low", "rank_high"]].notna().all().all()
    assert ((ranks["rank_low"] >= 1) & (ranks["rank_high"] <= 10_000)).all()
    assert shrunk["shrunken"].between(0, 1).all()
    assert change["change"].isin([IMPROVED, DECLINED, NO_CLEAR_CHANGE]).all()
