"""Honest numbers, measured: every claim the public page makes, simulated through
``satisfaction_table`` with fixed seeds, each with its Monte Carlo error (issue 7).

Each ``scenario_*`` function simulates tables whose truth is known and returns the operating
characteristic the claim is about, with its Monte Carlo standard error. The tests assert the
claim and put the estimate and its error in the assertion message; replication counts are
chosen so that the error is small next to the margin being tested. The same functions print
the table of operating characteristics in ``docs/methodology.md``:

    .venv/bin/python tests/test_honesty.py          # regenerates that table (a few minutes)

Simulated data: units' true satisfied shares, counts of ratings per unit, and (where the claim
needs them) clusters of ratings (counter × day) with a known intra-cluster correlation, strata
(procedures) with different shares, previous periods without any change, and 1–5 answers piled
up at 5. Ratings are drawn from binomial and beta-binomial distributions with numpy.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

if __name__ == "__main__":  # run as a script: make `analysis` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import analysis
from analysis import satisfaction_table

P0 = 0.82  # about the national SIPAS level


# --------------------------------------------------------------------------- simulation helpers


@dataclass
class Result:
    """An estimated rate, its Monte Carlo standard error and how many trials it rests on."""

    estimate: float
    trials: int
    note: str = ""

    @property
    def se(self) -> float:
        p = min(max(self.estimate, 1.0 / self.trials), 1 - 1.0 / self.trials)
        return math.sqrt(p * (1 - p) / self.trials)

    def __str__(self) -> str:
        return f"{self.estimate:.4f} ± {self.se:.4f} (MC s.e., {self.trials:,} trials{self.note})"


def binary_counts(x, n, *, units=None, cluster=None, period=None) -> pd.DataFrame:
    """Tidy counts with satisfied ratings at level 5 and the others at level 2."""
    x, n = np.asarray(x), np.asarray(n)
    units = np.arange(x.size) if units is None else np.asarray(units)
    frame = {"unit": np.repeat(units, 2), "value": np.tile([5, 2], x.size),
             "count": np.column_stack([x, n - x]).reshape(-1)}
    if cluster is not None:
        frame["cluster"] = np.repeat(cluster, 2)
    if period is not None:
        frame["period"] = period
    return pd.DataFrame(frame)


def beta_shares(rng, size, tau, mean=P0):
    """True shares with mean ``mean`` and between-unit standard deviation ``tau``."""
    if tau == 0:
        return np.full(size, mean)
    strength = mean * (1 - mean) / tau**2 - 1
    return rng.beta(mean * strength, (1 - mean) * strength, size)


def covered(table, truth):
    ok = table["publishable"].to_numpy()
    low, high = table["ci_low"].to_numpy(), table["ci_high"].to_numpy()
    return ((low <= truth) & (truth <= high))[ok]


# --------------------------------------------------------------------------- scenarios


def scenario_index_coverage(seed=1, tables=20, units=150, share_range=(0.6, 0.97)):
    """Plain ratings: coverage of the index interval (Wilson) for n between 30 and 400."""
    rng = np.random.default_rng(seed)
    hits = []
    for _ in range(tables):
        p = rng.uniform(*share_range, units)
        n = rng.integers(30, 401, units)
        table = satisfaction_table(binary_counts(rng.binomial(n, p), n), ranks=False)
        hits.append(covered(table, p))
    hits = np.concatenate(hits)
    return Result(hits.mean(), hits.size)


def scenario_clustered_coverage(seed, days, per_day, icc, tables=16, units=150):
    """Ratings in counter × day clusters with intra-cluster correlation ``icc``; returns the
    coverage of the index interval and (in the note) the true and estimated design effects."""
    rng = np.random.default_rng(seed)
    hits, estimated, true_deff = [], [], []
    strength = 1 / icc - 1
    for _ in range(tables):
        p = rng.uniform(0.6, 0.95, units)
        unit = np.repeat(np.arange(units), days)
        m = rng.poisson(per_day - 1, unit.size) + 1
        theta = rng.beta(p[unit] * strength, (1 - p[unit]) * strength)
        y = rng.binomial(m, theta)
        counts = binary_counts(y, m, units=unit, cluster=np.arange(unit.size))
        table = satisfaction_table(counts, cluster="cluster", ranks=False)
        hits.append(covered(table, p))
        estimated.append(np.median(table["deff"]))
        sizes = np.bincount(unit, weights=m * m) / np.bincount(unit, weights=m)
        true_deff.append(np.mean(1 + (sizes - 1) * icc))
    hits = np.concatenate(hits)
    note = f"; design effect {np.mean(true_deff):.2f}, estimated {np.mean(estimated):.2f}"
    result = Result(hits.mean(), hits.size, note)
    result.design_effect = float(np.mean(true_deff))
    return result


def scenario_funnel_null(seed, tau, tables=150, units=200):
    """No unit differs beyond the table's own spread τ: share of units outside each band, and
    share of tables whose verdict names at least one unit."""
    rng = np.random.default_rng(seed)
    outside_95, outside_998, named = [], [], []
    for _ in range(tables):
        n = rng.integers(30, 601, units)
        x = rng.binomial(n, beta_shares(rng, units, tau))
        table = satisfaction_table(binary_counts(x, n), ranks=False)
        ok = table["publishable"].to_numpy()
        outside_95.append((table["funnel_95"] != analysis.WITHIN).to_numpy()[ok])
        outside_998.append((table["funnel_998"] != analysis.WITHIN).to_numpy()[ok])
        named.append(table["comparison"].isin([analysis.ABOVE, analysis.BELOW]).any())
    a, b = np.concatenate(outside_95), np.concatenate(outside_998)
    return Result(a.mean(), a.size), Result(b.mean(), b.size), Result(np.mean(named), tables)


def scenario_clustered_funnel_null(seed, tables=150, units=100, icc=0.1):
    """Clustered ratings (design effect about 1.6), no unit different: verdicts naming anyone."""
    rng = np.random.default_rng(seed)
    named, outside = [], []
    strength = 1 / icc - 1
    for _ in range(tables):
        unit = np.repeat(np.arange(units), 20)
        m = rng.poisson(6, unit.size) + 1
        theta = rng.beta(P0 * strength, (1 - P0) * strength, unit.size)
        counts = binary_counts(rng.binomial(m, theta), m, units=unit, cluster=np.arange(unit.size))
        table = satisfaction_table(counts, cluster="cluster", ranks=False)
        named.append(table["comparison"].isin([analysis.ABOVE, analysis.BELOW]).any())
        outside.append((table["funnel_95"] != analysis.WITHIN).to_numpy()[table["publishable"]])
    a = np.concatenate(outside)
    return Result(a.mean(), a.size), Result(np.mean(named), tables)


def scenario_change_null(seed, tables=150, units=100, tau=0.05):
    """Units differ (τ) but nothing changed between the two periods: share of tables that
    announce at least one change."""
    rng = np.random.default_rng(seed)
    announced = []
    for _ in range(tables):
        p = beta_shares(rng, units, tau)
        n_now, n_before = rng.integers(30, 401, units), rng.integers(30, 401, units)
        counts = pd.concat([
            binary_counts(rng.binomial(n_now, p), n_now, period="2026-07"),
            binary_counts(rng.binomial(n_before, p), n_before, period="2026-06"),
        ])
        table = satisfaction_table(counts, period="2026-07", previous_period="2026-06",
                                   ranks=False)
        announced.append(table["change_flag"].isin([analysis.IMPROVED, analysis.DECLINED]).any())
    return Result(np.mean(announced), tables)


def scenario_rank_coverage(seed, tables=24, units=40, tau=0.05):
    """Coverage of the true rank (among publishable units) by [rank_low, rank_high]."""
    rng = np.random.default_rng(seed)
    hits, withheld = [], 0
    for i in range(tables):
        n = rng.integers(30, 401, units)
        p = beta_shares(rng, units, tau)
        table = satisfaction_table(binary_counts(rng.binomial(n, p), n), seed=i)
        ok = table["publishable"].to_numpy()
        if np.isnan(table["rank_low"].to_numpy()[ok]).all():
            withheld += 1
            continue
        truth = stats.rankdata(-p[ok], method="ordinal")
        low, high = table["rank_low"].to_numpy()[ok], table["rank_high"].to_numpy()[ok]
        hits.append((low <= truth) & (truth <= high))
    hits = np.concatenate(hits)
    return Result(hits.mean(), hits.size, f"; {withheld} tables withheld")


def scenario_rank_stability(seed, units=60, reseeds=6, tau=0.05):
    """Share of units whose rank limits move when only the seed changes."""
    rng = np.random.default_rng(seed)
    n = rng.integers(30, 401, units)
    counts = binary_counts(rng.binomial(n, beta_shares(rng, units, tau)), n)
    tables = [satisfaction_table(counts, seed=s) for s in range(reseeds + 1)]
    first = tables[0]
    moved = [((t["rank_low"] != first["rank_low"]) | (t["rank_high"] != first["rank_high"]))
             for t in tables[1:]]
    moved = np.concatenate([m.to_numpy() for m in moved])
    return Result(moved.mean(), moved.size), first.attrs


def scenario_shrinkage_coverage(seed, tau, tables=60, units=50):
    """Coverage of each unit's true share by [shrunk_low, shrunk_high]."""
    rng = np.random.default_rng(seed)
    hits = []
    for _ in range(tables):
        n = rng.integers(30, 301, units)
        p = beta_shares(rng, units, tau)
        table = satisfaction_table(binary_counts(rng.binomial(n, p), n), ranks=False)
        ok = table["publishable"].to_numpy()
        low, high = table["shrunk_low"].to_numpy(), table["shrunk_high"].to_numpy()
        hits.append(((low <= p) & (p <= high))[ok])
    hits = np.concatenate(hits)
    return Result(hits.mean(), hits.size)


