"""Tests for analysis.table.satisfaction_table.

Expected numbers come from hand arithmetic on the tiny tables written out below, from
statsmodels/scipy, or from brute force on the expanded raw ratings — never from the code's
own output.
"""

import math

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

import analysis
from analysis.table import (
    CHANGE_COLUMNS,
    COLUMN_DESCRIPTIONS,
    STRATA_COLUMNS,
    TABLE_COLUMNS,
    criterion_table,
    distribution_columns,
    parse_period,
    period_before,
    period_label,
    satisfaction_table,
)

# Answers 1..5 per unit and month, written out: (unit, period, [count of 1, 2, 3, 4, 5]).
TINY = [
    ("A", "2026-07", [2, 3, 5, 20, 10]),   # n 40, satisfied 30, sum 153
    ("B", "2026-07", [0, 1, 4, 10, 17]),   # n 32, satisfied 27, sum 139
    ("C", "2026-07", [0, 0, 1, 1, 0]),     # n 2: below min_n
    ("D", "2026-07", [0, 0, 0, 0, 1]),     # a single rating
    ("E", "2026-07", [0, 0, 0, 0, 0]),     # listed (LEFT JOIN) but no ratings
    ("A", "2026-06", [5, 5, 10, 10, 10]),  # n 40, satisfied 20
    ("B", "2026-06", [0, 0, 2, 10, 20]),   # n 32, satisfied 30
]


def tidy(rows, *, periods=True):
    """Tidy counts, one row per unit × period × answer level, like SQL GROUP BY returns."""
    records = []
    for unit, period, counts in rows:
        for value, count in zip(range(1, len(counts) + 1), counts):
            record = {"unit": unit, "value": value, "count": count}
            if periods:
                record["period"] = period
            records.append(record)
    return pd.DataFrame(records)


def expand(counts: pd.DataFrame, keys=("unit",)) -> pd.DataFrame:
    """One row per rating, rebuilt from the counts (the brute-force reference)."""
    return counts.loc[counts.index.repeat(counts["count"]), [*keys, "value"]].reset_index(drop=True)


@pytest.fixture
def tiny():
    return tidy(TINY)


def padded_mean_limits(raw, low=1, high=5, z=stats.norm.isf(0.025)):
    """Hand arithmetic for the published mean interval: z²/2 pseudo-answers at each end of
    the scale, then centre ± z·sd/sqrt(n + z²) on the unit scale."""
    y = (np.asarray(raw, float) - low) / (high - low)
    pad = z * z / 2
    n_tilde = y.size + 2 * pad
    centre = (y.sum() + pad) / n_tilde
    var = (np.sum((y - centre) ** 2) + pad * centre**2 + pad * (1 - centre) ** 2) / n_tilde
    half = z * math.sqrt(var / n_tilde)
    return (low + (high - low) * max(centre - half, 0.0), low + (high - low) * min(centre + half, 1.0))


def row(table, unit):
    rows = table[table["unit"] == unit]
    assert len(rows) == 1
    return rows.iloc[0]


# --------------------------------------------------------------------------- hand-made table


def test_counts_index_and_mean_by_hand(tiny):
    table = satisfaction_table(tiny, period="2026-07")
    assert table["unit"].tolist() == ["A", "B", "C", "D", "E"]
    assert table["n"].tolist() == [40, 32, 2, 1, 0]
    assert table["satisfied"].tolist()[:2] == [30, 27]  # the others are withheld (below)
    assert table["satisfied"].isna().tolist() == [False, False, True, True, True]
    a, b = row(table, "A"), row(table, "B")
    assert a["index"] == pytest.approx(30 / 40)
    assert b["index"] == pytest.approx(27 / 32)
    assert a["mean"] == pytest.approx(153 / 40)
    assert b["mean"] == pytest.approx(139 / 32)
    assert a["score_100"] == pytest.approx(100 * (153 / 40 - 1) / 4)


def test_intervals_match_statsmodels_and_scipy(tiny):
    table = satisfaction_table(tiny, period="2026-07")
    for unit, x, n in (("A", 30, 40), ("B", 27, 32)):
        r = row(table, unit)
        assert (r["ci_low"], r["ci_high"]) == pytest.approx(proportion_confint(x, n, method="wilson"))
    raw = np.repeat([1, 2, 3, 4, 5], [2, 3, 5, 20, 10])
    m_low, m_high = padded_mean_limits(raw)
    a = row(table, "A")
    assert (a["mean_low"], a["mean_high"]) == pytest.approx((m_low, m_high))
    assert (a["score_100_low"], a["score_100_high"]) == pytest.approx(
        (100 * (m_low - 1) / 4, 100 * (m_high - 1) / 4)
    )
    # Without a cluster column every rating counts fully.
    assert table["deff"].tolist() == [1.0] * 5
    assert table["n_eff"].tolist() == table["n"].tolist()


def test_other_interval_method(tiny):
    table = satisfaction_table(tiny, period="2026-07", method="clopper-pearson")
    a = row(table, "A")
    assert (a["ci_low"], a["ci_high"]) == pytest.approx(proportion_confint(30, 40, method="beta"))


