"""SQL aggregation: ratings → counts per reporting unit × period × answer level.

The database does the heavy part (``GROUP BY office, month, value``: one row per office, month and
level, never one per rating); the small roll-up from offices to provinces or communes, following
parents and merger successors, happens on those counts. :mod:`analysis` turns the counts into
indices and intervals. The public page, the manager dashboard, open data and ``survey analyze``
all read their numbers through here.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Questionnaire, Rating, ServiceVolume, Unit, UnitLevel

def month_range(first, last) -> tuple[int, int]:
    """``YYYYMM`` bounds of the months from the start of ``first`` to the end of ``last`` (pandas Periods)."""
    return (first.start_time.year * 100 + first.start_time.month, last.end_time.year * 100 + last.end_time.month)


def month_label(yyyymm: int) -> str:
    return f"{yyyymm // 100}-{yyyymm % 100:02d}"


def reporting_units(level: UnitLevel, on: date | None = None) -> dict[int, Unit]:
    """Map every office id to the unit it is reported under at ``level`` today.

    Walk up the parents to the level, then follow merger successors to the unit that exists now,
    so ratings given before a merger count under the merged unit and trends do not break.
    Offices with no ancestor at that level (e.g. a provincial centre at commune level) are left out.
    """
    on = on or date.today()
    units = {u.id: u for u in db.session.scalars(select(Unit))}
    mapping = {}
    for unit in units.values():
        if unit.level != UnitLevel.OFFICE:
            continue
        target: Unit | None = unit
        while target is not None and target.level != level:
            target = units.get(target.parent_id)
        seen = set()
        while target is not None and target.successor_id and not target.is_current(on) and target.id not in seen:
            seen.add(target.id)
            target = units.get(target.successor_id)
        if target is not None:
            mapping[unit.id] = target
    return mapping


def rating_counts(questionnaire_code: str, months: tuple[int, int], level: UnitLevel) -> pd.DataFrame:
    """Counts of the overall answer: columns ``unit``, ``name``, ``period`` (``YYYY-MM``), ``value``, ``count``.

    Flagged ratings are excluded. One SQL ``GROUP BY`` over the ratings; the result has one row per
    office, month and answer level.
    """
    questionnaire_ids = select(Questionnaire.id).where(Questionnaire.code == questionnaire_code)
    rows = db.session.execute(
        select(Rating.office_id, Rating.period_month, Rating.overall_value, func.count(Rating.id))
        .where(Rating.questionnaire_id.in_(questionnaire_ids), Rating.flag.is_(None),
               Rating.period_month.between(*months))
        .group_by(Rating.office_id, Rating.period_month, Rating.overall_value)
    ).all()
    return _roll_up(pd.DataFrame(rows, columns=["office_id", "month", "value", "count"]), level, ["value"], "count")


def transactions_served(months: tuple[int, int], level: UnitLevel) -> pd.DataFrame:
    """Transactions served per reporting unit and period: columns ``unit``, ``name``, ``period``, ``transactions``."""
    rows = db.session.execute(
        select(ServiceVolume.office_id, ServiceVolume.period_month, func.sum(ServiceVolume.transactions))
        .where(ServiceVolume.period_month.between(*months))
        .group_by(ServiceVolume.office_id, ServiceVolume.period_month)
    ).all()
    return _roll_up(pd.DataFrame(rows, columns=["office_id", "month", "transactions"]), level, [], "transactions")


def _roll_up(frame: pd.DataFrame, level: UnitLevel, keys: list[str], value: str) -> pd.DataFrame:
    columns = ["unit", "name", "period", *keys, value]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    units = reporting_units(level)
    frame = frame[frame["office_id"].isin(units.keys())].copy()
    frame["unit"] = frame["office_id"].map(lambda i: units[i].code)
    frame["name"] = frame["office_id"].map(lambda i: units[i].name_vi)
    frame["period"] = frame["month"].map(month_label)
    frame[value] = frame[value].astype("int64")
    return frame.groupby(["unit", "name", "period", *keys], as_index=False)[value].sum()[columns]


def overall_scale(questionnaire_code: str) -> tuple[int, int, int]:
    """``(lowest, highest, satisfied_from)`` of the overall question of the newest version."""
    questionnaire = db.session.scalar(
        select(Questionnaire).where(Questionnaire.code == questionnaire_code).order_by(Questionnaire.version.desc())
    )
    if questionnaire is None:
        raise LookupError(f"No questionnaire with code {questionnaire_code!r}.")
    scale = questionnaire.overall_question.scale
    return min(scale.values), max(scale.values), scale.satisfied_from
