"""Statistics for citizen-satisfaction data: intervals, indices and fair comparisons.

This package never imports Flask. It works on pandas DataFrames, count arrays and plain
numbers, so an analyst can use it on an open-data download::

    import analysis
    analysis.proportion_ci(412, 480)                      # (0.858, 0.824, 0.887) Wilson 95 %
    analysis.satisfaction_table(counts, by=["unit"], period="2026-Q3", previous_period="2026-Q2")

See ``docs/methodology.md`` for every formula.
"""

from analysis.comparison import (
    ABOVE,
    BELOW,
    DECLINED,
    IMPROVED,
    INSUFFICIENT_DATA,
    NO_CLEAR_CHANGE,
    WITHIN,
    adjusted_funnel_limits,
    beta_binomial_shrinkage,
    change_flags,
    funnel_flags,
    funnel_limits,
    overdispersion,
    rank_intervals,
)
from analysis.indices import (
    DOSSIER_BANDS,
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
from analysis.intervals import difference_ci, mean_ci, mean_ci_from_counts, proportion_ci, z_value
from analysis.table import criterion_table, parse_period, period_before, period_label, satisfaction_table

__all__ = [
    "ABOVE", "BELOW", "DECLINED", "DOSSIER_BANDS", "GradeBand", "IMPROVED", "INSUFFICIENT_DATA",
    "NO_CLEAR_CHANGE", "Scale", "WITHIN", "adjusted_funnel_limits", "beta_binomial_shrinkage",
    "change_flags", "criterion_table", "difference_ci", "dossier_total", "funnel_flags", "funnel_limits",
    "grade_band", "kish_effective_n", "mean_ci", "mean_ci_from_counts", "mean_score", "overdispersion",
    "parse_period", "period_before", "period_label", "post_stratified_index", "proportion_ci",
    "rank_intervals", "response_rate", "satisfaction_index", "satisfaction_table", "satisfied_count",
    "score_100", "z_value",
]
