"""The unit tree as one small in-memory structure: reporting units after mergers, subtrees, history.

Loaded with one ``SELECT`` of plain columns (a national tree of ~10,000 units is a few milliseconds)
and kept for ``UNIT_TREE_SECONDS``: the results service loads it once per computation, never per
request. Units change rarely (a merger is a resolution of the National Assembly), and
:func:`forget_unit_tree` drops the cached copy when they do.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from survey.extensions import db
from survey.models import Unit, UnitLevel

#: Seconds a loaded tree is reused.
UNIT_TREE_SECONDS = 60.0

_cache: dict[str, tuple[float, UnitTree]] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class UnitNode:
    id: int
    code: str
    level: str
    parent_id: int | None
    successor_id: int | None
    name_vi: str
    name_en: str | None
    valid_from: date
    valid_to: date | None
    questionnaire_code: str | None

    def name(self, locale: str | None = None) -> str:
        if locale and not locale.startswith("vi") and self.name_en:
            return self.name_en
        return self.name_vi

    def is_current(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)


@dataclass
class UnitTree:
    nodes: dict[int, UnitNode]
    by_code: dict[str, UnitNode] = field(init=False)
    children: dict[int | None, list[int]] = field(init=False)
    predecessors: dict[int, list[int]] = field(init=False)
    _maps: dict = field(init=False, default_factory=dict)

    def __post_init__(self):
        self.by_code = {n.code: n for n in self.nodes.values()}
        self.children = defaultdict(list)
        self.predecessors = defaultdict(list)
        for node in sorted(self.nodes.values(), key=lambda n: n.code):
            self.children[node.parent_id].append(node.id)
            if node.successor_id is not None:
                self.predecessors[node.successor_id].append(node.id)

    # ------------------------------------------------------------------ walking

    def ancestor(self, unit_id: int, level: str) -> UnitNode | None:
        node = self.nodes.get(unit_id)
        while node is not None and node.level != level:
            node = self.nodes.get(node.parent_id) if node.parent_id is not None else None
        return node

    def current(self, node: UnitNode, on: date) -> UnitNode:
        """Follow merger successors from ``node`` to the unit that exists on ``on``."""
        seen = set()
        while node.successor_id is not None and not node.is_current(on) and node.id not in seen:
            seen.add(node.id)
            node = self.nodes[node.successor_id]
        return node

    def reporting_unit(self, office_id: int, level: str, on: date) -> UnitNode | None:
        """The unit at ``level`` an office's ratings are reported under today (after mergers)."""
        if level == UnitLevel.OFFICE:
            node = self.nodes.get(office_id)
        else:
            node = self.ancestor(office_id, level)
        return None if node is None else self.current(node, on)

    def reporting_map(self, level: str, on: date) -> dict[int, UnitNode]:
        """Every office id → the unit it is reported under at ``level``; offices with none are left out."""
        key = (str(level), on)
        if key in self._maps:
            return self._maps[key]
        mapping = {}
        for node in self.nodes.values():
            if node.level == UnitLevel.OFFICE:
                target = self.reporting_unit(node.id, level, on)
                if target is not None:
                    mapping[node.id] = target
        self._maps[key] = mapping
        return mapping

    def merged_into(self, unit_id: int) -> list[UnitNode]:
        """Every unit merged (directly or through others) into this one, oldest chains first."""
        found, stack = [], list(self.predecessors.get(unit_id, []))
        while stack:
            node = self.nodes[stack.pop(0)]
            found.append(node)
            stack.extend(self.predecessors.get(node.id, []))
        return found

    def offices_reported_under(self, unit_id: int, on: date) -> list[UnitNode]:
        """The offices whose ratings count under this unit, including those of merged units."""
        mapping = self.reporting_map(self.nodes[unit_id].level, on)
        return sorted((self.nodes[i] for i, target in mapping.items() if target.id == unit_id), key=lambda n: n.code)

    def parent_at(self, node: UnitNode, level: str) -> UnitNode | None:
        """The unit above ``node`` at ``level`` (e.g. an office's province)."""
        parent = self.nodes.get(node.parent_id) if node.parent_id is not None else None
        return None if parent is None else self.ancestor(parent.id, level)

    def chain(self, node: UnitNode) -> list[UnitNode]:
        """From the top of the tree down to ``node``."""
        out = []
        current: UnitNode | None = node
        while current is not None:
            out.append(current)
            current = self.nodes.get(current.parent_id) if current.parent_id is not None else None
        return out[::-1]

    def questionnaire_of(self, node: UnitNode) -> str:
        current: UnitNode | None = node
        while current is not None:
            if current.questionnaire_code:
                return current.questionnaire_code
            current = self.nodes.get(current.parent_id) if current.parent_id is not None else None
        return "default"


def _engine_key() -> str:
    return str(db.engine.url)


def load_unit_tree() -> UnitTree:
    """Read the whole tree in one query (plain rows, no ORM objects)."""
    columns = [Unit.id, Unit.code, Unit.level, Unit.parent_id, Unit.successor_id, Unit.name_vi, Unit.name_en,
               Unit.valid_from, Unit.valid_to, Unit.questionnaire_code]
    nodes = {}
    for row in db.session.execute(select(*columns)):
        level = row.level.value if isinstance(row.level, UnitLevel) else str(row.level)
        nodes[row.id] = UnitNode(row.id, row.code, level, row.parent_id, row.successor_id, row.name_vi, row.name_en,
                                 row.valid_from, row.valid_to, row.questionnaire_code)
    return UnitTree(nodes)


def unit_tree(*, max_age: float = UNIT_TREE_SECONDS) -> UnitTree:
    """The cached tree of this database, loaded again when older than ``max_age`` seconds."""
    key = _engine_key()
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and now - cached[0] <= max_age:
            return cached[1]
    tree = load_unit_tree()
    with _cache_lock:
        _cache[key] = (now, tree)
    return tree


def forget_unit_tree() -> None:
    """Drop the cached trees (after units were added, merged or renamed)."""
    with _cache_lock:
        _cache.clear()
