"""Subtrees of the unit tree as one recursive query (SQLite and PostgreSQL alike).

A unit's subtree is the unit, everything below it, and every unit merged into one of those (a
merged unit's ratings are reported under its successor, so whoever sees the successor sees them).
The results service keeps its own cached in-memory tree (:mod:`survey.results.tree`) for
aggregation; this module is for filtering rows in SQL.
"""

from __future__ import annotations

from sqlalchemy import CTE, or_, select

from survey.extensions import db
from survey.models import Unit


def subtree_cte(unit_id: int, name: str = "unit_subtree") -> CTE:
    """A recursive CTE of the ids in ``unit_id``'s subtree (``UNION``, so a cycle cannot loop); a
    query using two subtrees gives each its own ``name``."""
    subtree = select(Unit.id).where(Unit.id == unit_id).cte(name, recursive=True)
    below = select(Unit.id).where(or_(Unit.parent_id == subtree.c.id, Unit.successor_id == subtree.c.id))
    return subtree.union(below)


def subtree_ids(unit_id: int) -> set[int]:
    """The ids of ``unit_id``'s subtree, read in one query."""
    subtree = subtree_cte(unit_id)
    return set(db.session.scalars(select(subtree.c.id)))
