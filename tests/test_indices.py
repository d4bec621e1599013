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
    nonresponse_bounds,
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
    assert DOSSIER_CRITERION.satisfied_mask.tolist() == [False, True, True]   # 1 point or more: met


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
    mean, low, high = mean_score(counts, method="t")
    assert mean == pytest.approx(153 / 40)  # (2 + 6 + 15 + 80 + 50) / 40
    expected = stats.t.interval(0.95, len(raw) - 1, loc=raw.mean(), scale=stats.sem(raw))
    assert (low, high) == pytest.approx(expected)


def test_mean_score_default_interval_does_not_collapse():
    # The published interval pads z²/2 answers at each end of the scale (issue 7: the t
    # interval was zero width when all 30 answers were 5).
    mean, low, high = mean_score([0, 0, 0, 0, 30])
    assert mean == 5.0 and high == 5.0 and 4.3 < low < 4.6


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


def test_nonresponse_bounds_by_hand():
    # 40 rated of 200 served, 30 satisfied: 30/200 if all 160 others were dissatisfied,
    # (30 + 160)/200 if all were satisfied; the width is exactly 1 - n/N.
    low, high = nonresponse_bounds([30, 0, 30], [40, 0, 40], [200, 50, 40])
    assert low.tolist() == pytest.approx([0.15, 0.0, 0.75])
    assert high.tolist() == pytest.approx([0.95, 1.0, 0.75])
    assert (high - low).tolist() == pytest.approx([1 - 40 / 200, 1.0, 0.0])


@pytest.mark.parametrize("served", [np.nan, 0, 39])
def test_nonresponse_bounds_unknown_or_impossible_is_nan(served):
    low, high = nonresponse_bounds(30, 40, served)
    assert np.isnan(low) and np.isnan(high)


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


# Written out by hand from Circular 01/2018/TT-VPCP: ">= 15 xuất sắc, 12-<15 tốt, 9-<12 khá, 6-<9 trung bình,
# < 6 yếu".
EXPECTED_BANDS = {
    0: "weak", 5: "weak",
    6: "average", 7: "average", 8: "average",
    9: "fair", 10: "fair", 11: "fair",
    12: "good", 13: "good", 14: "good",
    15: "excellent", 16: "excellent", 17: "excellent", 18: "excellent",
}


@pytest.mark.parametrize("total, band", sorted(EXPECTED_BANDS.items()))
def test_grade_band_every_integer_total(total, band):
    assert grade_band(total) == band