STRATA_SCENARIOS = {
    # name: (share per stratum, the units' mix, the reference mix, ratings per unit)
    "2 procedures, 90/60 %, mix 80/20, reference 50/50, n = 100": (
        [0.9, 0.6], [0.8, 0.2], [0.5, 0.5], 100),
    "3 procedures, 97/85/60 %, n = 200": ([0.97, 0.85, 0.6], [0.6, 0.3, 0.1], [0.3, 0.3, 0.4], 200),
    "4 procedures, 95/80/70/90 %, n = 80": (
        [0.95, 0.8, 0.7, 0.9], [0.4, 0.3, 0.2, 0.1], [0.25] * 4, 80),
    "equal shares 85 %, mix = reference, n = 50": ([0.85] * 3, [0.2, 0.3, 0.5], [0.2, 0.3, 0.5], 50),
}


def scenario_post_stratified_coverage(seed, name, tables=10, units=300):
    shares, mix, reference, size = (np.asarray(v, float) if i < 3 else v
                                    for i, v in enumerate(STRATA_SCENARIOS[name]))
    rng = np.random.default_rng(seed)
    truth = float(reference @ shares)
    hits = []
    for _ in range(tables):
        n = rng.multinomial(size, mix, units)
        x = rng.binomial(n, shares)
        strata = np.tile(np.arange(len(shares)), units)
        frame = binary_counts(x.reshape(-1), n.reshape(-1), units=np.repeat(np.arange(units), len(shares)))
        frame["procedure"] = np.repeat(strata, 2)
        table = satisfaction_table(frame, strata="procedure", ranks=False,
                                   reference_mix=pd.Series(reference, index=range(len(shares))))
        shown = table["ps_index"].notna().to_numpy()
        low, high = table["ps_low"].to_numpy()[shown], table["ps_high"].to_numpy()[shown]
        hits.append((low <= truth) & (truth <= high))
    hits = np.concatenate(hits)
    return Result(hits.mean(), hits.size)


