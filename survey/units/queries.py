"""What the unit page shows besides figures: a unit's children, the units merged into it, its entered
scores, and the procedure catalogue."""

from __future__ import annotations

from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Procedure, Questionnaire, Unit, UnitIndexScore, UnitLevel
from survey.units.scope import Scope, in_scope
from survey.units.tree import subtree_cte


def children_of(unit: Unit) -> list[Unit]:
    """The units directly below ``unit``, current ones first, by code."""
    return list(db.session.scalars(
        select(Unit).where(Unit.parent_id == unit.id).order_by(Unit.valid_to.is_not(None), Unit.code)))


def merged_into(unit: Unit) -> list[Unit]:
    """The units merged directly into ``unit``, by the day they ended."""
    return list(db.session.scalars(select(Unit).where(Unit.successor_id == unit.id).order_by(Unit.valid_to, Unit.code)))


def index_scores_of(unit: Unit) -> list[UnitIndexScore]:
    """Every score entered for ``unit``, by index and newest first (entries are never edited)."""
    return list(db.session.scalars(
        select(UnitIndexScore).where(UnitIndexScore.unit_id == unit.id)
        .order_by(UnitIndexScore.index_number, UnitIndexScore.valid_from.desc())))


def questionnaire_codes() -> list[str]:
    return list(db.session.scalars(select(Questionnaire.code).distinct().order_by(Questionnaire.code)))


#: Procedures per page of the catalogue.
PROCEDURES_PER_PAGE = 200


def procedures_page(page: int = 1) -> tuple[list[Procedure], int]:
    """One page of the catalogue by code, and how many procedures it holds."""
    total = db.session.scalar(select(func.count()).select_from(Procedure)) or 0
    rows = list(db.session.scalars(select(Procedure).order_by(Procedure.code)
                                   .limit(PROCEDURES_PER_PAGE).offset((page - 1) * PROCEDURES_PER_PAGE)))
    return rows, int(total)


def merge_candidates(unit: Unit, scope: Scope) -> list[Unit]:
    """The current units ``unit`` may be merged into: same level, inside ``scope``, and (below the level
    of provinces) in the same province."""
    query = select(Unit).where(Unit.level == unit.level, Unit.id != unit.id, Unit.valid_to.is_(None),
                               in_scope(Unit, scope))
    province = unit.ancestor(UnitLevel.PROVINCE)
    if unit.level != UnitLevel.PROVINCE and province is not None:
        query = query.where(Unit.id.in_(select(subtree_cte(province.id, "province_subtree").c.id)))
    return list(db.session.scalars(query.order_by(Unit.code)))
