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

from analysis.table import (
    CHANGE_COLUMNS,
    STRATA_COLUMNS,
    TABLE_COLUMNS,
    criterion_table,
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


def row(table, unit):
    rows = table[table["unit"] == unit]
    assert len(rows) == 1
    return rows.iloc[0]


# --------------------------------------------------------------------------- hand-made table


def test_counts_index_and_mean_by_hand(tiny):
    table = satisfaction_table(tiny, period="2026-07")
    assert table["unit"].tolist() == ["A", "B", "C", "D", "E"]
    assert table["n"].tolist() == [40, 32, 2, 1, 0]
    assert table["satisfied"].tolist() == [30, 27, 1, 1, 0]
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
    t_low, t_high = stats.t.interval(0.95, raw.size - 1, loc=raw.mean(), scale=stats.sem(raw))
    a = row(table, "A")
    assert (a["mean_low"], a["mean_high"]) == pytest.approx((t_low, t_high))
    assert (a["score_100_low"], a["score_100_high"]) == pytest.approx(
        (100 * (t_low - 1) / 4, 100 * (t_high - 1) / 4)
    )


def test_other_interval_method(tiny):
    table = satisfaction_table(tiny, period="2026-07", method="clopper-pearson")
    a = row(table, "A")
    assert (a["ci_low"], a["ci_high"]) == pytest.approx(proportion_confint(30, 40, method="beta"))


def test_below_min_n_is_withheld_as_nan_not_zero(tiny):
    table = satisfaction_table(tiny, period="2026-07")  # min_n = 30
    for unit in ("C", "D", "E"):
        r = row(table, unit)
        assert not r["publishable"]
        for column in ("index", "ci_low", "ci_high", "mean", "mean_low", "mean_high", "score_100",
                       "rank", "rank_low", "rank_high", "shrunk", "z"):
            assert math.isnan(r[column]), column
        assert r["funnel_95"] == "insufficient data"
    assert table["publishable"].tolist() == [True, True, False, False, False]
    # The counts are still shown: the reader sees why nothing else is.
    assert row(table, "C")["n"] == 2


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
    assert math.isnan(d["mean_low"]) and math.isnan(d["mean_high"])  # no spread from one answer
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


def test_only_unit_with_all_satisfied_is_within_its_own_target():
    counts = tidy([("A", "2026-07", [0, 0, 0, 20, 20])])
    table = satisfaction_table(counts, period="2026-07")
    assert table["index"].iloc[0] == 1.0
    assert table["funnel_95"].iloc[0] == "within"


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


def test_response_rate(tiny):
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
    assert math.isnan(row(table, "B")["response_rate"])  # served count unknown
    assert math.isnan(row(table, "C")["response_rate"])  # unit not in the register
    f = row(table, "F")  # served 80 people, nobody rated: a real 0, not a gap
    assert (f["n"], f["response_rate"]) == (0, 0.0)
    assert f["response_rate_high"] == pytest.approx(proportion_confint(0, 80, method="wilson")[1])


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
    assert b["change_flag"] == ("no clear change" if low_b <= 0 <= high_b else "declined")
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
        assert r["n"] == v.size and r["satisfied"] == x
        if v.size < 30:
            assert math.isnan(r["index"])
            continue
        assert r["index"] == pytest.approx(x / v.size)
        assert (r["ci_low"], r["ci_high"]) == pytest.approx(proportion_confint(x, v.size, method="wilson"))
        assert r["mean"] == pytest.approx(v.mean())
        assert (r["mean_low"], r["mean_high"]) == pytest.approx(
            stats.t.interval(0.95, v.size - 1, loc=v.mean(), scale=stats.sem(v))
        )
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
    # Far below even the 0.1 % binomial quantile of Bin(400, target) / 400.
    assert 0.5 < stats.binom.ppf(0.001, 400, target) / 400
    assert low["funnel_95"] == "below" and low["funnel_998"] == "below"
    assert (table.loc[table["unit"] != "LOW", "funnel_95"] == "within").all()
    assert table.attrs["adjustment"] == "none"


def test_overdispersion_adjustment_is_reported(tiny):
    table = satisfaction_table(_separated(), period="2026-07")  # adjustment="auto"
    assert table.attrs["adjustment"] in ("none", "multiplicative", "additive")
    for key in ("phi", "tau2", "overdispersion_p_value"):
        assert key in table.attrs


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
    assert (a["n_eff"], b["n_eff"]) == pytest.approx((64, 64))  # 1 / (0.25/80 + 0.25/20)
    assert (a["ps_low"], a["ps_high"]) == pytest.approx(proportion_confint(48, 64, method="wilson"))
    # A reference mix equal to A's own mix: A's post-stratified index is its crude index.
    own = satisfaction_table(counts, period="2026-07", strata="procedure",
                             reference_mix=pd.Series({"birth": 0.8, "land": 0.2}))
    assert row(own, "A")["ps_index"] == pytest.approx(0.84)
    assert row(own, "A")["n_eff"] == pytest.approx(100)


# --------------------------------------------------------------------------- criteria


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