MEAN_SCENARIOS = {
    "95 % answer 5, the rest spread": [0.005, 0.005, 0.01, 0.03, 0.95],
    "95 % answer 5, the rest answer 1": [0.05, 0, 0, 0, 0.95],
    "typical skew (45 % 5, 38 % 4)": [0.03, 0.04, 0.10, 0.38, 0.45],
    "only 4 and 5 (30/70)": [0, 0, 0, 0.3, 0.7],
    "98 % answer 5": [0.005, 0.0, 0.005, 0.01, 0.98],
}


def scenario_mean_coverage(seed, name, size, units=3000):
    probabilities = np.asarray(MEAN_SCENARIOS[name])
    truth = probabilities @ np.arange(1, 6)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(size, probabilities, units)
    frame = pd.DataFrame({"unit": np.repeat(np.arange(units), 5), "value": np.tile(np.arange(1, 6), units),
                          "count": counts.reshape(-1)})
    table = satisfaction_table(frame, ranks=False, min_n=size)
    low, high = table["mean_low"].to_numpy(), table["mean_high"].to_numpy()
    result = Result(np.mean((low <= truth) & (truth <= high)), units)
    result.zero_width = int(np.sum(high - low <= 0))
    return result


# --------------------------------------------------------------------------- claims


def test_index_interval_covers_95_percent_of_the_time():
    result = scenario_index_coverage()
    print("index coverage", result)
    assert result.se < 0.005
    assert result.estimate >= 0.93, f"coverage {result}"