@pytest.mark.parametrize("total, band", [
    (14.99, "good"), (15.0, "excellent"),     # excellent edge: 15 and above
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
    scores = np.array([[2] * 9, [2, 2, 2, 2, 2, 2, 1, 1, 1], [2, 2, 2, 2, 2, 1, 1, 1, 1], [1] * 9])
    # Totals 18, 15, 14 and 9: excellent, excellent (15 starts ">= 15"), good, fair (9 starts "9-<12 khá").
    assert grade_band(dossier_total(scores)).tolist() == ["excellent", "excellent", "good", "fair"]


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


def stratified_score_limits(x, n, weights, z=stats.norm.isf(0.025)):
    """Independent route to the stratified score interval: brentq on each side of the estimate."""
    from scipy.optimize import brentq

    x, n, w = map(np.asarray, (x, n, weights))
    w = w / w.sum()
    p_h = x / n
    index = float(w @ p_h)

    def excess(candidate):
        moved = np.clip(p_h + candidate - index, 0, 1)
        return (index - candidate) ** 2 - z * z * np.sum(w * w * moved * (1 - moved) / n)

    # When the variance vanishes at the estimate (every stratum all- or none-satisfied) the
    # estimate itself is a root; the limits are the other roots, just beyond it.
    inner_low, inner_high = index - 1e-9 * (excess(index) == 0), index + 1e-9 * (excess(index) == 0)
    low = 0.0 if excess(0.0) <= 0 else brentq(excess, 0.0, inner_low, xtol=1e-15)
    high = 1.0 if excess(1.0) <= 0 else brentq(excess, inner_high, 1.0, xtol=1e-15)
    return index, low, high


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
    # The interval inverts the stratified variance Σ W² p(1 - p)/n_h, not a pooled p(1-p)/n_eff.
    for i in range(2):
        _, ref_low, ref_high = stratified_score_limits(x[i], n[i], [0.5, 0.5])
        assert (low[i], high[i]) == pytest.approx((ref_low, ref_high), abs=1e-12)
    # B's hard stratum is the big one: its interval is narrower than A's, which leans on 20.
    assert high[1] - low[1] < high[0] - low[0]


def test_post_stratified_interval_is_wilson_with_one_stratum():
    index, low, high, n_eff = post_stratified_index([[45], [0], [30]], [[50], [40], [30]])
    for i, (x, n) in enumerate(((45, 50), (0, 40), (30, 30))):
        assert (low[i], high[i]) == pytest.approx(proportion_confint(x, n, method="wilson"), abs=1e-12)
        assert n_eff[i] == n


def test_post_stratified_interval_keeps_its_width_when_strata_are_all_satisfied():
    # Plugging p_h = 1 into p(1 - p)/n would give a zero-width interval; the score form
    # evaluates the variance at the candidate limit instead.
    _, low, high, _ = post_stratified_index([[40, 60]], [[40, 60]], [0.5, 0.5])
    assert high == 1.0 and 0.9 < low < 0.98
    _, ref_low, _ = stratified_score_limits([40, 60], [40, 60], [0.5, 0.5])
    assert low == pytest.approx(ref_low, abs=1e-12)


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


def test_tiny_strata_are_collapsed():
    # Regression (issue 7): 30 easy cases all satisfied and 3 hard ones of which 0 satisfied,
    # reference 50/50, gave 0.535 from the 3-rating stratum. A stratum with fewer than 5
    # answers is not estimated on its own: alone it is left out (like an empty stratum) ...
    index, _, _, n_eff = post_stratified_index([[30, 0]], [[30, 3]], [0.5, 0.5])
    assert index[0] == pytest.approx(1.0) and n_eff[0] == pytest.approx(30)
    # ... and several tiny strata are pooled into one cell with their summed weight.
    x = [[40, 1, 2, 3]]
    n = [[50, 3, 4, 4]]
    mix = [0.4, 0.2, 0.2, 0.2]
    index, _, _, n_eff = post_stratified_index(x, n, mix)
    assert index[0] == pytest.approx(0.4 * 40 / 50 + 0.6 * 6 / 11)
    assert n_eff[0] == pytest.approx(1 / (0.4**2 / 50 + 0.6**2 / 11))
    # min_cell=1 turns the rule off.
    index, _, _, _ = post_stratified_index(x, n, mix, min_cell=1)
    assert index[0] == pytest.approx(0.4 * 0.8 + 0.2 * (1 / 3 + 2 / 4 + 3 / 4))


def test_design_effect_widens_the_post_stratified_interval():
    x, n = [[72, 12]], [[80, 20]]
    _, low, high, _ = post_stratified_index(x, n, [0.5, 0.5])
    _, wide_low, wide_high, _ = post_stratified_index(x, n, [0.5, 0.5], design_effect=2.0)
    assert wide_high - wide_low > 1.3 * (high - low)


@pytest.mark.parametrize("x, n", [
    ([[1, -1]], [[2, 2]]), ([[1, np.nan]], [[2, 2]]), ([[3, 1]], [[2, 2]]), ([[1, 1]], [[2, -2]]),
    ([[1.5, 1]], [[2, 2]]), ([[1, 1]], [[np.inf, 2]]),
])
def test_post_stratified_rejects_impossible_counts(x, n):
    with pytest.raises(ValueError):
        post_stratified_index(x, n)


def test_post_stratified_rejects_bad_mix():
    with pytest.raises(ValueError):
        post_stratified_index([[1, 1]], [[2, 2]], reference_mix=[1.0, -0.5])
    with pytest.raises(ValueError):
        post_stratified_index([[1, 1]], [[2, 2]], reference_mix=[1.0])
    with pytest.raises(ValueError):
        post_stratified_index([[1, 1]], [[2, 2]], reference_mix=[1.0, np.nan])
    with pytest.raises(ValueError):
        post_stratified_index([[1, 1]], [[2, 2]], min_cell=0)
