"""Subtrees of the unit tree as one recursive query (SQLite and PostgreSQL alike).

A unit's subtree is the unit, everything below it, and every unit merged into one of those (a
merged unit's ratings are reported under its successor, so whoever sees the successor sees them).
The results service keeps its own cached in-memory tree (:mod:`survey.results.tree`) for
aggregation; this module is for filtering rows in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import CTE, or_, select

from survey.extensions import db
from survey.models import Unit


def _roots(unit_ids: int | Iterable[int]) -> list[int]:
    return [int(unit_ids)] if isinstance(unit_ids, int) else [int(i) for i in unit_ids]


def subtree_cte(unit_ids: int | Iterable[int], name: str = "unit_subtree") -> CTE:
    """A recursive CTE of the ids in the subtree of ``unit_ids`` (one id or several roots; ``UNION``,
    so a cycle cannot loop); a query using two subtrees gives each its own ``name``."""
    subtree = select(Unit.id).where(Unit.id.in_(_roots(unit_ids))).cte(name, recursive=True)
    below = select(Unit.id).where(or_(Unit.parent_id == subtree.c.id, Unit.successor_id == subtree.c.id))
    return subtree.union(below)


def subtree_ids(unit_ids: int | Iterable[int]) -> set[int]:
    """The ids of the subtree of ``unit_ids`` (one id or several roots), read in one query."""
    roots = _roots(unit_ids)
    if not roots:
        return set()
    subtree = subtree_cte(roots)
    return set(db.session.scalars(select(subtree.c.id)))
