"""The per-dossier evaluation of Circular 01/2018/TT-VPCP (analysis.dossier) on a worked example whose
expected values are computed by hand below from the rules: index score = mean over dossiers, one decimal;
staff total = 1+2+3+4+7 out of 10 (>= 5 -> 100 % of tasks, 3.5-<5 -> 70-<100 %, < 3.5 -> < 70 %); unit
total = all nine out of 18 (>= 15 xuất sắc, 12-<15 tốt, 9-<12 khá, 6-<9 trung bình, < 6 yếu)."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from analysis.dossier import (
    C01_INDICES, FROM_TRANSACTIONS, STAFF_INDICES, UNIT_ENTERED, index_scores, mean_one_decimal,
    points_against_limit, staff_totals, unit_totals,
)

N = math.nan
COLUMNS = ["unit", "officer", "index_1", "index_2", "index_3", "index_4", "index_7"]
DOSSIERS = pd.DataFrame([
    # unit  officer  1  2  3  4  7
    ("U1", "A", 2, 2, 2, 2, 2),    # d1
    ("U1", "A", 1, 1, 2, 1, 2),    # d2
    ("U1", "A", 0, 0, 1, 2, 1),    # d3
    ("U1", "B", 2, 1, 0, 0, 1),    # d4
    ("U1", "B", N, 2, N, N, N),    # d5 not rated: only index 2, from its times
    ("U1", "B", 1, N, 1, 1, 0),    # d6 no due time: index 2 not computable
    ("U1", "C", 0, 0, 0, 1, 2),    # d7
    ("U1", "C", 1, 0, 0, 1, 1),    # d8
    ("U2", "D", 2, 2, 2, 2, 2),    # d9
], columns=COLUMNS)
UNIT_SCORES = pd.DataFrame([("U1", 2, 2, 1, 1), ("U2", 2, 2, 2, 1), ("U3", 2, 1, 1, N)],
                           columns=["unit", "index_5", "index_6", "index_8", "index_9"])


def test_the_indices_and_who_gives_their_points():
    assert [i.number for i in C01_INDICES] == list(range(1, 10))
    assert [i.number for i in C01_INDICES if i.source == "citizen"] == [1, 3, 4, 7]
    assert FROM_TRANSACTIONS == ("index_2",)
    assert UNIT_ENTERED == ("index_5", "index_6", "index_8", "index_9")
    assert STAFF_INDICES == ("index_1", "index_2", "index_3", "index_4", "index_7")
    # What is not computable from transactions is said plainly, in both languages.
    assert all(i.how_vi and i.how_en for i in C01_INDICES if i.source != "citizen")


def test_one_decimal_half_up_exactly():
    # 5/4 = 1.25 -> 1.3 (Python's round gives 1.2); 3/20 = 0.15 -> 0.2 (0.15 is 0.1499... as a float);
    # 5/3 = 1.67 -> 1.7; 6/7 = 0.857 -> 0.9; 0/3 -> 0.0; no dossier -> empty.
    assert mean_one_decimal([5, 3, 5, 6, 0], [4, 20, 3, 7, 3]).tolist() == [1.3, 0.2, 1.7, 0.9, 0.0]
    assert math.isnan(mean_one_decimal(0, 0))


def test_points_against_the_limit_by_day():
    returned = [date(2026, 3, 4), date(2026, 3, 5), date(2026, 3, 6), None, date(2026, 3, 5)]
    due = [date(2026, 3, 5), date(2026, 3, 5), date(2026, 3, 5), date(2026, 3, 5), None]
    points = points_against_limit(returned, due)
    assert points[:3].tolist() == [2.0, 1.0, 0.0]      # earlier, on the day, later
    assert np.isnan(points[3:]).all()                 # not returned, or no limit: not computable


def test_staff_totals_worked_example():
    table = staff_totals(DOSSIERS).set_index("officer")
    # A: index 1 (2+1+0)/3 = 1.0; 2 (2+1+0)/3 = 1.0; 3 (2+2+1)/3 = 1.67 -> 1.7; 4 (2+1+2)/3 -> 1.7;
    #    7 (2+2+1)/3 -> 1.7; total 1.0+1.0+1.7+1.7+1.7 = 7.1 >= 5: 100 % of tasks.
    a = table.loc["A"]
    assert [a[k] for k in STAFF_INDICES] == [1.0, 1.0, 1.7, 1.7, 1.7]
    assert a["total"] == pytest.approx(7.1) and a["band"] == "tasks_100"
    assert [a[f"{k}_n"] for k in STAFF_INDICES] == [3, 3, 3, 3, 3] and a["dossiers"] == 3
    # B: index 1 (2+1)/2 = 1.5; 2 (1+2)/2 = 1.5 (d6 has none); 3 (0+1)/2 = 0.5; 4 (0+1)/2 = 0.5;
    #    7 (1+0)/2 = 0.5; total 4.5: 3.5-<5, 70 % to under 100 %.
    b = table.loc["B"]
    assert [b[k] for k in STAFF_INDICES] == [1.5, 1.5, 0.5, 0.5, 0.5]
    assert [b[f"{k}_n"] for k in STAFF_INDICES] == [2, 2, 2, 2, 2] and b["dossiers"] == 3
    assert b["total"] == pytest.approx(4.5) and b["band"] == "tasks_70_100"
    # C: index 1 (0+1)/2 = 0.5; 2 0.0; 3 0.0; 4 1.0; 7 (2+1)/2 = 1.5; total 3.0 < 3.5: under 70 %.
    c = table.loc["C"]
    assert [c[k] for k in STAFF_INDICES] == [0.5, 0.0, 0.0, 1.0, 1.5]
    assert c["total"] == pytest.approx(3.0) and c["band"] == "tasks_below_70"
    # The interval is over dossiers scored on all five: A's per-dossier totals 10, 7, 4 (mean 7).
    assert a["complete_n"] == 3 and a["mean_total_low"] < 7 < a["mean_total_high"] <= 10
    assert b["complete_n"] == 1   # d4 only: d5 was not rated and d6 has no index 2


@pytest.mark.parametrize("total, band", [(5.0, "tasks_100"), (4.9, "tasks_70_100"), (3.5, "tasks_70_100"),
                                         (3.4, "tasks_below_70")])
def test_staff_band_edges(total, band):
    from analysis.dossier import STAFF_BANDS
    from analysis.indices import grade_band

    assert grade_band(total, STAFF_BANDS) == band


def test_unit_totals_worked_example():
    table = unit_totals(DOSSIERS, UNIT_SCORES).set_index("unit")
    u1 = table.loc["U1"]
    # Over U1's eight dossiers: index 1 (2+1+0+2+1+0+1)/7 = 1.0; 2 (2+1+0+1+2+0+0)/7 = 0.857 -> 0.9;
    # 3 (2+2+1+0+1+0+0)/7 = 0.857 -> 0.9; 4 (2+1+2+0+1+1+1)/7 = 1.14 -> 1.1; 7 (2+2+1+1+0+2+1)/7 = 1.29 -> 1.3.
    assert [u1[f"index_{k}"] for k in (1, 2, 3, 4, 7)] == [1.0, 0.9, 0.9, 1.1, 1.3]
    assert [u1[f"index_{k}_n"] for k in (1, 2, 3, 4, 7)] == [7, 7, 7, 7, 7]
    # Entered: 5 = 2, 6 = 2, 8 = 1, 9 = 1. Total 1.0+0.9+0.9+1.1+1.3+2+2+1+1 = 11.2: 9-<12 khá.
    assert u1["total"] == pytest.approx(11.2) and u1["band"] == "fair" and u1["missing"] == []
    u2 = table.loc["U2"]
    # U2: one dossier with 2 everywhere (10) + 2 + 2 + 2 + 1 = 17 >= 15: xuất sắc.
    assert u2["total"] == pytest.approx(17.0) and u2["band"] == "excellent"
    u3 = table.loc["U3"]
    # U3: no dossier and no index 9. Art. 15(4)(b): an index without enough information is left out of
    # the total (not counted as zero): 5 = 2, 6 = 1, 8 = 1, total 4 < 6: yếu; the six left out are named.
    assert u3["total"] == pytest.approx(4.0) and u3["band"] == "weak"
    assert u3["missing"] == [1, 2, 3, 4, 7, 9]
    assert u1["missing"] == [] and u2["missing"] == []


def test_a_total_with_no_scored_index_is_empty():
    nothing = pd.DataFrame([("U9", "E", N, N, N, N, N)], columns=COLUMNS)
    unit = unit_totals(nothing).set_index("unit").loc["U9"]
    assert math.isnan(unit["total"]) and pd.isna(unit["band"])
    assert unit["missing"] == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    staff = staff_totals(nothing).set_index("officer").loc["E"]
    assert math.isnan(staff["total"]) and staff["missing"] == [1, 2, 3, 4, 7]


def test_staff_total_leaves_out_an_index_without_a_score():
    # Officer F: two dossiers rated by the citizen, neither with a due time, so index 2 has no score.
    # Index 1 (2+2)/2 = 2.0, 3 (1+2)/2 = 1.5, 4 (2+2)/2 = 2.0, 7 (1+1)/2 = 1.0: total 6.5 (index 2 left
    # out, Art. 15(4)(b)) >= 5: 100 % of tasks.
    frame = pd.DataFrame([("U1", "F", 2, N, 1, 2, 1), ("U1", "F", 2, N, 2, 2, 1)], columns=COLUMNS)
    f = staff_totals(frame).set_index("officer").loc["F"]
    assert f["total"] == pytest.approx(6.5) and f["band"] == "tasks_100" and f["missing"] == [2]


def test_points_outside_0_to_2_are_refused():
    bad = DOSSIERS.assign(index_3=DOSSIERS["index_3"].replace(0, 3))
    with pytest.raises(ValueError, match="index_3"):
        index_scores(bad)
    with pytest.raises(ValueError, match="index_9"):
        unit_totals(DOSSIERS, UNIT_SCORES.assign(index_9=5))