@pytest.mark.slow
@pytest.mark.parametrize("days, per_day, icc", [(22, 5, 0.1), (22, 8, 0.18), (22, 10, 0.25)])
def test_clustered_index_interval_keeps_its_coverage(days, per_day, icc):
    # Design effects about 1.5, 2.4 and 3.5 (regression: 0.89-0.90 and 0.71 before).
    result = scenario_clustered_coverage(10 + days + per_day, days, per_day, icc)
    print("clustered index coverage", result)
    assert 1.4 < result.design_effect < 3.6
    assert result.se < 0.006
    assert result.estimate >= 0.93, f"coverage {result}"


@pytest.mark.slow
@pytest.mark.parametrize("tau", [0.0, 0.02, 0.05])
def test_units_outside_the_adjusted_bands_and_tables_naming_anyone(tau):
    band_95, band_998, named = scenario_funnel_null(100 + int(1000 * tau), tau)
    print(f"τ = {tau}: outside 95 % {band_95}; outside 99.8 % {band_998}; tables naming {named}")
    # Regression: 10.8 % outside "95 %" and 1.5 % outside "99.8 %" at τ = 0.02 before.
    assert band_95.estimate <= 0.05 + 2 * band_95.se, f"outside 95 % band {band_95}"
    assert band_998.estimate <= 0.002 + 2 * band_998.se, f"outside 99.8 % band {band_998}"
    # Regression: 41 % of 200-unit tables named someone when nobody differed.
    assert named.estimate <= 0.10, f"tables naming a unit {named}"


@pytest.mark.slow
def test_clustered_ratings_do_not_make_ordinary_units_look_unusual():
    band_95, named = scenario_clustered_funnel_null(7)
    print(f"clustered: outside 95 % {band_95}; tables naming {named}")
    assert band_95.estimate <= 0.05 + 2 * band_95.se, f"outside 95 % band {band_95}"
    assert named.estimate <= 0.10, f"tables naming a unit {named}"


@pytest.mark.slow
def test_no_change_is_announced_when_nothing_changed():
    # Regression: 99 % of 100-unit tables announced a change when nothing changed.
    result = scenario_change_null(3)
    print("tables announcing a change", result)
    assert result.estimate <= 0.10, f"tables announcing a change {result}"


@pytest.mark.slow
def test_rank_intervals_cover_the_true_rank():
    # Regression: 0.76-0.92 from independent posteriors before.
    result = scenario_rank_coverage(5)
    print("rank coverage", result)
    assert result.se < 0.01
    assert result.estimate >= 0.92, f"rank coverage {result}"


