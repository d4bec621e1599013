"""False-discovery-rate control for verdicts published across a whole table.

A table of 200 units tested at 5 % each names about ten "unusual" units when none is: every
verdict the product publishes across many units (above/below expected, improved/declined)
goes through :func:`benjamini_hochberg` first (Jones, Ohlssen & Spiegelhalter 2008 recommend
exactly this for institutional comparisons).

Sources
-------
* Benjamini Y, Hochberg Y (1995). Controlling the false discovery rate: a practical and
  powerful approach to multiple testing. J R Stat Soc B 57:289-300.
* Benjamini Y, Yekutieli D (2001). The control of the false discovery rate in multiple
  testing under dependency. Ann Stat 29:1165-1188 (validity under positive dependence).
* Jones HE, Ohlssen DI, Spiegelhalter DJ (2008). Use of the false discovery rate when
  comparing multiple health care providers. J Clin Epidemiol 61:232-240.
"""

from __future__ import annotations

import numpy as np

__all__ = ["benjamini_hochberg"]


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values ("q-values"); NaN entries are not tests.

    With m finite p-values sorted p_(1) <= ... <= p_(m),

        q_(i) = min_{j >= i} min(1, m · p_(j) / j),

    and rejecting every hypothesis with q <= α keeps the expected share of false verdicts
    among all verdicts at most α (for independent or positively dependent tests). Under the
    global null (no unit differs) that is also the chance of naming any unit at all.
    NaN p-values (units not compared) are returned as NaN and do not count in m.
    """
    p = np.asarray(p_values, dtype=float)
    q = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = tested.size
    if m == 0:
        return q
    values = p.reshape(-1)[tested]
    if np.any((values < 0) | (values > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    order = np.argsort(values, kind="stable")
    scaled = values[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = adjusted
    q.reshape(-1)[tested] = out
    return q