WITHHELD = ("satisfied", "index", "ci_low", "ci_high", "mean", "mean_low", "mean_high",
            "score_100", "score_100_low", "score_100_high", "response_rate", "response_rate_low",
            "response_rate_high", "bound_low", "bound_high", "z", "z_adjusted", "comparison_p",
            "comparison_q", "rank", "rank_low", "rank_high", "shrunk", "shrunk_low",
            "shrunk_high")


def test_below_min_n_everything_derived_is_withheld_but_n_is_kept(tiny):
    transactions = pd.DataFrame({"unit": list("ABCDE"), "period": "2026-07",
                                 "transactions": [200, 100, 50, 20, 80]})
    table = satisfaction_table(tiny, period="2026-07", previous_period="2026-06",
                               transactions=transactions, distribution=True)  # min_n = 30
    for unit in ("C", "D", "E"):
        r = row(table, unit)
        assert not r["publishable"]
        for column in (*WITHHELD, "index_prev", "change", "change_low", "change_high",
                       "change_p", "change_q", "n_1", "n_5"):
            assert math.isnan(r[column]), (unit, column)
        assert r["funnel_95"] == "insufficient data" and r["funnel_998"] == "insufficient data"
        assert r["comparison"] == analysis.INSUFFICIENT == "insufficient"
        assert r["change_flag"] == "insufficient data"
    assert table["publishable"].tolist() == [True, True, False, False, False]
    # The counts are still shown: the reader sees why nothing else is.
    assert table["n"].tolist() == [40, 32, 2, 1, 0]
    # Regression (issue 7): `satisfied` beside `n` made the index recomputable.
    assert row(table, "C")["n"] == 2 and math.isnan(row(table, "C")["satisfied"])
    assert row(table, "A")["satisfied"] == 30


def test_units_below_min_n_stay_out_of_the_comparison(tiny):
    table = satisfaction_table(tiny, period="2026-07")
    # Target: pooled share of the publishable units only, (30 + 27) / (40 + 32).
    assert table["target"].iloc[0] == pytest.approx(57 / 72)
    assert table.attrs["target"] == pytest.approx(57 / 72)
    assert sorted(table["rank"].dropna().tolist()) == [1, 2]  # two units ranked, not five
    z_a = (30 / 40 - 57 / 72) / math.sqrt((57 / 72) * (15 / 72) / 40)
    assert row(table, "A")["z"] == pytest.approx(z_a)


def test_min_n_can_be_lowered(tiny):
    table = satisfaction_table(tiny, period="2026-07", min_n=1)
    d = row(table, "D")  # one rating of 5
    assert d["publishable"]
    assert d["index"] == 1.0
    assert (d["ci_low"], d["ci_high"]) == pytest.approx(proportion_confint(1, 1, method="wilson"))
    assert d["mean"] == 5.0
    # One answer: a wide interval, never a zero-width one.
    assert (d["mean_low"], d["mean_high"]) == pytest.approx(padded_mean_limits([5]))
    assert d["mean_low"] < 3.5
    assert not row(table, "E")["publishable"]  # zero ratings is never publishable


@pytest.mark.parametrize("min_n", [0, -1, 2.5, True])
def test_min_n_must_be_a_positive_whole_number(tiny, min_n):
    with pytest.raises(ValueError):
        satisfaction_table(tiny, period="2026-07", min_n=min_n)


def test_one_unit_only():
    counts = tidy([("A", "2026-07", [2, 3, 5, 20, 10])])
    table = satisfaction_table(counts, period="2026-07")
    assert len(table) == 1
    a = table.iloc[0]
    assert a["index"] == pytest.approx(0.75)
    assert a["target"] == pytest.approx(0.75)  # its own pooled share
    assert (a["rank"], a["rank_low"], a["rank_high"]) == (1, 1, 1)
    assert a["funnel_95"] == "within" and a["funnel_998"] == "within"
    assert a["comparison"] == "within"


def test_only_unit_with_all_satisfied_is_within_its_own_target():
    counts = tidy([("A", "2026-07", [0, 0, 0, 20, 20])])
    table = satisfaction_table(counts, period="2026-07")
    assert table["index"].iloc[0] == 1.0
    assert table["funnel_95"].iloc[0] == "within" and table["comparison"].iloc[0] == "within"


def test_no_ratings_at_all():
    counts = tidy([("A", "2026-07", [0, 0, 0, 0, 0]), ("B", "2026-07", [0, 0, 0, 0, 0])])
    table = satisfaction_table(counts, period="2026-07")
    assert table["n"].tolist() == [0, 0]
    assert table["index"].isna().all() and table["rank"].isna().all()
    assert math.isnan(table.attrs["target"])


def test_empty_period():
    table = satisfaction_table(tidy(TINY), period="2025-01")
    assert len(table) == 0
    assert list(table.columns) == ["unit", *TABLE_COLUMNS]


def test_three_level_scale():
    # Không hài lòng 5, Hài lòng 10, Rất hài lòng 15.
    counts = tidy([("A", "2026-07", [5, 10, 15])])
    table = satisfaction_table(counts, period="2026-07", scale=(1, 3), satisfied_from=2)
    a = table.iloc[0]
    assert (a["n"], a["satisfied"]) == (30, 25)
    assert a["mean"] == pytest.approx(70 / 30)  # (5 + 20 + 45) / 30
    assert a["score_100"] == pytest.approx(100 * (70 / 30 - 1) / 2)
    assert (a["ci_low"], a["ci_high"]) == pytest.approx(proportion_confint(25, 30, method="wilson"))