@pytest.mark.slow
def test_rank_limits_do_not_depend_on_the_seed():
    # Regression: at 1,000 draws 84 % of units' limits moved with the seed.
    moved, attrs = scenario_rank_stability(9)
    print("units whose rank limits moved", moved)
    assert moved.estimate < 0.05, f"units whose limits moved {moved}"
    assert attrs["rank_unstable_share"] <= 0.05 and attrs["rank_mc_error"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("tau", [0.0, 0.005, 0.05])
def test_shrunken_intervals_keep_their_coverage(tau):
    # Regression: 0.31-0.61 for τ <= 0.005 (the α + β cap) before.
    result = scenario_shrinkage_coverage(40 + int(1000 * tau), tau)
    print(f"shrinkage coverage at τ = {tau}", result)
    assert result.se < 0.006
    assert result.estimate >= 0.90, f"coverage {result}"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(STRATA_SCENARIOS))
def test_post_stratified_interval_coverage(name):
    # Regression: 0.89-0.9999 with the pooled p(1 - p)/n_eff variance before.
    result = scenario_post_stratified_coverage(60 + len(name), name)
    print(f"post-stratified coverage, {name}:", result)
    assert result.se < 0.005
    assert 0.93 - 2 * result.se <= result.estimate <= 0.97 + 2 * result.se, f"coverage {result}"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MEAN_SCENARIOS))
@pytest.mark.parametrize("size", [30, 100])
def test_mean_interval_keeps_its_coverage_on_skewed_answers(name, size):
    # Regression: the t interval covered 0.79 at n = 30 when 95 % answer 5.
    result = scenario_mean_coverage(size + len(name), name, size)
    print(f"mean coverage, {name}, n = {size}:", result)
    assert result.zero_width == 0
    assert result.estimate >= 0.93, f"coverage {result}"


# --------------------------------------------------------------------------- the cases


def test_case_thirty_of_thirty_against_095_is_within():
    # "30/30 flagged 'above' at 99.8 % against a 0.95 target although P(X >= 30) = 0.215".
    counts = binary_counts([30, 95, 96, 94], [30, 100, 100, 100])
    table = satisfaction_table(counts, target=0.95, adjustment="none", ranks=False)
    first = table.iloc[0]
    assert first["funnel_998"] == "within" and first["funnel_95"] == "within"
    assert first["comparison"] == "within"
    assert first["comparison_p"] == pytest.approx(min(1, 2 * 0.95**30))
    assert np.isnan(analysis.funnel_curve(table, [30])["upper_99.8"].iloc[0])


def test_case_winsorised_phi_is_no_longer_biased_low():
    # "the winsorised φ is biased low (mean 0.69 under the null)".
    rng = np.random.default_rng(12)
    phis = []
    for _ in range(100):
        n = rng.integers(30, 601, 200)
        x = rng.binomial(n, P0)
        phis.append(analysis.overdispersion(x, n, x.sum() / n.sum(), winsorize=0.1).phi)
        phis.append(analysis.overdispersion(x, n, x.sum() / n.sum()).phi)
    error = np.std(phis) / np.sqrt(len(phis))
    assert np.mean(phis) == pytest.approx(1.0, abs=0.03 + 2 * error), error


def test_case_satisfied_is_withheld_below_min_n():
    # "`satisfied` is still published beside `n`, so the index is recomputable".
    table = satisfaction_table(binary_counts([20, 40], [25, 50]), ranks=False)
    small = table.iloc[0]
    assert small["n"] == 25 and not small["publishable"] and np.isnan(small["satisfied"])


def test_case_single_unit_shrinkage_interval_does_not_collapse():
    # "30/40 alone gives [0.74992, 0.75008]".
    table = satisfaction_table(binary_counts([30], [40]), ranks=False)
    assert table["shrunk_high"].iloc[0] - table["shrunk_low"].iloc[0] > 0.2


