"""Figures that only known transactions make possible: response rate, on-time rate, and the
satisfaction rate as the national real-time index (Decision 766/QĐ-TTg) computes it.

The 766-compatible rate, per the formula sheet in circulation, is

    (all dossiers − dossiers rated dissatisfied, complained about or late) ÷ all dossiers,

so a dossier nobody rated counts as satisfied. It is a census figure over the dossiers returned in
the period, not an estimate from a sample: it carries no sampling interval. It differs from the
respondents' satisfaction index because silence counts as satisfaction and lateness as
dissatisfaction. Complaints are not known to this platform, so none are subtracted here (the rate is
then an upper bound in that respect).

Input: counts per unit × ``late`` × ``rated`` × ``dissatisfied`` (booleans) with a ``count`` column,
as SQL ``GROUP BY`` returns them. No Flask here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.indices import response_rate
from analysis.intervals import proportion_ci

TRANSACTION_COLUMNS = [
    "unit", "served", "responded", "response_rate", "response_rate_low", "response_rate_high",
    "late", "on_time_rate", "on_time_rate_low", "on_time_rate_high", "dissatisfied", "late_or_dissatisfied",
    "rate_766",
]
COLUMN_DESCRIPTIONS = {
    "served": "Dossiers whose result was returned in the period.",
    "responded": "Of those, dossiers rated through their single-use link (one rating each).",
    "response_rate": "responded ÷ served, with a 95 % Wilson interval (the period seen as one draw of the process).",
    "late": "Returned after their due time.",
    "on_time_rate": "(served − late) ÷ served, with a 95 % Wilson interval.",
    "dissatisfied": "Rated dissatisfied (below the middle of the overall question's scale).",
    "late_or_dissatisfied": "Late, rated dissatisfied, or both (each dossier once).",
    "rate_766": "(served − late_or_dissatisfied) ÷ served: the national index's formula; unrated counts as satisfied.",
}


def _check(counts: pd.DataFrame, by: str) -> pd.DataFrame:
    missing = {by, "late", "rated", "dissatisfied", "count"} - set(counts.columns)
    if missing:
        raise ValueError(f"transaction counts need the columns {sorted(missing)}")
    frame = counts.copy()
    for column in ("late", "rated", "dissatisfied"):
        frame[column] = frame[column].astype(bool)
    if (frame["dissatisfied"] & ~frame["rated"]).any():
        raise ValueError("a dossier cannot be rated dissatisfied without being rated")
    frame["count"] = frame["count"].astype("int64")
    if (frame["count"] < 0).any():
        raise ValueError("counts cannot be negative")
    return frame


def transaction_table(counts: pd.DataFrame, by: str = "unit", *, confidence: float = 0.95) -> pd.DataFrame:
    """One row per unit with the columns of :data:`TRANSACTION_COLUMNS` (``by`` renamed to ``unit``)."""
    frame = _check(counts, by)
    if frame.empty:
        return pd.DataFrame(columns=TRANSACTION_COLUMNS)
    frame = frame.assign(
        responded=frame["count"] * frame["rated"],
        late_n=frame["count"] * frame["late"],
        dissatisfied_n=frame["count"] * frame["dissatisfied"],
        either=frame["count"] * (frame["late"] | frame["dissatisfied"]),
    )
    sums = frame.groupby(by, sort=True)[["count", "responded", "late_n", "dissatisfied_n", "either"]].sum()
    served = sums["count"].to_numpy(dtype=float)
    rate, low, high = response_rate(sums["responded"].to_numpy(dtype=float), served, confidence=confidence)
    on_time = served - sums["late_n"].to_numpy(dtype=float)
    safe = np.where(served > 0, served, 1.0)
    on_rate, on_low, on_high = proportion_ci(np.where(served > 0, on_time, 0.0), np.where(served > 0, served, 0.0),
                                             method="wilson", confidence=confidence)
    table = pd.DataFrame({
        "unit": sums.index.to_list(),
        "served": sums["count"].to_numpy(),
        "responded": sums["responded"].to_numpy(),
        "response_rate": rate, "response_rate_low": low, "response_rate_high": high,
        "late": sums["late_n"].to_numpy(),
        "on_time_rate": np.where(served > 0, on_rate, np.nan),
        "on_time_rate_low": np.where(served > 0, on_low, np.nan),
        "on_time_rate_high": np.where(served > 0, on_high, np.nan),
        "dissatisfied": sums["dissatisfied_n"].to_numpy(),
        "late_or_dissatisfied": sums["either"].to_numpy(),
        "rate_766": np.where(served > 0, (served - sums["either"].to_numpy(dtype=float)) / safe, np.nan),
    })
    return table[TRANSACTION_COLUMNS]
