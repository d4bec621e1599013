"""Did a unit improve or decline since the previous period?

Each unit's change is estimated with Newcombe's interval, but the published flag
("improved" / "declined") also has to survive false-discovery-rate control across all units
compared: with 100 units and a per-unit 5 % test, some unit "changes" in almost every period
even when nothing changed anywhere (99 % of such tables did before this module). A note of
regression to the mean goes with the table: units that were far from the average last period
tend to come back towards it this period without any real change.

Sources
-------
* Newcombe RG (1998). Interval estimation for the difference between independent
  proportions: comparison of eleven methods. Stat Med 17:873-890.
* Benjamini Y, Hochberg Y (1995). J R Stat Soc B 57:289-300.
* Barnett AG, van der Pols JC, Dobson AJ (2005). Regression to the mean: what it is and how
  to deal with it. Int J Epidemiol 34:215-220.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.funnel import INSUFFICIENT_DATA, _as_1d, _broadcast
from analysis.intervals import DIFFERENCE_METHODS, _check_confidence, _proportion_limits
from analysis.multiplicity import benjamini_hochberg

__all__ = [
    "IMPROVED",
    "DECLINED",
    "NO_CLEAR_CHANGE",
    "INSUFFICIENT_DATA",
    "REGRESSION_TO_THE_MEAN",
    "change_flags",
]

#: Change flag: more satisfied than in the previous period (after FDR control).
IMPROVED = "improved"
#: Change flag: less satisfied than in the previous period (after FDR control).
DECLINED = "declined"
#: Change flag: no change the data can distinguish from chance.
NO_CLEAR_CHANGE = "no clear change"

#: The note published beside the change columns.
REGRESSION_TO_THE_MEAN = (
    "Regression to the mean: a unit that was unusually high or low in the previous period "
    "partly because of chance will tend to move back towards the average in this one, with no "
    "real change. Flags count only changes that survive false-discovery-rate control across "
    "all units compared; 'rtm_persistence' is the share of a unit's distance from the average "
    "expected to persist from one period to the next by the shrinkage model."
)


def change_flags(
    x_now, n_now, x_prev, n_prev, *, confidence=0.95, method="newcombe", fdr=0.05
) -> pd.DataFrame:
    """Change in each unit's satisfied share since the previous period.

    ``x`` and ``n`` may be effective (non-integer) counts — index × n_eff and n_eff for
    clustered ratings — so that both the interval and the test account for the design effect.

    * ``difference`` = p_now - p_prev, with ``low``/``high`` from
      Newcombe's (1998, method 10) hybrid score interval (``"newcombe"``) or its
      continuity-corrected version (``"newcombe-cc"``), the two periods treated as
      independent samples;
    * ``p_value``: the two-sided score test of "no change", z = (p_now - p_prev) /
      sqrt(p̄(1 - p̄)(1/n_now + 1/n_prev)) with p̄ the pooled share (Pearson's χ² without
      continuity correction); 1 when p̄ is 0 or 1;
    * ``q_value``: Benjamini-Hochberg over the units compared;
    * ``change``: ``"improved"`` / ``"declined"`` when ``q_value <= fdr`` (by the sign of the
      difference), ``"no clear change"`` otherwise, ``"insufficient data"`` when either period
      has no answers or is missing (NaN). With ``fdr=None`` the flag follows the per-unit
      interval instead (low > 0 improved, high < 0 declined), with no multiplicity control.

    The per-unit interval is a 95 % interval for that unit alone; the flag also accounts for
    how many units were compared, so a unit whose interval just excludes 0 may still show
    "no clear change".
    """
    if method not in DIFFERENCE_METHODS:
        choices = ", ".join(DIFFERENCE_METHODS)
        raise ValueError(f"unknown method {method!r}; choose one of: {choices}")
    level = _check_confidence(confidence)
    if fdr is not None:
        fdr = _check_confidence(fdr, "fdr")
    arrays = {
        name: _as_1d(name, value)
        for name, value in (
            ("x_now", x_now), ("n_now", n_now), ("x_prev", x_prev), ("n_prev", n_prev)
        )
    }
    x1, m1, x2, m2 = _broadcast(**arrays)
    missing = np.isnan(x1) | np.isnan(m1) | np.isnan(x2) | np.isnan(m2)
    x1, m1, x2, m2 = (np.where(missing, 0.0, a) for a in (x1, m1, x2, m2))
    if np.any(np.isinf(np.column_stack([x1, m1, x2, m2]))):
        raise ValueError("counts must be finite")
    if np.any((x1 < 0) | (x2 < 0) | (x1 > m1) | (x2 > m2)):
        raise ValueError("counts must satisfy 0 <= x <= n in both periods")
    compared = (m1 > 0) & (m2 > 0)
    single = "wilson" if method == "newcombe" else "wilson-cc"
    p1, l1, u1 = _proportion_limits(x1, m1, single, level, None)
    p2, l2, u2 = _proportion_limits(x2, m2, single, level, None)
    difference = p1 - p2
    low = np.clip(difference - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), -1.0, 1.0)
    high = np.clip(difference + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2), -1.0, 1.0)

    safe1, safe2 = np.where(compared, m1, 1.0), np.where(compared, m2, 1.0)
    pooled = np.where(compared, (x1 + x2) / (safe1 + safe2), 0.0)
    spread = np.sqrt(pooled * (1.0 - pooled) * (1.0 / safe1 + 1.0 / safe2))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(spread > 0, difference / np.where(spread > 0, spread, 1.0), 0.0)
    p_value = np.where(compared, np.minimum(1.0, 2.0 * stats.norm.sf(np.abs(z))), np.nan)
    q_value = benjamini_hochberg(p_value)

    if fdr is None:
        flag = np.where(low > 0.0, IMPROVED, np.where(high < 0.0, DECLINED, NO_CLEAR_CHANGE))
    else:
        significant = q_value <= fdr
        flag = np.where(significant & (difference > 0), IMPROVED,
                        np.where(significant & (difference < 0), DECLINED, NO_CLEAR_CHANGE))
    change = np.where(compared, flag, INSUFFICIENT_DATA).astype(object)
    nan = np.nan
    x_now_out, n_now_out, x_prev_out, n_prev_out = _broadcast(**arrays)
    return pd.DataFrame(
        {
            "x_now": x_now_out,
            "n_now": n_now_out,
            "x_prev": x_prev_out,
            "n_prev": n_prev_out,
            "difference": np.where(compared, difference, nan),
            "low": np.where(compared, low, nan),
            "high": np.where(compared, high, nan),
            "p_value": p_value,
            "q_value": q_value,
            "change": change,
        }
    )