def test_values_outside_the_scale_are_refused():
    counts = tidy([("A", "2026-07", [5, 10, 15])])  # values 1..3
    counts.loc[0, "value"] = 4
    with pytest.raises(ValueError, match="not levels"):
        satisfaction_table(counts, period="2026-07", scale=(1, 3), satisfied_from=2)


@pytest.mark.parametrize("bad", [-1, 2.5, np.nan])
def test_counts_must_be_whole_and_non_negative(tiny, bad):
    tiny["count"] = tiny["count"].astype(float)
    tiny.loc[0, "count"] = bad
    with pytest.raises(ValueError):
        satisfaction_table(tiny, period="2026-07")


def test_missing_unit_is_refused(tiny):
    tiny["unit"] = tiny["unit"].astype(object)
    tiny.loc[0, "unit"] = None
    with pytest.raises(ValueError, match="missing"):
        satisfaction_table(tiny, period="2026-07")


# --------------------------------------------------------------------------- response rate


def test_response_rate_and_nonresponse_bounds(tiny):
    transactions = pd.DataFrame({
        "unit": ["A", "B", "F"],
        "period": ["2026-07", "2026-07", "2026-07"],
        "transactions": [200, np.nan, 80],
    })
    table = satisfaction_table(tiny, period="2026-07", transactions=transactions)
    a = row(table, "A")
    assert a["transactions"] == 200
    assert a["response_rate"] == pytest.approx(40 / 200)
    assert (a["response_rate_low"], a["response_rate_high"]) == pytest.approx(
        proportion_confint(40, 200, method="wilson")
    )
    # Worst cases over everyone served: the 160 who did not rate all dissatisfied / satisfied.
    assert (a["bound_low"], a["bound_high"]) == pytest.approx((30 / 200, (30 + 160) / 200))
    b = row(table, "B")  # served count unknown
    assert math.isnan(b["response_rate"]) and math.isnan(b["bound_low"])
    assert math.isnan(row(table, "C")["response_rate"])  # unit not in the register
    f = row(table, "F")  # served 80 people, nobody rated: not publishable, nothing derived shown
    assert f["n"] == 0 and f["transactions"] == 80 and math.isnan(f["response_rate"])
    # B's served count is unknown, so the target stays the pooled index of ratings.
    assert table.attrs["target_source"] == "pooled"


def test_target_weighted_by_transactions_served(tiny):
    transactions = pd.DataFrame({"unit": ["A", "B"], "period": "2026-07",
                                 "transactions": [100, 900]})
    table = satisfaction_table(tiny, period="2026-07", transactions=transactions)
    # The average citizen served, not the average rating received: B served 9 times as many.
    assert table.attrs["target_source"] == "transactions"
    assert table.attrs["target"] == pytest.approx((100 * 30 / 40 + 900 * 27 / 32) / 1000)
    assert row(table, "A")["target"] == pytest.approx(table.attrs["target"])
    given = satisfaction_table(tiny, period="2026-07", transactions=transactions, target=0.8)
    assert given.attrs["target_source"] == "given"


def test_response_rate_sums_months_of_a_quarter(tiny):
    transactions = pd.DataFrame({
        "unit": ["A", "A", "A"], "period": ["2026-07", "2026-08", "2026-06"],
        "transactions": [150, 250, 999],
    })
    table = satisfaction_table(tiny, period="2026-Q3", transactions=transactions)
    assert row(table, "A")["response_rate"] == pytest.approx(40 / 400)


# --------------------------------------------------------------------------- change


def test_change_since_previous_period(tiny):
    table = satisfaction_table(tiny, period="2026-07", previous_period="2026-06")
    assert list(table.columns) == ["unit", *TABLE_COLUMNS, *CHANGE_COLUMNS]
    a, b = row(table, "A"), row(table, "B")
    assert (a["n_prev"], a["index_prev"]) == (40, 0.5)
    assert a["change"] == pytest.approx(30 / 40 - 20 / 40)
    low, high = confint_proportions_2indep(30, 40, 20, 40, method="newcomb", compare="diff")
    assert (a["change_low"], a["change_high"]) == pytest.approx((low, high))
    assert a["change_flag"] == "improved"  # low > 0
    low_b, high_b = confint_proportions_2indep(27, 32, 30, 32, method="newcomb", compare="diff")
    assert (b["change_low"], b["change_high"]) == pytest.approx((low_b, high_b))
    assert b["change_flag"] == "no clear change"
    # The flag needs the change to survive FDR control over the two units compared.
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.proportion import proportions_ztest

    p = [proportions_ztest([30, 20], [40, 40])[1], proportions_ztest([27, 30], [32, 32])[1]]
    assert (a["change_p"], b["change_p"]) == pytest.approx(p)
    assert (a["change_q"], b["change_q"]) == pytest.approx(multipletests(p, method="fdr_bh")[1])
    assert table.attrs["regression_to_the_mean"].startswith("Regression to the mean")
    assert 0 < table.attrs["rtm_persistence"] < 1
    for unit in ("C", "D", "E"):  # not publishable now: no change reported
        r = row(table, unit)
        assert math.isnan(r["change"]) and r["change_flag"] == "insufficient data"


