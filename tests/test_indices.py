"""Tests for analysis.indices: every expected value comes from hand arithmetic written out
here, from statsmodels/scipy, or from brute force on expanded raw ratings."""

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from analysis.indices import (
    DOSSIER_BANDS,
    DOSSIER_CRITERION,
    FIVE_LEVEL,
    THREE_LEVEL,
    GradeBand,
    Scale,
    dossier_total,
    grade_band,
    kish_effective_n,
    mean_score,
    post_stratified_index,
    response_rate,
    satisfaction_index,
    satisfied_count,
    score_100,
)


# --------------------------------------------------------------------------- scales


def test_scales_the_product_uses():
    assert FIVE_LEVEL.values.tolist() == [1, 2, 3, 4, 5]
    assert FIVE_LEVEL.satisfied_mask.tolist() == [False, False, False, True, True]
    assert THREE_LEVEL.satisfied_mask.tolist() == [False, True, True]
    assert DOSSIER_CRITERION.values.tolist() == [0, 1, 2]


@pytest.mark.parametrize("low, high, satisfied_from", [(5, 1, 4), (1, 5, 1), (1, 5, 6)])
def test_scale_rejects_impossible_definitions(low, high, satisfied_from):
    with pytest.raises(ValueError):
        Scale(low, high, satisfied_from)


# --------------------------------------------------------------------------- satisfaction index


def test_satisfied_count_by_hand():
    # 2 + 3 + 5 unsatisfied, 20 + 10 satisfied.
    satisfied, n = satisfied_count([[2, 3, 5, 20, 10], [0, 0, 0, 0, 0]])
    assert satisfied.tolist() == [30, 0]
    assert n.tolist() == [40, 0]


def test_satisfied_count_three_level_scale():
    satisfied, n = satisfied_count([5, 10, 15], THREE_LEVEL)
    assert (int(satisfied), int(n)) == (25, 30)


def test_satisfied_count_rejects_wrong_number_of_levels():
    with pytest.raises(ValueError):
        satisfied_count([1, 2, 3], FIVE_LEVEL)


@pytest.mark.parametrize("method, sm_method", [("wilson", "wilson"), ("clopper-pearson", "beta"),
                                               ("jeffreys", "jeffreys"), ("agresti-coull", "agresti_coull")])
@pytest.mark.parametrize("x, n", [(30, 40), (0, 12), (12, 12), (1, 1), (83, 100)])
def test_satisfaction_index_matches_statsmodels(x, n, method, sm_method):
    index, low, high = satisfaction_index(x, n, method=method)
    expected_low, expected_high = proportion_confint(x, n, alpha=0.05, method=sm_method)
    if method == "jeffreys":
        # Brown, Cai & DasGupta (2001) boundary modification, which statsmodels does not apply.
        expected_low = 0.0 if x == 0 else expected_low
        expected_high = 1.0 if x == n else expected_high
    assert index == pytest.approx(x / n)
    assert low == pytest.approx(max(expected_low, 0.0), abs=1e-9)
    assert high == pytest.approx(min(expected_high, 1.0), abs=1e-9)


def test_satisfaction_index_no_answers_is_nan_not_zero():
    index, low, high = satisfaction_index(0, 0)
    assert all(math.isnan(v) for v in (index, low, high))


# --------------------------------------------------------------------------- mean and score


def test_mean_score_by_hand_and_against_expanded_ratings():
    counts = [2, 3, 5, 20, 10]
    raw = np.repeat([1, 2, 3, 4, 5], counts)
    mean, low, high = mean_score(counts)
    assert mean == pytest.approx(153 / 40)  # (2 + 6 + 15 + 80 + 50) / 40
    expected = stats.t.interval(0.95, len(raw) - 1, loc=raw.mean(), scale=stats.sem(raw))
    assert (low, high) == pytest.approx(expected)


def test_mean_score_vectorised_rows():
    counts = np.array([[2, 3, 5, 20, 10], [0, 0, 1, 1, 0]])
    mean, _, _ = mean_score(counts)
    assert mean.tolist() == pytest.approx([153 / 40, 3.5])


