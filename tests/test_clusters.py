"""Tests for analysis.clusters: design effects and Korn-Graubard effective sample sizes.

References: statsmodels' cluster-robust (sandwich) variance of a mean, hand arithmetic of the
formulas in the docstring, and simulations with a known intra-cluster correlation.
"""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from analysis.clusters import PRIOR_DF, cluster_design


def clustered_unit(rng, clusters, size, share, rho):
    """(satisfied, ratings) per cluster: cluster shares ~ Beta with intra-cluster correlation ρ."""
    m = rng.poisson(size, clusters) + 1
    strength = 1 / rho - 1
    theta = rng.beta(share * strength, (1 - share) * strength, clusters)
    return rng.binomial(m, theta), m


def test_own_design_effect_matches_the_statsmodels_cluster_robust_variance():
    # The between-cluster variance of the ratio estimator is the cluster-robust (sandwich)
    # variance of a mean. statsmodels scales it by G/(G - 1)·(N - 1)/(N - 1) for one
    # parameter, which is exactly C/(C - 1); our design effect divides by p(1 - p)/(n - 1).
    rng = np.random.default_rng(4)
    y, m = clustered_unit(rng, 25, 6, 0.8, 0.2)
    ratings = np.concatenate([np.r_[np.ones(a), np.zeros(b - a)] for a, b in zip(y, m)])
    groups = np.repeat(np.arange(25), m)
    fit = sm.OLS(ratings, np.ones_like(ratings)).fit(cov_type="cluster",
                                                      cov_kwds={"groups": groups})
    n, p = ratings.size, ratings.mean()
    expected_own = fit.bse[0] ** 2 * (n - 1) / (p * (1 - p))
    # A vanishing prior weight leaves the unit's own estimate.
    design = cluster_design(y, m, np.zeros(25, int), 1, prior_df=1e-12)
    assert design.deff[0] == pytest.approx(max(expected_own, 1.0), rel=1e-6)
    assert expected_own > 1.5


def test_korn_graubard_effective_n_by_hand():
    rng = np.random.default_rng(8)
    y1, m1 = clustered_unit(rng, 12, 5, 0.7, 0.15)
    y2, m2 = clustered_unit(rng, 30, 4, 0.85, 0.15)
    y, m = np.r_[y1, y2], np.r_[m1, m2]
    unit = np.r_[np.zeros(12, int), np.ones(30, int)]
    design = cluster_design(y, m, unit, 2)
    # Hand arithmetic of the documented formulas.
    own, mean_size, ok = [], [], []
    for yy, mm in ((y1, m1), (y2, m2)):
        n, p, c = mm.sum(), yy.sum() / mm.sum(), mm.size
        v = c / (c - 1) * np.sum((yy - p * mm) ** 2) / n**2
        own.append(v * (n - 1) / (p * (1 - p)))
        mean_size.append(np.sum(mm**2) / n)
    icc = sum((c - 1) * (d - 1) for c, d in zip((12, 30), own)) / sum(
        (c - 1) * (s - 1) for c, s in zip((12, 30), mean_size))
    assert design.icc == pytest.approx(np.clip(icc, 0, 1))
    for i, (c, mm) in enumerate(((12, m1), (30, m2))):
        model = 1 + (mean_size[i] - 1) * design.icc
        deff = max(1.0, ((c - 1) * own[i] + PRIOR_DF * model) / (c - 1 + PRIOR_DF))
        df = c - 1 + PRIOR_DF
        n = mm.sum()
        factor = min(1.0, (stats.t.ppf(0.975, n - 1) / stats.t.ppf(0.975, df)) ** 2)
        assert design.deff[i] == pytest.approx(deff)
        assert design.df[i] == pytest.approx(df)
        assert design.n_eff[i] == pytest.approx(n / deff * factor)
        assert design.n_eff[i] < n


def test_clusters_of_one_rating_give_design_effect_one():
    rng = np.random.default_rng(2)
    y = (rng.random(80) < 0.8).astype(int)
    design = cluster_design(y, np.ones(80), np.r_[np.zeros(50, int), np.ones(30, int)], 2)
    assert design.deff.tolist() == [1.0, 1.0]
    assert design.n_eff.tolist() == [50.0, 30.0]
    assert np.isnan(design.icc)  # nothing to learn about clustering from singletons


def test_single_cluster_unit_takes_the_pooled_model():
    rng = np.random.default_rng(6)
    y1, m1 = clustered_unit(rng, 40, 8, 0.8, 0.1)
    y = np.r_[y1, 30]
    m = np.r_[m1, 40]  # unit 1: all 40 ratings on one day at one counter
    design = cluster_design(y, m, np.r_[np.zeros(40, int), 1], 2)
    assert design.n_clusters[1] == 1
    assert design.deff[1] == pytest.approx(1 + 39 * design.icc)
    assert design.df[1] == PRIOR_DF
    assert design.n_eff[1] < 40 / design.deff[1] + 1e-9


def test_all_satisfied_unit_takes_the_pooled_model():
    rng = np.random.default_rng(6)
    y1, m1 = clustered_unit(rng, 40, 8, 0.8, 0.1)
    m2 = np.full(10, 5)
    design = cluster_design(np.r_[y1, m2], np.r_[m1, m2], np.r_[np.zeros(40, int), np.ones(10, int)], 2)
    assert design.deff[1] == pytest.approx(1 + (5 - 1) * design.icc)


def test_without_any_estimable_clustering_units_that_need_the_model_get_nan():
    # Two units, each one cluster of many ratings: no between-cluster information anywhere.
    design = cluster_design([30, 20], [40, 30], [0, 1], 2)
    assert np.isnan(design.icc)
    assert np.isnan(design.deff).all() and np.isnan(design.n_eff).all()


def test_units_without_clusters():
    design = cluster_design([3], [5], [1], 3)
    assert design.n.tolist() == [0, 5, 0]
    assert design.deff[0] == 1.0 and design.n_eff[0] == 0.0


@pytest.mark.slow
def test_pooled_icc_recovers_the_truth():
    # 300 units × 20 clusters with ρ = 0.2: the pooled estimate lands near 0.2 (Monte Carlo
    # standard error from 20 replications printed in the message).
    rng = np.random.default_rng(10)
    estimates = []
    for _ in range(20):
        ys, ms, units = [], [], []
        for u in range(300):
            y, m = clustered_unit(rng, 20, 6, rng.uniform(0.6, 0.9), 0.2)
            ys.append(y)
            ms.append(m)
            units.append(np.full(20, u))
        estimates.append(cluster_design(np.concatenate(ys), np.concatenate(ms),
                                        np.concatenate(units), 300).icc)
    mc_error = np.std(estimates) / np.sqrt(len(estimates))
    assert np.mean(estimates) == pytest.approx(0.2, abs=0.02 + 3 * mc_error), mc_error


@pytest.mark.parametrize("args", [
    ([3], [2], [0], 1),          # more satisfied than ratings
    ([-1], [2], [0], 1),         # negative
    ([1], [2], [1], 1),          # unit number out of range
    ([1, 1], [2], [0], 1),       # lengths differ
    ([1.5], [2], [0], 1),        # not whole
])
def test_impossible_input_raises(args):
    with pytest.raises(ValueError):
        cluster_design(*args)
