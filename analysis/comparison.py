"""Fair comparison of units: one import for the funnel, ranks, shrinkage and change.

League tables rank units (counters, offices, districts) by their observed satisfaction share
and so reward luck. The comparisons the product publishes instead live in one module per
topic; this module gathers them so ``from analysis.comparison import ...`` keeps working:

* :mod:`analysis.funnel` — exact tail probabilities against a target under the
  over-dispersion-adjusted null, funnel bands, FDR-controlled verdicts, over-dispersion
  (DerSimonian-Laird τ²) and the funnel curves the plot draws;
* :mod:`analysis.ranks` — rank intervals from the hierarchical beta-binomial posterior, with
  their Monte Carlo error;
* :mod:`analysis.shrinkage` — empirical-Bayes shrinkage whose intervals carry the prior's own
  uncertainty (a hyperprior integrated on a grid);
* :mod:`analysis.change` — change since the previous period, FDR-controlled;
* :mod:`analysis.multiplicity` — Benjamini-Hochberg;
* :mod:`analysis.clusters` — design effects and Korn-Graubard effective sample sizes.

"Above" and "improved" mean *more* satisfied citizens.
"""

from analysis.change import (
    DECLINED,
    IMPROVED,
    NO_CLEAR_CHANGE,
    REGRESSION_TO_THE_MEAN,
    change_flags,
)
from analysis.clusters import ClusterDesign, cluster_design
from analysis.funnel import (
    ABOVE,
    ADJUSTMENTS,
    BELOW,
    COMPARISON_VALUES,
    DEFAULT_LEVELS,
    FDR_LEVEL,
    INSUFFICIENT,
    INSUFFICIENT_DATA,
    WITHIN,
    Overdispersion,
    adjusted_funnel_limits,
    beta_binomial_tails,
    funnel_curve,
    funnel_flags,
    funnel_limits,
    overdispersion,
)
from analysis.multiplicity import benjamini_hochberg
from analysis.ranks import rank_intervals
from analysis.shrinkage import (
    HyperPosterior,
    beta_binomial_log_likelihood,
    beta_binomial_shrinkage,
    fit_hyperprior,
)

__all__ = [
    "ABOVE", "WITHIN", "BELOW", "INSUFFICIENT", "INSUFFICIENT_DATA", "COMPARISON_VALUES",
    "IMPROVED", "DECLINED", "NO_CLEAR_CHANGE", "REGRESSION_TO_THE_MEAN", "ADJUSTMENTS",
    "DEFAULT_LEVELS", "FDR_LEVEL", "ClusterDesign", "HyperPosterior", "Overdispersion",
    "adjusted_funnel_limits", "benjamini_hochberg", "beta_binomial_log_likelihood",
    "beta_binomial_shrinkage", "beta_binomial_tails", "change_flags", "cluster_design",
    "fit_hyperprior", "funnel_curve", "funnel_flags", "funnel_limits", "overdispersion",
    "rank_intervals",
]