def test_case_post_stratified_index_from_a_three_rating_stratum():
    # "published from a 3-rating stratum (n = 33, n_eff = 13: 0.535 vs crude 0.879)".
    frame = binary_counts([29, 0], [30, 3], units=["A", "A"])
    frame["procedure"] = np.repeat(["birth", "land"], 2)
    table = satisfaction_table(frame, strata="procedure", ranks=False,
                               reference_mix=pd.Series({"birth": 0.5, "land": 0.5}))
    assert table["ps_index"].iloc[0] != pytest.approx(0.535, abs=0.05)
    assert table["ps_index"].iloc[0] == pytest.approx(29 / 30)
    with pytest.raises(ValueError):
        analysis.post_stratified_index([[29, 0]], [[30, -3]])


def test_case_mean_interval_is_never_zero_width():
    # "zero width when all answers are equal".
    frame = pd.DataFrame({"unit": 0, "value": [1, 2, 3, 4, 5], "count": [0, 0, 0, 0, 40]})
    table = satisfaction_table(frame, ranks=False)
    assert table["mean_low"].iloc[0] < table["mean_high"].iloc[0] == 5.0


# --------------------------------------------------------------------------- the docs' table


def operating_characteristics():
    """Rows (claim, scenario, result) for the table in docs/methodology.md."""
    rows = [("index interval covers", "plain ratings, shares 0.6-0.97, n 30-400",
             scenario_index_coverage())]
    rows.append(("index interval covers", "plain ratings, shares 0.97-0.99, n 30-400",
                 scenario_index_coverage(share_range=(0.97, 0.99))))
    for days, per_day, icc in [(22, 5, 0.1), (22, 8, 0.18), (22, 10, 0.25)]:
        result = scenario_clustered_coverage(10 + days + per_day, days, per_day, icc)
        rows.append(("index interval covers",
                     f"clustered, design effect {result.design_effect:.1f}", result))
    for tau in (0.0, 0.02, 0.05):
        band_95, band_998, named = scenario_funnel_null(100 + int(1000 * tau), tau)
        rows += [("units outside the 95 % band", f"no unit unusual, τ = {tau}", band_95),
                 ("units outside the 99.8 % band", f"no unit unusual, τ = {tau}", band_998),
                 ("200-unit tables naming any unit", f"no unit unusual, τ = {tau}", named)]
    band_95, named = scenario_clustered_funnel_null(7)
    rows += [("units outside the 95 % band", "clustered, design effect about 1.6", band_95),
             ("100-unit tables naming any unit", "clustered, design effect about 1.6", named)]
    rows.append(("100-unit tables announcing a change", "no change, τ = 0.05",
                 scenario_change_null(3)))
    rows.append(("rank interval covers the true rank", "40 units, τ = 0.05",
                 scenario_rank_coverage(5)))
    moved, _ = scenario_rank_stability(9)
    rows.append(("units whose rank limits move with the seed", "60 units, τ = 0.05", moved))
    for tau in (0.0, 0.005, 0.05):
        rows.append(("shrunken interval covers", f"50 units, τ = {tau}",
                     scenario_shrinkage_coverage(40 + int(1000 * tau), tau)))
    for name in STRATA_SCENARIOS:
        rows.append(("post-stratified interval covers", name,
                     scenario_post_stratified_coverage(60 + len(name), name)))
    for name in MEAN_SCENARIOS:
        for size in (30, 100):
            rows.append(("mean-score interval covers", f"{name}, n = {size}",
                         scenario_mean_coverage(size + len(name), name, size)))
    return rows


if __name__ == "__main__":
    print("| claim | scenario | simulated (± Monte Carlo s.e.) | trials |")
    print("|---|---|---|---|")
    for claim, scenario, result in operating_characteristics():
        note = result.note.lstrip("; ")
        scenario = f"{scenario} ({note})" if note else scenario
        digits = 4 if result.estimate < 0.01 else 3
        print(f"| {claim} | {scenario} | {result.estimate:.{digits}f} ± {result.se:.{digits}f} | "
              f"{result.trials:,} |", flush=True)