@pytest.mark.parametrize("scale, mean, expected", [
    (FIVE_LEVEL, 1, 0), (FIVE_LEVEL, 5, 100), (FIVE_LEVEL, 3, 50), (FIVE_LEVEL, 3.825, 70.625),
    (THREE_LEVEL, 2, 50), (THREE_LEVEL, 3, 100), (DOSSIER_CRITERION, 1.5, 75),
])
def test_score_100(scale, mean, expected):
    assert float(score_100(mean, scale)) == pytest.approx(expected)


def test_score_100_keeps_nan():
    assert math.isnan(float(score_100(np.nan)))


# --------------------------------------------------------------------------- response rate


def test_response_rate_matches_wilson():
    rate, low, high = response_rate([40, 0], [200, 50])
    assert rate.tolist() == pytest.approx([0.2, 0.0])
    expected = [proportion_confint(40, 200, method="wilson"), proportion_confint(0, 50, method="wilson")]
    assert low.tolist() == pytest.approx([expected[0][0], 0.0], abs=1e-12)
    assert high.tolist() == pytest.approx([expected[0][1], expected[1][1]])


@pytest.mark.parametrize("ratings, served", [(10, np.nan), (0, 0), (10, 0), (12, 10)])
def test_response_rate_unknown_is_nan(ratings, served):
    rate, low, high = response_rate(ratings, served)
    assert np.isnan([rate, low, high]).all()


# --------------------------------------------------------------------------- dossier totals


def test_dossier_total_sums_nine_criteria():
    scores = np.array([[2] * 9, [0] * 9, [2, 2, 2, 2, 2, 2, 1, 1, 1], [2] * 8 + [np.nan]])
    totals = dossier_total(scores)
    assert totals[:3].tolist() == [18, 0, 15]
    assert math.isnan(totals[3])  # a missing criterion is not silently scored 0


@pytest.mark.parametrize("bad", [[3] + [2] * 8, [-1] + [2] * 8, [1.5] + [2] * 8])
def test_dossier_total_rejects_scores_outside_0_to_2(bad):
    with pytest.raises(ValueError):
        dossier_total(bad)


def test_dossier_total_needs_nine_scores():
    with pytest.raises(ValueError):
        dossier_total([2] * 8)


# Written out by hand from the product's rule "> 15 excellent, 12-15 good, 9-12 fair, 6-9 average,
# < 6 weak", a shared edge going to the higher band.
EXPECTED_BANDS = {
    0: "weak", 5: "weak",
    6: "average", 7: "average", 8: "average",
    9: "fair", 10: "fair", 11: "fair",
    12: "good", 13: "good", 14: "good", 15: "good",
    16: "excellent", 17: "excellent", 18: "excellent",
}


@pytest.mark.parametrize("total, band", sorted(EXPECTED_BANDS.items()))
def test_grade_band_every_integer_total(total, band):
    assert grade_band(total) == band


@pytest.mark.parametrize("total, band", [
    (15.0, "good"), (15.01, "excellent"),     # excellent edge: strictly above 15
    (11.99, "fair"), (12.0, "good"),          # good edge
    (8.99, "average"), (9.0, "fair"),         # fair edge
    (5.99, "weak"), (6.0, "average"),         # average edge: weak is strictly below 6
])
def test_grade_band_both_sides_of_each_edge(total, band):
    assert grade_band(total) == band


def test_grade_band_vectorised_with_missing_total():
    assert grade_band([18, np.nan, 3]).tolist() == ["excellent", None, "weak"]


def test_grade_band_labels_in_both_languages():
    labels = {b.key: (b.label_vi, b.label_en) for b in DOSSIER_BANDS}
    assert labels["excellent"] == ("Xuất sắc", "Excellent")
    assert labels["weak"] == ("Yếu", "Weak")


def test_grade_band_configurable():
    # A pass/fail rule: pass from 9, given as plain (lower, key) pairs, in any order.
    bands = [(-np.inf, "fail"), (9, "pass")]
    assert grade_band([9, 8, 0], bands).tolist() == ["pass", "fail", "fail"]
    # Moving an edge moves the grade: with the average band from 7, a total of 6 is weak.
    shifted = [b if b.key != "average" else GradeBand(7, "average") for b in DOSSIER_BANDS]
    assert grade_band(6, shifted) == "weak"
    # An exclusive edge: pass only strictly above 9.
    assert grade_band(9, [GradeBand(9, "pass", inclusive=False), (-np.inf, "fail")]) == "fail"


def test_grade_band_without_catch_all_band_raises():
    with pytest.raises(ValueError):
        grade_band(3, [(9, "pass"), (5, "low")])


