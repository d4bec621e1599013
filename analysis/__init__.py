"""Statistics for citizen-satisfaction data: intervals, indices and fair comparisons.

This package never imports Flask. It works on pandas DataFrames, count arrays and plain
numbers, so an analyst can use it on an open-data download::

    import analysis
    analysis.proportion_ci(412, 480)                      # (0.858, 0.824, 0.887) Wilson 95 %
    table = analysis.satisfaction_table(counts, by=["unit"], period="2026-Q3",
                                        previous_period="2026-Q2", cluster="cluster")
    analysis.funnel_curve(table, range(1, 2001))          # the bands the funnel plot draws

See ``docs/methodology.md`` for every formula.
"""

from analysis.change import DECLINED, IMPROVED, NO_CLEAR_CHANGE, REGRESSION_TO_THE_MEAN, change_flags
from analysis.clusters import ClusterDesign, cluster_design
from analysis.funnel import (
    ABOVE,
    BELOW,
    COMPARISON_VALUES,
    FDR_LEVEL,
    INSUFFICIENT,
    INSUFFICIENT_DATA,
    WITHIN,
    adjusted_funnel_limits,
    beta_binomial_tails,
    funnel_curve,
    funnel_flags,
    funnel_limits,
    overdispersion,
)
from analysis.indices import (
    DOSSIER_BANDS,
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
from analysis.intervals import difference_ci, mean_ci, mean_ci_from_counts, proportion_ci, z_value
from analysis.multiplicity import benjamini_hochberg
from analysis.ranks import rank_intervals
from analysis.shrinkage import beta_binomial_shrinkage, fit_hyperprior
from analysis.transactions import TRANSACTION_COLUMNS, transaction_table
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

__all__ = [
    "ABOVE", "BELOW", "CHANGE_COLUMNS", "COLUMN_DESCRIPTIONS", "COMPARISON_VALUES", "ClusterDesign",
    "DECLINED", "DOSSIER_BANDS", "FDR_LEVEL", "GradeBand", "IMPROVED", "INSUFFICIENT",
    "INSUFFICIENT_DATA", "NO_CLEAR_CHANGE", "REGRESSION_TO_THE_MEAN", "STRATA_COLUMNS", "Scale",
    "TABLE_COLUMNS", "TRANSACTION_COLUMNS", "WITHIN", "adjusted_funnel_limits", "benjamini_hochberg",
    "beta_binomial_shrinkage", "beta_binomial_tails", "change_flags", "cluster_design",
    "criterion_table", "difference_ci", "distribution_columns", "dossier_total", "fit_hyperprior",
    "funnel_curve", "funnel_flags", "funnel_limits", "grade_band", "kish_effective_n", "mean_ci",
    "mean_ci_from_counts", "mean_score", "nonresponse_bounds", "overdispersion", "parse_period",
    "period_before", "period_label", "post_stratified_index", "proportion_ci", "rank_intervals",
    "response_rate", "satisfaction_index", "satisfaction_table", "satisfied_count", "score_100",
    "transaction_table", "z_value",
]
