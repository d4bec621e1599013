"""What a manager's dashboard shows, assembled from the one results service.

Nothing here computes a figure: every index, mean, interval, n and verdict is a value of
:func:`survey.results.service.results_table` (and :func:`~survey.results.service.trend`). This
module only picks, for one unit of the manager's scope, its own row, the rows of the units below
it, its criteria and procedures, and its trend; "pulling the index down" is the table's own
comparison verdict (``below``: outside the funnel limits with the false-discovery control, so a
unit with four ratings is never named), not a raw ranking.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from flask_babel import lazy_gettext as _l

import analysis
from survey.results.service import (
    Results, ResultsError, case_on_time_shares, channel_results, counter_results, parse_period, results_table, trend,
    vietnam_today, weekly_trend,
)
from survey.results.tree import UnitNode, unit_tree

#: For a unit of this level: the level its own row is read at, and the level of the rows below it.
LEVELS_BELOW: dict[str | None, str | None] = {
    None: "province",  # the whole platform: every province
    "province": "office",
    "commune": "office",
    "office": "counter",  # counters come from the service's counter table (not published)
}


@dataclass
class Dashboard:
    period: str
    #: The unit shown (``None``: the whole platform).
    unit: UnitNode | None
    #: The results the unit's own row comes from (or the rows below, for the whole platform).
    results: Results
    own: dict | None
    below_level: str | None
    below_results: Results | None = None
    below: list[dict] = field(default_factory=list)
    criteria: list[dict] = field(default_factory=list)
    procedures: list[dict] = field(default_factory=list)
    #: The unit's ratings by channel: share, index, interval and n of each (the independence panel).
    channels: list[dict] = field(default_factory=list)
    #: (results, row or None) per period up to this one, oldest first.
    trend: list[tuple[Results, dict | None]] = field(default_factory=list)
    #: ``"month"`` (the trend by period, above) or ``"week"`` (:attr:`weekly`).
    trend_kind: str = "month"
    #: The unit's ISO weeks up to the current one, oldest first (``weekly_trend`` rows), when asked for.
    weekly: list[dict] = field(default_factory=list)
    #: Complaint cases answered on time, per office of the unit (from ``case_on_time_shares``).
    cases: list[dict] = field(default_factory=list)

    @property
    def pulling_down(self) -> list[dict]:
        """Units below this one that the table judges below expectation (with intervals and FDR)."""
        return [row for row in self.below if row.get("comparison") == analysis.BELOW]

    @property
    def not_judged(self) -> list[dict]:
        """Units below this one with too few ratings to be judged at all."""
        return [row for row in self.below if not row.get("publishable")]


def default_period() -> str:
    """The current month (the dashboard follows the open month; earlier months are one click away)."""
    return analysis.period_label(pd.Period(vietnam_today(), freq="M"))


def check_period(label: str | None) -> str:
    return analysis.period_label(parse_period((label or "").strip() or default_period()))


#: The trend's two views: ``?trend=week`` asks for the weekly one; anything else is the monthly one.
TREND_KINDS = ("month", "week")


def check_trend_kind(value: str | None) -> str:
    return value if value in TREND_KINDS else "month"


def build_dashboard(unit_code: str | None, period: str, *, trend_kind: str = "month") -> Dashboard:
    """The dashboard of one unit (already checked to lie in the manager's scope), or of the whole
    platform (``unit_code`` None). Raises :class:`ResultsError` for a period the service refuses."""
    tree = unit_tree()
    node = tree.by_code.get(unit_code) if unit_code else None
    if unit_code and node is None:  # created after the cached tree was read
        raise ResultsError("unknown_unit", _l("This unit is new; its results appear within a minute."))
    level = node.level if node else None
    if level not in LEVELS_BELOW:
        raise ResultsError("no_counter_page", _l("A counter has no page of its own: its figures are on its "
                                                 "office's page."))
    questionnaire = tree.questionnaire_of(node) if node else "default"
    below_level = LEVELS_BELOW.get(level)
    own_results = results_table(period, level, questionnaire) if level else None
    own = own_results.unit(node.code) if own_results else None
    board = Dashboard(period=period, unit=node, results=own_results, own=own, below_level=below_level,
                      trend_kind=check_trend_kind(trend_kind))
    if below_level:
        if below_level == "counter":
            below = counter_results(period, questionnaire, scope=node.code)
        else:
            below = results_table(period, below_level, questionnaire, scope=node.code if node else None)
        board.below_results = below
        board.below = below.units
        if board.results is None:
            board.results = below
    if node is not None and own_results is not None:
        for criterion in own_results.content.get("criteria", []):
            row = next((r for r in criterion["rows"] if r["unit"] == node.code), None)
            board.criteria.append({"criterion": criterion, "row": row})
        board.procedures = sorted((r for r in own_results.content.get("procedures", []) if r["unit"] == node.code),
                                  key=lambda r: (-r["n"], r["procedure"]))
        if board.trend_kind == "week":
            board.weekly = weekly_trend(node.code, level, questionnaire)
        else:
            board.trend = trend(node.code, level, questionnaire, period)
        board.channels = channel_results(period, level, questionnaire, node.code)["channels"]
    board.cases = case_on_time_shares(node.code if node else None)
    return board