def test_grade_band_of_dossier_totals():
    scores = np.array([[2] * 9, [2, 2, 2, 2, 2, 2, 1, 1, 1], [1] * 9])
    # Totals 18, 15 and 9: excellent, good (15 is not > 15), fair (9 starts "9-12 fair").
    assert grade_band(dossier_total(scores)).tolist() == ["excellent", "good", "fair"]


# --------------------------------------------------------------------------- Kish and post-stratification


def test_kish_effective_n_by_hand():
    assert float(kish_effective_n(np.ones(37))) == pytest.approx(37)
    assert float(kish_effective_n([1, 1, 2])) == pytest.approx(16 / 6)  # (1+1+2)² / (1+1+4)
    assert kish_effective_n([[1, 1], [0, 0]]).tolist() == [2, 0]


def _unit(per_procedure):
    """(satisfied, n) rows for a unit from {procedure: (satisfied, n)}."""
    x = [per_procedure.get(p, (0, 0))[0] for p in ("easy", "hard")]
    n = [per_procedure.get(p, (0, 0))[1] for p in ("easy", "hard")]
    return x, n


def test_post_stratified_index_removes_the_case_mix():
    # Same satisfaction in each procedure (90 % easy, 60 % hard); B serves mostly hard cases.
    a = _unit({"easy": (72, 80), "hard": (12, 20)})
    b = _unit({"easy": (18, 20), "hard": (48, 80)})
    x = np.array([a[0], b[0]])
    n = np.array([a[1], b[1]])
    assert (x.sum(1) / n.sum(1)).tolist() == pytest.approx([0.84, 0.66])  # crude indices differ
    index, low, high, n_eff = post_stratified_index(x, n)
    # Pooled mix is 100 easy / 100 hard: 0.5 · 0.9 + 0.5 · 0.6 for both.
    assert index.tolist() == pytest.approx([0.75, 0.75])
    # n_eff = 1 / (0.5²/80 + 0.5²/20) = 64 for both.
    assert n_eff.tolist() == pytest.approx([64, 64])
    expected = proportion_confint(0.75 * 64, 64, method="wilson")
    assert (low[0], high[0]) == pytest.approx(expected)


def test_post_stratified_n_eff_is_n_when_mix_equals_reference():
    x = np.array([[72, 12]])
    n = np.array([[80, 20]])
    index, _, _, n_eff = post_stratified_index(x, n, reference_mix=[0.8, 0.2])
    assert float(n_eff[0]) == pytest.approx(100)
    assert float(index[0]) == pytest.approx(0.84)  # equals the crude index
    # Brute force: expand to one weight per rating, weight = W_h / n_h.
    weights = np.concatenate([np.full(80, 0.8 / 80), np.full(20, 0.2 / 20)])
    assert float(kish_effective_n(weights)) == pytest.approx(float(n_eff[0]))


def test_post_stratified_n_eff_matches_expanded_weights():
    x = np.array([[72, 12]])
    n = np.array([[80, 20]])
    _, _, _, n_eff = post_stratified_index(x, n, reference_mix=[0.3, 0.7])
    weights = np.concatenate([np.full(80, 0.3 / 80), np.full(20, 0.7 / 20)])
    assert float(n_eff[0]) == pytest.approx(float(kish_effective_n(weights)))


def test_post_stratified_renormalises_over_the_strata_a_unit_serves():
    # C has only easy cases: its index is its easy-case share, with n_eff = n.
    x = np.array([[72, 12], [45, 0], [0, 0]])
    n = np.array([[80, 20], [50, 0], [0, 0]])
    index, low, high, n_eff = post_stratified_index(x, n)
    assert float(index[1]) == pytest.approx(0.9)
    assert float(n_eff[1]) == pytest.approx(50)
    assert (low[1], high[1]) == pytest.approx(proportion_confint(45, 50, method="wilson"))
    # No answers at all: nothing to publish.
    assert np.isnan([index[2], low[2], high[2]]).all() and n_eff[2] == 0


def test_post_stratified_rejects_bad_mix():
    with pytest.raises(ValueError):
        post_stratified_index([[1, 1]], [[2, 2]], reference_mix=[1.0, -0.5])
    with pytest.raises(ValueError):
        post_stratified_index([[1, 1]], [[2, 2]], reference_mix=[1.0])