def test_change_needs_both_periods_publishable():
    counts = tidy([
        ("A", "2026-07", [0, 0, 10, 20, 10]),
        ("A", "2026-06", [0, 0, 1, 2, 1]),      # only 4 ratings before
        ("B", "2026-06", [0, 0, 10, 20, 10]),   # gone quiet this month
    ])
    table = satisfaction_table(counts, period="2026-07", previous_period="2026-06")
    a, b = row(table, "A"), row(table, "B")
    assert a["change_flag"] == "insufficient data" and math.isnan(a["index_prev"])
    assert b["n"] == 0 and b["n_prev"] == 40 and b["index_prev"] == pytest.approx(30 / 40)
    assert b["change_flag"] == "insufficient data"


def test_previous_period_needs_period(tiny):
    with pytest.raises(ValueError):
        satisfaction_table(tiny, previous_period="2026-06")


# --------------------------------------------------------------------------- periods


@pytest.mark.parametrize("label, canonical", [
    ("2026-07", "2026-07"), ("2026-7", "2026-07"), ("2026-Q3", "2026-Q3"), ("2026q3", "2026-Q3"),
    ("2026", "2026"), (pd.Period("2026-07", freq="M"), "2026-07"),
])
def test_period_labels(label, canonical):
    assert period_label(label) == canonical


@pytest.mark.parametrize("label, before", [
    ("2026-01", "2025-12"), ("2026-Q1", "2025-Q4"), ("2026-Q3", "2026-Q2"), ("2026", "2025"),
])
def test_period_before(label, before):
    assert period_before(label) == before


@pytest.mark.parametrize("bad", ["2026-13", "July 2026", "2026-Q5", ""])
def test_parse_period_refuses_unknown_labels(bad):
    with pytest.raises(ValueError):
        parse_period(bad)


def test_quarter_pools_its_months(tiny):
    quarter = satisfaction_table(tiny, period="2026-Q3")
    month = satisfaction_table(tiny, period="2026-07")
    assert quarter["n"].tolist() == month["n"].tolist()  # only July has data in Q3
    q2 = satisfaction_table(tiny, period="2026-Q2")
    assert row(q2, "A")["n"] == 40


def test_no_period_pools_everything(tiny):
    table = satisfaction_table(tiny.drop(columns="period"))
    assert row(table, "A")["n"] == 80 and row(table, "A")["satisfied"] == 50


def test_period_column_of_dates(tiny):
    tiny["period"] = pd.to_datetime(tiny["period"] + "-15")
    table = satisfaction_table(tiny, period="2026-07")
    assert row(table, "A")["n"] == 40


# --------------------------------------------------------------------------- brute force


