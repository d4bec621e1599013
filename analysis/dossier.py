"""The per-dossier evaluation of Circular 01/2018/TT-VPCP (Art. 13–15), kept as the legal basis until
a replacement is published (Decree 118/2025/NĐ-CP and Circular 03/2025/TT-VPCP govern the one-stop
mechanism since 1 July 2025 but have not replaced this scoring).

Nine indices, each scored 2, 1 or 0 points:

* 1, 3, 4, 7 are asked of the citizen, per dossier (the ``dossier`` questionnaire, version 3, with the
  circular's own wording for 2, 1 and 0 points, :mod:`analysis.scales`);
* 2 is computed per dossier from the times the one-stop system sends;
* 5, 6, 8, 9 are scored per unit: 5 from inspection, 6, 8, 9 from data the platform does not
  receive, so all four are entered per unit (:data:`UNIT_ENTERED`).

An index's score is the mean of its points over the dossiers that have them, to one decimal
(half up, computed exactly from the integer sums). A staff member's total is 1+2+3+4+7 (out of 10)
with the task-completion bands of :data:`STAFF_BANDS`; a unit's total is all nine (out of 18) with
:data:`UNIT_BANDS`. As Art. 15(4)(b) says, an index without enough information to be scored is left
out of the total ("không tính chỉ số đó trong tổng hợp"): the total is the sum of the indices that
have a score, ``missing`` names the others, and a total with no scored index at all is empty (NaN).
A missing index never counts as zero. No Flask here.

The wording (titles and point levels) was checked word for word on 2026-11-24 against the national
legal codification (Pháp điển, Điều 3.3.TT.34.13–15 = Art. 13–15 of the circular, in force from
6 January 2019); see ``analysis.scales.C01_CHECKED`` and docs/methodology.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.indices import DOSSIER_BANDS, GradeBand, grade_band
from analysis.intervals import mean_ci
from analysis.scales import C01

__all__ = [
    "C01_INDICES", "CITIZEN", "FROM_TRANSACTIONS", "IndexDefinition", "LEGAL_BASIS", "STAFF_BANDS",
    "STAFF_INDICES", "UNIT_BANDS", "UNIT_ENTERED", "index_scores", "mean_one_decimal", "points_against_limit",
    "staff_totals", "unit_totals",
]

LEGAL_BASIS = C01
#: Version of this scoring in the product; a change of rules is a new version, never an edit.
SCORING_VERSION = "C01-2018/1"

CITIZEN, TRANSACTIONS, UNIT = "citizen", "transactions", "unit"


@dataclass(frozen=True)
class IndexDefinition:
    number: int
    #: Column name in the tables below, and question key in the ``dossier`` questionnaire.
    key: str
    title_vi: str
    title_en: str
    #: Who gives the points: the citizen, the registered transactions, or the unit (entered).
    source: str
    #: The answer scale (``analysis.scales``) of a citizen-answered index.
    scale: str | None = None
    #: How the points are obtained when not asked, said plainly.
    how_vi: str = ""
    how_en: str = ""


#: Titles as Art. 13 words them (checked 2026-11-24, see the module's docstring).
C01_INDICES: tuple[IndexDefinition, ...] = (
    IndexDefinition(1, "index_1",
                    "Tổng thời gian giải quyết thủ tục hành chính so với thời gian cho phép theo quy định của "
                    "pháp luật",
                    "Total handling time against the time allowed by law", CITIZEN, "c01-2018-index-1"),
    IndexDefinition(2, "index_2",
                    "Thời gian thực hiện của từng cơ quan, đơn vị tham gia giải quyết (kể cả đơn vị phối hợp) so với "
                    "quy định",
                    "Time taken by each agency or unit involved (cooperating units included) against its limit",
                    TRANSACTIONS,
                    how_vi="Tính từ thời điểm trả kết quả và hạn giải quyết của hồ sơ mà hệ thống một cửa gửi "
                           "(trước hạn 2, đúng ngày hạn 1, quá hạn 0). Hệ thống chỉ gửi thời gian của cả hồ sơ, "
                           "không gửi thời gian tại từng cơ quan: điểm này chỉ đúng khi một cơ quan giải quyết hồ sơ.",
                    how_en="From the returned and due times the one-stop system sends (before the due date 2, on it "
                           "1, after it 0). Only the whole dossier's times are sent, not each agency's: the score is "
                           "exact only where one agency handled the dossier."),
    IndexDefinition(3, "index_3",
                    "Số lần phải liên hệ với nơi tiếp nhận hồ sơ để hoàn thiện hồ sơ thủ tục hành chính (kể cả liên "
                    "hệ theo hình thức trực tuyến)",
                    "Number of contacts with the receiving office needed to complete the dossier (online "
                    "contacts included)", CITIZEN, "c01-2018-index-3"),
    IndexDefinition(4, "index_4",
                    "Số lượng cơ quan, đơn vị, tổ chức phải liên hệ để hoàn thiện hồ sơ thủ tục hành chính (kể cả "
                    "liên hệ theo hình thức trực tuyến)",
                    "Number of agencies, units or organisations contacted to complete the dossier (online "
                    "contacts included)", CITIZEN, "c01-2018-index-4"),
    IndexDefinition(5, "index_5",
                    "Thực hiện tổ chức tiếp nhận hồ sơ, giải quyết, trả kết quả tại Bộ phận Một cửa",
                    "Dossier received, handled and its result returned at the one-stop unit", UNIT,
                    how_vi="Nhập cho từng đơn vị theo kết quả kiểm tra.",
                    how_en="Entered per unit from inspection."),
    IndexDefinition(6, "index_6", "Công khai các thủ tục hành chính", "Publicity of the administrative procedures",
                    UNIT,
                    how_vi="Nhập cho từng đơn vị: hệ thống một cửa không gửi dữ liệu về việc công khai.",
                    how_en="Entered per unit: the one-stop system sends no data on publicity."),
    IndexDefinition(7, "index_7",
                    "Thái độ của cán bộ, công chức, viên chức khi hướng dẫn lập hồ sơ, tiếp nhận hồ sơ và giải quyết "
                    "thủ tục hành chính",
                    "Attitude of the staff when guiding the applicant, receiving the dossier and handling the "
                    "procedure", CITIZEN, "c01-2018-index-7"),
    IndexDefinition(8, "index_8",
                    "Tiếp thu, giải trình đối với các ý kiến phản ánh, kiến nghị của tổ chức, cá nhân",
                    "Receiving and answering feedback and petitions", UNIT,
                    how_vi="Nhập cho từng đơn vị: hệ thống một cửa không gửi dữ liệu về phản ánh, kiến nghị.",
                    how_en="Entered per unit: the one-stop system sends no data on feedback and petitions."),
    IndexDefinition(9, "index_9",
                    "Tiến độ và chất lượng cung cấp dịch vụ công trực tuyến của cơ quan có thẩm quyền",
                    "Progress and quality of the competent agency's online public services", UNIT,
                    how_vi="Nhập cho từng đơn vị: hệ thống một cửa không gửi dữ liệu về dịch vụ công trực tuyến.",
                    how_en="Entered per unit: the one-stop system sends no data on online services."),
)
INDEX_BY_NUMBER = {i.number: i for i in C01_INDICES}
#: The answer scales whose wording counts towards each citizen-answered index: the circular's own
#: (version 3), and for indices 1 and 3 also version 2's, whose levels said the same. Version 2's
#: index 4 (lower levels) and 7 were worded otherwise: those answers are not counted; nor is version 1.
COUNTED_SCALES: dict[str, tuple[str, ...]] = {
    "index_1": ("c01-2018-index-1", "c01-index-1"),
    "index_3": ("c01-2018-index-3", "c01-index-3"),
    "index_4": ("c01-2018-index-4",),
    "index_7": ("c01-2018-index-7",),
}
#: Indices scored per dossier (asked or computed), in order.
PER_DOSSIER = tuple(i.key for i in C01_INDICES if i.source != UNIT)
CITIZEN_INDICES = tuple(i for i in C01_INDICES if i.source == CITIZEN)
FROM_TRANSACTIONS = tuple(i.key for i in C01_INDICES if i.source == TRANSACTIONS)
UNIT_ENTERED = tuple(i.key for i in C01_INDICES if i.source == UNIT)
#: A staff member's total: indices 1 + 2 + 3 + 4 + 7, out of 10.
STAFF_INDICES = ("index_1", "index_2", "index_3", "index_4", "index_7")
ALL_INDICES = tuple(i.key for i in C01_INDICES)

#: Staff total (out of 10) → share of tasks completed: ≥ 5 → 100 %, 3.5–< 5 → 70–< 100 %, < 3.5 → < 70 %.
STAFF_BANDS: tuple[GradeBand, ...] = (
    GradeBand(5, "tasks_100", "Hoàn thành 100% nhiệm vụ", "100 % of tasks completed"),
    GradeBand(3.5, "tasks_70_100", "Hoàn thành từ 70% đến dưới 100% nhiệm vụ",
              "70 % to under 100 % of tasks completed"),
    GradeBand(-np.inf, "tasks_below_70", "Hoàn thành dưới 70% nhiệm vụ", "Under 70 % of tasks completed"),
)
#: Unit total (out of 18): ≥ 15 xuất sắc, 12–< 15 tốt, 9–< 12 khá, 6–< 9 trung bình, < 6 yếu.
UNIT_BANDS = DOSSIER_BANDS


def mean_one_decimal(points_sum, n):
    """``points_sum / n`` rounded half up to one decimal, exactly (integer arithmetic); NaN where n is 0."""
    points_sum = np.asarray(points_sum, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    safe = np.where(n > 0, n, 1)
    tenths = (20 * points_sum + safe) // (2 * safe)  # floor(10·sum/n + 1/2)
    return np.where(n > 0, tenths / 10.0, np.nan)


def points_against_limit(done, limit):
    """2 when ``done`` falls before ``limit``, 1 on it, 0 after it; NaN where either is missing.

    Give dates (e.g. the Vietnam-time dates of return and due) to compare by day, as the forms do."""
    done = pd.to_datetime(pd.Series(done), errors="coerce")
    limit = pd.to_datetime(pd.Series(limit), errors="coerce")
    points = np.select([done < limit, done == limit, done > limit], [2.0, 1.0, 0.0], default=np.nan)
    return np.where(done.isna().to_numpy() | limit.isna().to_numpy(), np.nan, points)


def _check_points(frame: pd.DataFrame, columns) -> None:
    for column in columns:
        values = frame[column].dropna().to_numpy(dtype=float)
        if values.size and (~np.isin(values, (0.0, 1.0, 2.0))).any():
            raise ValueError(f"{column}: points must be 0, 1 or 2 (or empty)")


def index_scores(dossiers: pd.DataFrame, by: str = "unit", indices=PER_DOSSIER) -> pd.DataFrame:
    """Per ``by`` group: for each index ``k``, ``k`` (mean points, one decimal) and ``k_n`` (dossiers scored).

    ``dossiers`` has one row per dossier with the column ``by`` and the index columns (0, 1, 2 or NaN)."""
    indices = [k for k in indices if k in dossiers.columns]
    _check_points(dossiers, indices)
    if dossiers.empty:
        return pd.DataFrame(columns=[by, *[c for k in indices for c in (k, f"{k}_n")]])
    scored = dossiers[indices].notna()
    sums = dossiers[indices].fillna(0).astype("int64").groupby(dossiers[by], sort=True).sum()
    counts = scored.groupby(dossiers[by], sort=True).sum()
    table = pd.DataFrame({by: sums.index.to_list()})
    for k in indices:
        table[k] = mean_one_decimal(sums[k].to_numpy(), counts[k].to_numpy())
        table[f"{k}_n"] = counts[k].to_numpy()
    return table


def _total(table: pd.DataFrame, indices) -> np.ndarray:
    """Sum of the indices that have a score (Art. 15(4)(b): an index without one is left out); NaN
    when none has."""
    values = table[list(indices)].to_numpy(dtype=float)
    scored = ~np.isnan(values)
    return np.where(scored.any(axis=1), np.where(scored, values, 0.0).sum(axis=1), np.nan)


def _missing(table: pd.DataFrame, indices) -> list[list[int]]:
    """Per row, the numbers of the indices without a score (left out of the total)."""
    return [[int(k.split("_")[1]) for k in indices if np.isnan(row[k])] for _, row in table[list(indices)].iterrows()]


def staff_totals(dossiers: pd.DataFrame, by: str = "officer", *, confidence: float = 0.95) -> pd.DataFrame:
    """Per staff member: the five index scores with their n, ``total`` (out of 10, the sum of the
    one-decimal scores of the indices that have one; ``missing`` names those left out), ``band``
    (:data:`STAFF_BANDS`), ``dossiers`` (rows), and
    ``complete_n`` / ``mean_total_low`` / ``mean_total_high``: the interval (Agresti–Coull on 0–10) of the
    mean per-dossier total over the dossiers scored on all five indices, the sampling error of the total."""
    dossiers = dossiers[dossiers[by].notna()]
    table = index_scores(dossiers, by, STAFF_INDICES)
    if table.empty:
        return table.assign(dossiers=[], total=[], band=[], missing=[], complete_n=[], mean_total_low=[],
                            mean_total_high=[])
    table["dossiers"] = dossiers.groupby(by, sort=True).size().to_numpy()
    table["total"] = np.round(_total(table, STAFF_INDICES), 1)
    table["missing"] = _missing(table, STAFF_INDICES)
    table["band"] = grade_band(table["total"].to_numpy(), STAFF_BANDS)
    complete = dossiers.dropna(subset=list(STAFF_INDICES))
    per_dossier = complete[list(STAFF_INDICES)].sum(axis=1).groupby(complete[by])
    lows, highs, ns = [], [], []
    for member in table[by]:
        scores = per_dossier.get_group(member).to_numpy() if member in per_dossier.groups else np.array([])
        ns.append(len(scores))
        if len(scores):
            _, low, high = mean_ci(scores, method="agresti-coull", confidence=confidence, scale=(0, 10))
        else:
            low = high = np.nan
        lows.append(float(low))
        highs.append(float(high))
    return table.assign(complete_n=ns, mean_total_low=lows, mean_total_high=highs)


def unit_totals(dossiers: pd.DataFrame, unit_scores: pd.DataFrame | None = None, by: str = "unit") -> pd.DataFrame:
    """Per unit: all nine index scores (per-dossier indices as in :func:`index_scores`, indices 5, 6, 8, 9
    from ``unit_scores``: one row per unit with those columns, 0–2), ``total`` out of 18 (the indices
    without a score left out, Art. 15(4)(b); NaN when none has one), ``band`` (:data:`UNIT_BANDS`) and
    ``missing`` (the numbers of the indices without a score, left out of the total)."""
    table = index_scores(dossiers, by, PER_DOSSIER)
    entered = (unit_scores if unit_scores is not None else pd.DataFrame(columns=[by])).copy()
    for k in UNIT_ENTERED:
        if k not in entered.columns:
            entered[k] = np.nan
    _check_points(entered, UNIT_ENTERED)
    table = table.merge(entered[[by, *UNIT_ENTERED]], on=by, how="outer").sort_values(by).reset_index(drop=True)
    for k in PER_DOSSIER:
        table[f"{k}_n"] = table[f"{k}_n"].fillna(0).astype("int64")
    for k in ALL_INDICES:
        table[k] = table[k].astype(float)
    table["total"] = np.round(_total(table, ALL_INDICES), 1)
    table["band"] = grade_band(table["total"].to_numpy(), UNIT_BANDS) if len(table) else []
    table["missing"] = _missing(table, ALL_INDICES)
    columns = [by, *[c for k in ALL_INDICES for c in ((k, f"{k}_n") if k in PER_DOSSIER else (k,))],
               "total", "band", "missing"]
    return table[columns]