def test_counts_give_the_same_numbers_as_the_raw_ratings():
    rng = np.random.default_rng(7)
    sizes = {"U1": 300, "U2": 45, "U3": 31, "U4": 29, "U5": 120}
    shares = {"U1": 0.85, "U2": 0.6, "U3": 0.95, "U4": 0.7, "U5": 0.8}
    raw = pd.concat([
        pd.DataFrame({
            "unit": unit,
            "value": np.where(rng.random(size) < shares[unit], rng.integers(4, 6, size),
                              rng.integers(1, 4, size)),
        })
        for unit, size in sizes.items()
    ], ignore_index=True)
    raw = raw.sample(frac=1.0, random_state=3).reset_index(drop=True)  # arrival order
    counts = raw.groupby(["unit", "value"]).size().reset_index(name="count")
    # Split every count over two rows (e.g. two kiosks): counts must add up, not overwrite.
    half = counts.assign(count=counts["count"] // 2)
    rest = counts.assign(count=counts["count"] - counts["count"] // 2)
    table = satisfaction_table(pd.concat([rest, half], ignore_index=True), ranks=False)
    for unit, ratings in raw.groupby("unit"):
        r = row(table, unit)
        v = ratings["value"].to_numpy()
        x = int((v >= 4).sum())
        assert r["n"] == v.size
        if v.size < 30:
            assert math.isnan(r["index"]) and math.isnan(r["satisfied"])
            continue
        assert r["satisfied"] == x
        assert r["index"] == pytest.approx(x / v.size)
        assert (r["ci_low"], r["ci_high"]) == pytest.approx(proportion_confint(x, v.size, method="wilson"))
        assert r["mean"] == pytest.approx(v.mean())
        assert (r["mean_low"], r["mean_high"]) == pytest.approx(padded_mean_limits(v))
    # The raw rebuilt from the tiny counts agrees as well.
    tiny_raw = expand(tidy(TINY[:2], periods=False))
    assert tiny_raw.groupby("unit")["value"].mean().tolist() == pytest.approx([153 / 40, 139 / 32])


# --------------------------------------------------------------------------- comparison


def _separated():
    # Twelve similar units around 80 %, one far below (50 %), each with 400 answers.
    rows = [(f"U{i:02d}", "2026-07", [10, 20, 50, 160, 160]) for i in range(12)]
    rows.append(("LOW", "2026-07", [40, 60, 100, 100, 100]))
    return tidy(rows)


def test_funnel_flags_a_clear_outlier():
    table = satisfaction_table(_separated(), period="2026-07", adjustment="none")
    target = (12 * 320 + 200) / (13 * 400)
    low = row(table, "LOW")
    assert low["target"] == pytest.approx(target)
    assert low["z"] == pytest.approx((0.5 - target) / math.sqrt(target * (1 - target) / 400))
    # Its exact binomial tail, P(X <= 200) for Bin(400, target), decides.
    p_low = stats.binom.cdf(200, 400, target)
    assert low["comparison_p"] == pytest.approx(2 * p_low, rel=1e-8)
    assert low["funnel_95"] == "below" and low["funnel_998"] == "below"
    assert low["comparison"] == analysis.BELOW
    assert (table.loc[table["unit"] != "LOW", "funnel_95"] == "within").all()
    assert (table.loc[table["unit"] != "LOW", "comparison"] == "within").all()
    assert table.attrs["adjustment"] == "none"


def test_comparison_values_and_what_is_reported(tiny):
    table = satisfaction_table(_separated(), period="2026-07")  # adjustment="additive"
    assert set(table["comparison"]) <= set(analysis.COMPARISON_VALUES)
    assert analysis.COMPARISON_VALUES == ("above", "within", "below", "insufficient")
    assert table.attrs["adjustment"] == "additive"
    for key in ("phi", "tau2", "overdispersion_p_value", "fdr", "funnel"):
        assert key in table.attrs
    # One of 13 units far off: it does not widen its own null (it is left out of τ²), and
    # it is named.
    assert table.attrs["tau2_units_left_out"] == 1
    assert row(table, "LOW")["comparison"] == "below"


def test_funnel_curve_comes_from_the_table():
    table = satisfaction_table(_separated(), period="2026-07", adjustment="none")
    curve = analysis.funnel_curve(table, [50, 400, 2000])
    expected = analysis.funnel_limits([50, 400, 2000], table.attrs["target"])
    pd.testing.assert_frame_equal(curve, expected)
    # The unit's band is the curve's verdict at its n.
    at_400 = analysis.funnel_curve(table, [400])
    low = row(table, "LOW")
    assert (low["index"] <= at_400["lower_95"].iloc[0]) == (low["funnel_95"] == "below")
    additive = satisfaction_table(_separated(), period="2026-07")
    widened = analysis.funnel_curve(additive, [400])
    assert widened["lower_95"].iloc[0] < at_400["lower_95"].iloc[0]
    with pytest.raises(ValueError):
        analysis.funnel_curve(pd.DataFrame(), [10])


def test_given_target(tiny):
    table = satisfaction_table(tiny, period="2026-07", target=0.8394)  # SIPAS 2024
    assert (table["target"] == 0.8394).all()
    assert table.attrs["target_source"] == "given"
    with pytest.raises(ValueError):
        satisfaction_table(tiny, period="2026-07", target=1.0)


def test_ranks_of_well_separated_units():
    counts = tidy([
        ("lo", "2026-07", [300, 100, 100, 250, 250]),   # 50 %
        ("mid", "2026-07", [100, 100, 100, 350, 350]),  # 70 %
        ("hi", "2026-07", [20, 30, 50, 450, 450]),      # 90 %
    ])
    table = satisfaction_table(counts, period="2026-07")
    ranks = table.set_index("unit")[["rank", "rank_low", "rank_high"]]
    assert ranks.loc["hi"].tolist() == [1, 1, 1]
    assert ranks.loc["mid"].tolist() == [2, 2, 2]
    assert ranks.loc["lo"].tolist() == [3, 3, 3]


def test_shrunken_estimates_lie_between_own_share_and_the_rest(tiny):
    table = satisfaction_table(_separated(), period="2026-07")
    low = row(table, "LOW")
    assert 0.5 <= low["shrunk"] <= low["target"] + 1e-9
    assert low["shrunk_low"] <= low["shrunk"] <= low["shrunk_high"]


def test_ranks_can_be_switched_off(tiny):
    table = satisfaction_table(tiny, period="2026-07", ranks=False)
    assert table["rank"].isna().all()
    assert list(table.columns) == ["unit", *TABLE_COLUMNS]


def test_rank_monte_carlo_error_is_reported():
    rng = np.random.default_rng(2)
    rows = [(f"U{i:02d}", "2026-07", [1, 2, 5, *rng.integers(10, 60, 2).tolist()]) for i in range(25)]
    table = satisfaction_table(tidy(rows), period="2026-07")
    for key in ("rank_draws", "rank_step", "rank_mc_error", "rank_unstable_share"):
        assert key in table.attrs
    assert table.attrs["rank_unstable_share"] <= 0.05
    assert table.attrs["n_sims"] == table.attrs["rank_draws"] >= 20_000
    assert (table["rank_low"] <= table["rank_high"]).all()


def test_deterministic_for_a_seed():
    rng = np.random.default_rng(1)
    rows = [(f"U{i:03d}", "2026-07", rng.integers(0, 30, 5).tolist()) for i in range(60)]
    counts = tidy(rows)
    first = satisfaction_table(counts, period="2026-07", seed=11)
    second = satisfaction_table(counts, period="2026-07", seed=11)
    assert_frame_equal(first, second)
    assert first.attrs == second.attrs


# --------------------------------------------------------------------------- shapes of input


def test_several_by_columns():
    counts = tidy(TINY)
    counts["province"] = counts["unit"].map({"A": "HN", "B": "HN", "C": "HP", "D": "HP", "E": "HP"})
    table = satisfaction_table(counts, ["province", "unit"], period="2026-07")
    assert list(table.columns[:2]) == ["province", "unit"]
    assert table[["province", "unit"]].values.tolist() == [
        ["HN", "A"], ["HN", "B"], ["HP", "C"], ["HP", "D"], ["HP", "E"],
    ]
    provinces = satisfaction_table(counts, "province", period="2026-07")
    assert provinces["n"].tolist() == [72, 3]


def test_categorical_columns_give_the_same_table(tiny):
    plain = satisfaction_table(tiny, period="2026-07", previous_period="2026-06")
    categorical = tiny.astype({"unit": "category", "period": "category", "value": "category"})
    coded = satisfaction_table(categorical, period="2026-07", previous_period="2026-06")
    assert coded["unit"].astype(str).tolist() == plain["unit"].tolist()
    assert_frame_equal(coded.drop(columns="unit"), plain.drop(columns="unit"))


def test_missing_column_is_named(tiny):
    with pytest.raises(ValueError, match="count"):
        satisfaction_table(tiny.drop(columns="count"), period="2026-07")


# --------------------------------------------------------------------------- post-stratification


def test_post_stratified_index_in_the_table():
    # Per procedure both units satisfy 90 % (birth registration) and 60 % (land);
    # B handles mostly land dossiers.
    records = []
    for unit, procedure, satisfied, unsatisfied in [
        ("A", "birth", 72, 8), ("A", "land", 12, 8),
        ("B", "birth", 18, 2), ("B", "land", 48, 32),
    ]:
        records += [
            {"unit": unit, "procedure": procedure, "period": "2026-07", "value": 5, "count": satisfied},
            {"unit": unit, "procedure": procedure, "period": "2026-07", "value": 2, "count": unsatisfied},
        ]
    counts = pd.DataFrame(records)
    table = satisfaction_table(counts, period="2026-07", strata="procedure")
    assert list(table.columns) == ["unit", *TABLE_COLUMNS, *STRATA_COLUMNS]
    a, b = row(table, "A"), row(table, "B")
    assert (a["index"], b["index"]) == pytest.approx((0.84, 0.66))
    assert (a["ps_index"], b["ps_index"]) == pytest.approx((0.75, 0.75))
    assert (a["ps_n_eff"], b["ps_n_eff"]) == pytest.approx((64, 64))  # 1 / (0.25/80 + 0.25/20)
    _, low, high, _ = analysis.post_stratified_index([[72, 12]], [[80, 20]], [0.5, 0.5])
    assert (a["ps_low"], a["ps_high"]) == pytest.approx((low[0], high[0]))
    # A reference mix equal to A's own mix: A's post-stratified index is its crude index.
    own = satisfaction_table(counts, period="2026-07", strata="procedure",
                             reference_mix=pd.Series({"birth": 0.8, "land": 0.2}))
    assert row(own, "A")["ps_index"] == pytest.approx(0.84)
    assert row(own, "A")["ps_n_eff"] == pytest.approx(100)


def test_post_stratified_index_is_withheld_when_the_weighting_leaves_too_little():
    # Regression (issue 7): n = 33 with a 3-rating stratum weighted 50 % published 0.535
    # beside a crude 0.879. Now the tiny stratum is collapsed, and a unit whose weighting
    # leaves fewer than min_n effective ratings gets no standardised index.
    records = []
    for unit, procedure, satisfied, unsatisfied in [
        ("A", "birth", 29, 1), ("A", "land", 0, 3),
        ("B", "birth", 25, 10), ("B", "land", 20, 15),
        ("C", "birth", 60, 3), ("C", "land", 3, 9),
    ]:
        records += [
            {"unit": unit, "procedure": procedure, "value": 5, "count": satisfied},
            {"unit": unit, "procedure": procedure, "value": 1, "count": unsatisfied},
        ]
    table = satisfaction_table(pd.DataFrame(records), strata="procedure",
                               reference_mix=pd.Series({"birth": 0.5, "land": 0.5}))
    a, c = row(table, "A"), row(table, "C")
    assert a["publishable"] and a["index"] == pytest.approx(29 / 33)
    assert a["ps_index"] == pytest.approx(29 / 30)  # the 3-rating stratum does not drive it
    # C: 63 birth and 12 land ratings, weighted 50/50: Kish 1 / (0.25/63 + 0.25/12) = 40.3.
    assert c["ps_n_eff"] == pytest.approx(1 / (0.25 / 63 + 0.25 / 12))
    strict = satisfaction_table(pd.DataFrame(records), strata="procedure", min_n=45,
                                reference_mix=pd.Series({"birth": 0.5, "land": 0.5}))
    assert row(strict, "C")["publishable"] and math.isnan(row(strict, "C")["ps_index"])


# --------------------------------------------------------------------------- criteria


# --------------------------------------------------------------------------- clusters


def clustered_counts(per_cluster):
    """Tidy counts from {(unit, cluster): (satisfied, unsatisfied)}."""
    records = []
    for (unit, cluster), (satisfied, unsatisfied) in per_cluster.items():
        records += [
            {"unit": unit, "cluster": cluster, "value": 5, "count": satisfied},
            {"unit": unit, "cluster": cluster, "value": 2, "count": unsatisfied},
        ]
    return pd.DataFrame(records)


def test_clustered_ratings_widen_the_index_interval():
    rng = np.random.default_rng(12)
    clusters = {}
    for unit in ("A", "B", "C", "D"):
        for day in range(20):  # days alike within: shares vary from day to day
            share = rng.uniform(0.4, 1.0)
            size = int(rng.integers(3, 12))
            hits = int(rng.binomial(size, share))
            clusters[(unit, f"{unit}-{day}")] = (hits, size - hits)
    counts = clustered_counts(clusters)
    plain = satisfaction_table(counts, ranks=False)
    clustered = satisfaction_table(counts, cluster="cluster", ranks=False)
    design = analysis.cluster_design(
        [v[0] for v in clusters.values()], [sum(v) for v in clusters.values()],
        [ord(u) - ord("A") for u, _ in clusters], 4,
    )
    np.testing.assert_allclose(clustered["deff"], design.deff)
    np.testing.assert_allclose(clustered["n_eff"], design.n_eff)
    assert (clustered["deff"] > 1).all() and (clustered["n_eff"] < clustered["n"]).all()
    assert clustered.attrs["cluster"] == "cluster" and 0 < clustered.attrs["icc"] < 1
    # Wilson's interval at the effective counts (index · n_eff, n_eff).
    for r in clustered.itertuples():
        center = r.index * r.n_eff
        z2 = stats.norm.isf(0.025) ** 2
        mid = (center + z2 / 2) / (r.n_eff + z2)
        half = math.sqrt(z2) * math.sqrt(center * (r.n_eff - center) / r.n_eff + z2 / 4) / (r.n_eff + z2)
        assert (r.ci_low, r.ci_high) == pytest.approx((mid - half, mid + half))
    assert ((clustered["ci_high"] - clustered["ci_low"]) > (plain["ci_high"] - plain["ci_low"])).all()
    assert (clustered["index"] == plain["index"]).all()


def test_dense_and_hashed_cluster_counting_agree(monkeypatch):
    import analysis.table as table_module

    rng = np.random.default_rng(5)
    clusters = {(u, f"{u}-{d}"): (int(rng.integers(0, 8)), int(rng.integers(0, 4)))
                for u in "ABC" for d in range(15)}
    counts = clustered_counts(clusters)
    dense = satisfaction_table(counts, cluster="cluster", ranks=False)
    monkeypatch.setattr(table_module, "_DENSE_CLUSTER_CELLS", 0)
    hashed = satisfaction_table(counts, cluster="cluster", ranks=False)
    pd.testing.assert_frame_equal(dense, hashed)


def test_clusters_of_one_rating_change_nothing():
    rng = np.random.default_rng(3)
    clusters = {("A", f"r{i}"): (int(h), 1 - int(h)) for i, h in enumerate(rng.random(50) < 0.8)}
    clusters.update({("B", f"s{i}"): (int(h), 1 - int(h)) for i, h in enumerate(rng.random(40) < 0.7)})
    counts = clustered_counts(clusters)
    plain = satisfaction_table(counts, ranks=False)
    clustered = satisfaction_table(counts, cluster="cluster", ranks=False)
    assert clustered["deff"].tolist() == [1.0, 1.0]
    assert clustered["n_eff"].tolist() == [50.0, 40.0]
    pd.testing.assert_frame_equal(clustered[["ci_low", "ci_high"]], plain[["ci_low", "ci_high"]])


def test_units_withheld_when_clustering_leaves_too_few_effective_ratings():
    # 40 ratings from two days that could not differ more: n_eff far below 30.
    clusters = {("A", "d1"): (20, 0), ("A", "d2"): (0, 20)}
    clusters.update({("B", f"d{i}"): (4, 1) for i in range(12)})
    table = satisfaction_table(clustered_counts(clusters), cluster="cluster", ranks=False)
    a = row(table, "A")
    assert a["n"] == 40 and a["n_eff"] < 30 and not a["publishable"]
    assert math.isnan(a["index"]) and a["comparison"] == "insufficient"
    assert row(table, "B")["publishable"]


def test_cluster_column_must_be_complete():
    counts = clustered_counts({("A", "d1"): (20, 5), ("A", "d2"): (10, 5)})
    counts["cluster"] = counts["cluster"].astype(object)
    counts.loc[0, "cluster"] = None
    with pytest.raises(ValueError, match="cluster"):
        satisfaction_table(counts, cluster="cluster")
    with pytest.raises(ValueError, match="cluster"):
        satisfaction_table(counts, cluster="missing")


# --------------------------------------------------------------------------- distribution


def test_distribution_columns(tiny):
    table = satisfaction_table(tiny, period="2026-07", distribution=True)
    assert distribution_columns() == ("n_1", "n_2", "n_3", "n_4", "n_5")
    assert list(table.columns) == ["unit", *TABLE_COLUMNS, *distribution_columns()]
    assert row(table, "A")[list(distribution_columns())].tolist() == [2, 3, 5, 20, 10]
    assert row(table, "C")[list(distribution_columns())].isna().all()  # withheld
    three = satisfaction_table(tidy([("A", "2026-07", [5, 10, 15])]), period="2026-07",
                               scale=(1, 3), satisfied_from=2, distribution=True)
    assert three[["n_1", "n_2", "n_3"]].iloc[0].tolist() == [5, 10, 15]


def test_every_column_is_described():
    for column in (*TABLE_COLUMNS, *CHANGE_COLUMNS, *STRATA_COLUMNS):
        assert COLUMN_DESCRIPTIONS[column]


def test_criterion_table_compares_each_question_separately():
    rows = []
    for question, unit, counts in [
        ("q1", "A", [0, 0, 10, 20, 10]), ("q1", "B", [0, 0, 5, 20, 15]),
        ("q2", "A", [5, 5, 10, 10, 10]), ("q2", "B", [0, 0, 0, 20, 20]),
    ]:
        rows += [{"question": question, "unit": unit, "value": v, "count": c}
                 for v, c in zip(range(1, 6), counts)]
    counts = pd.DataFrame(rows)
    table = criterion_table(counts, "unit")
    assert table[["question", "unit"]].values.tolist() == [["q1", "A"], ["q1", "B"], ["q2", "A"], ["q2", "B"]]
    assert table["index"].tolist() == pytest.approx([30 / 40, 35 / 40, 20 / 40, 40 / 40])
    q1 = table[table["question"] == "q1"]
    assert q1["target"].iloc[0] == pytest.approx(65 / 80)  # q1's own pooled share
    assert table[table["question"] == "q2"]["target"].iloc[0] == pytest.approx(60 / 80)


def test_criterion_table_with_dossier_criteria_scored_0_to_2():
    rows = [{"question": "c1", "unit": "A", "value": v, "count": c} for v, c in zip((0, 1, 2), (10, 10, 20))]
    table = criterion_table(pd.DataFrame(rows), "unit", scales={"c1": (0, 2, 1)})
    a = table.iloc[0]
    assert (a["n"], a["satisfied"]) == (40, 30)
    assert a["score_100"] == pytest.approx(100 * (10 + 40) / 40 / 2)  # mean points / 2


# --------------------------------------------------------------------------- random tables


def test_random_small_tables_keep_every_invariant():
    # Seeded random tables — empty units, one-day units, all-satisfied units, tiny strata,
    # every adjustment, with and without clusters — never raise or warn (warnings are errors
    # here) and keep the table's promises.
    rng = np.random.default_rng(0)
    for _ in range(60):
        units = int(rng.integers(1, 10))
        records = []
        for u in range(units):
            for d in range(int(rng.integers(1, 5))):
                for period in ("2026-07", "2026-06"):
                    level_counts = rng.integers(0, rng.choice([2, 8, 30]), 5)
                    if rng.random() < 0.2:
                        level_counts[:] = 0
                    if rng.random() < 0.2:
                        level_counts[:3] = 0
                    records += [{"unit": f"U{u}", "day": f"{u}-{d}", "period": period,
                                 "procedure": f"p{d % 2}", "value": v, "count": int(c)}
                                for v, c in enumerate(level_counts, 1)]
        options = {"period": "2026-07", "previous_period": "2026-06", "n_sims": 400,
                   "min_n": int(rng.choice([1, 5, 30])),
                   "adjustment": str(rng.choice(["additive", "auto", "none", "multiplicative"]))}
        if rng.random() < 0.5:
            options["cluster"] = "day"
        if rng.random() < 0.3:
            options["strata"] = "procedure"
        table = satisfaction_table(pd.DataFrame(records), distribution=True, **options)
        shown = table["publishable"]
        assert table.loc[~shown, list(WITHHELD)].isna().all().all()
        assert (table.loc[~shown, "comparison"] == "insufficient").all()
        published = table[shown]
        for low, value, high in (("ci_low", "index", "ci_high"), ("mean_low", "mean", "mean_high"),
                                 ("shrunk_low", "shrunk", "shrunk_high")):
            assert (published[low] <= published[value] + 1e-12).all(), low
            assert (published[value] <= published[high] + 1e-12).all(), high
        assert (published["n_eff"] >= options["min_n"]).all()
        assert (table["n_eff"].dropna() <= table["n"][table["n_eff"].notna()] + 1e-9).all()
        assert (table["deff"].dropna() >= 1).all()
        assert table["comparison"].isin(analysis.COMPARISON_VALUES).all()
        ranked = published.dropna(subset=["rank_low"])
        assert (ranked["rank_low"] <= ranked["rank_high"]).all()
        assert ranked["rank_high"].max() <= len(published) if len(ranked) else True
        analysis.funnel_curve(table, [1, 10, 100])
