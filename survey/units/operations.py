"""Changing the unit tree: adding units, renaming them, an office's settings, mergers, and the
per-unit scores of the Circular 01/2018 evaluation. Every change writes its audit entry.

Who may do what (``scope`` is the acting person's :class:`~survey.units.scope.Scope`; ``None`` is the
command line, which may do everything):

* the tree (add, rename, merge) and the per-unit scores: a national administrator anywhere, a
  provincial administrator below their province (not the province itself);
* a unit's settings (complaint contact, questionnaire): also an office manager, inside their scope.

Codes never change and units are never deleted: a merged unit ends the day before the merger and
points to its successor, so its ratings are reported under the successor from then on
(:mod:`survey.results.tree`). Functions flush; the caller commits.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from survey.audit.log import record
from survey.extensions import db
from survey.models import Questionnaire, Unit, UnitIndexScore, UnitLevel, User
from survey.models.users import PROVINCE_ADMIN
from survey.units.scope import Scope, in_scope

#: Unit codes: letters, digits, dot, dash and underscore, no spaces (e.g. ``HN-TTHCC-Q01``).
UNIT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: The levels a new unit may have under a parent of each level.
CHILD_LEVELS: dict[UnitLevel, tuple[UnitLevel, ...]] = {
    UnitLevel.PROVINCE: (UnitLevel.COMMUNE, UnitLevel.OFFICE),
    UnitLevel.COMMUNE: (UnitLevel.OFFICE,),
    UnitLevel.OFFICE: (UnitLevel.COUNTER,),
    UnitLevel.COUNTER: (),
}
NAME_LENGTH = 200
CONTACT_LENGTH = 300
NOTE_LENGTH = 500


class UnitError(ValueError):
    """A change that cannot be made as asked: ``code`` is stable (tests, the command line), ``message``
    says why to a person."""

    def __init__(self, code: str, message):
        super().__init__(code)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


# --------------------------------------------------------------------------- who may change what


def may_edit_tree(scope: Scope | None) -> bool:
    """Whether this person may add, rename and merge units and enter per-unit scores at all."""
    return scope is None or scope.everything or (scope.valid and scope.role == PROVINCE_ADMIN)


def may_edit_unit(scope: Scope | None, unit: Unit) -> bool:
    """Whether this person may rename, merge or score ``unit``: a tree editor whose scope holds it,
    below the province of a provincial administrator."""
    if not may_edit_tree(scope):
        return False
    if scope is None or scope.everything:
        return True
    return unit.id != scope.unit_id and _in_scope(unit, scope)


def may_edit_settings(scope: Scope | None, unit: Unit) -> bool:
    """Whether this person may change ``unit``'s settings: anyone whose valid scope holds it."""
    return scope is None or (scope.valid and _in_scope(unit, scope))


def _in_scope(unit: Unit, scope: Scope) -> bool:
    return db.session.scalar(select(Unit.id).where(Unit.id == unit.id, in_scope(Unit, scope))) is not None


def _check_editor(scope: Scope | None, unit: Unit) -> None:
    if not may_edit_unit(scope, unit):
        raise UnitError("not_allowed", _l("You may not change this unit."))


def _name(value: str | None, *, required: bool) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise UnitError("name_needed", _l("Please give the Vietnamese name."))
        return None
    if len(value) > NAME_LENGTH:
        raise UnitError("name_too_long", _l("A name has at most %(n)d characters.", n=NAME_LENGTH))
    return value


def tree_changed() -> None:
    """Drop the cached unit tree and live results, so figures follow the changed tree at once (in this
    process; other processes reload theirs within ``UNIT_TREE_SECONDS``)."""
    from survey.results.service import forget_live_results
    from survey.results.tree import forget_unit_tree

    forget_unit_tree()
    forget_live_results()


# --------------------------------------------------------------------------- adding and renaming


def create_unit(parent: Unit | None, code: str, level: UnitLevel | str, name_vi: str, name_en: str | None = None, *,
                valid_from: date | None = None, actor: User | None, scope: Scope | None = None) -> Unit:
    """A new unit under ``parent`` (a province has none: only a national administrator adds one)."""
    from survey.results.service import vietnam_today

    code = (code or "").strip()
    try:
        level = UnitLevel(level)
    except ValueError:
        raise UnitError("bad_level", _l("This is not a level of the unit tree.")) from None
    if parent is None:
        if level != UnitLevel.PROVINCE or not (scope is None or scope.everything):
            raise UnitError("parent_needed", _l("Please choose the unit the new one belongs to."))
    else:
        if not may_edit_tree(scope) or (scope is not None and not scope.everything and not _in_scope(parent, scope)):
            raise UnitError("not_allowed", _l("You may not add units here."))
        if parent.valid_to is not None:
            raise UnitError("parent_ended", _l("This unit was merged into another; add new units to its successor."))
        if level not in CHILD_LEVELS[parent.level]:
            raise UnitError("level", _l("A unit of this level cannot be placed under that one."))
    if not UNIT_CODE.fullmatch(code):
        raise UnitError("bad_code", _l("A code has letters, digits, dots, dashes or underscores, without spaces."))
    if db.session.scalar(select(Unit.id).where(Unit.code == code)) is not None:
        raise UnitError("code_taken", _l("This code is already used; codes are never reused."))
    name_vi = _name(name_vi, required=True)
    name_en = _name(name_en, required=False)
    valid_from = valid_from or vietnam_today()
    if parent is not None and valid_from < parent.valid_from:
        raise UnitError("too_early", _l("A unit cannot start before the unit it belongs to."))
    unit = Unit(code=code, level=level, parent=parent, name_vi=name_vi, name_en=name_en, valid_from=valid_from)
    db.session.add(unit)
    db.session.flush()
    record(actor, "unit_created", unit, unit=unit, data={
        "code": code, "level": str(level), "parent": parent.code if parent else None, "name_vi": name_vi,
        "name_en": name_en, "valid_from": valid_from.isoformat()})
    tree_changed()
    return unit


def rename_unit(unit: Unit, name_vi: str, name_en: str | None, *, actor: User | None,
                scope: Scope | None = None) -> bool:
    """Give ``unit`` new names (its code stays); False when nothing changed."""
    _check_editor(scope, unit)
    name_vi = _name(name_vi, required=True)
    name_en = _name(name_en, required=False)
    if (unit.name_vi, unit.name_en) == (name_vi, name_en):
        return False
    before = {"name_vi": unit.name_vi, "name_en": unit.name_en}
    unit.name_vi, unit.name_en = name_vi, name_en
    db.session.flush()
    record(actor, "unit_renamed", unit, unit=unit, data={"before": before, "after": {"name_vi": name_vi,
                                                                                    "name_en": name_en}})
    tree_changed()
    return True


def update_settings(unit: Unit, *, complaint_contact: str | None, questionnaire_code: str | None,
                    actor: User | None, scope: Scope | None = None) -> bool:
    """Set where ``unit`` takes complaints and which questionnaire it shows (empty: inherited from the
    parent); False when nothing changed."""
    if not may_edit_settings(scope, unit):
        raise UnitError("not_allowed", _l("You may not change this unit."))
    contact = (complaint_contact or "").strip() or None
    if contact is not None and len(contact) > CONTACT_LENGTH:
        raise UnitError("contact_too_long", _l("The complaint contact has at most %(n)d characters.",
                                               n=CONTACT_LENGTH))
    questionnaire = (questionnaire_code or "").strip() or None
    if questionnaire is not None and db.session.scalar(
            select(Questionnaire.id).where(Questionnaire.code == questionnaire).limit(1)) is None:
        raise UnitError("no_questionnaire", _l("There is no questionnaire with this code."))
    before = {"complaint_contact": unit.complaint_contact, "questionnaire_code": unit.questionnaire_code}
    after = {"complaint_contact": contact, "questionnaire_code": questionnaire}
    if before == after:
        return False
    unit.complaint_contact, unit.questionnaire_code = contact, questionnaire
    db.session.flush()
    record(actor, "unit_settings_changed", unit, unit=unit, data={"before": before, "after": after})
    tree_changed()
    return True


# --------------------------------------------------------------------------- mergers


def record_merger(unit: Unit, successor: Unit, on: date, *, actor: User | None, scope: Scope | None = None) -> None:
    """``unit`` merged into ``successor`` from ``on``: it ends the day before and its ratings (before and
    after) are reported under ``successor`` from then on."""
    _check_editor(scope, unit)
    if scope is not None and not scope.everything and not _in_scope(successor, scope):
        raise UnitError("out_of_scope", _l("The unit it is merged into lies outside your part of the tree."))
    if successor.id == unit.id:
        raise UnitError("self", _l("A unit cannot be merged into itself."))
    if successor.level != unit.level:
        raise UnitError("level", _l("A unit can only be merged into a unit of the same level."))
    if unit.valid_to is not None:
        raise UnitError("already_ended", _l("This unit has already ended (merged on %(day)s).",
                                            day=(unit.valid_to + timedelta(days=1)).isoformat()))
    seen, node = set(), successor
    while node is not None and node.id not in seen:  # following the successors back to the unit is a cycle
        if node.id == unit.id:
            raise UnitError("cycle", _l("The unit it is merged into was itself merged into this one."))
        seen.add(node.id)
        node = node.successor
    if on <= unit.valid_from:
        raise UnitError("too_early", _l("The merger must come after the day the unit started (%(day)s).",
                                        day=unit.valid_from.isoformat()))
    if successor.valid_to is not None or on < successor.valid_from:
        raise UnitError("successor_not_current", _l("The unit it is merged into must exist on the day of the merger."))
    unit.valid_to = on - timedelta(days=1)
    unit.successor = successor
    db.session.flush()
    record(actor, "unit_merged", unit, unit=successor, data={
        "unit": unit.code, "into": successor.code, "on": on.isoformat()})
    tree_changed()


# --------------------------------------------------------------------------- per-unit scores (indices 5, 6, 8, 9)


def add_index_score(office: Unit, index_number: int, points: int, valid_from: date, note: str | None = None, *,
                    actor: User | None, scope: Scope | None = None) -> UnitIndexScore:
    """A new score of an office on an index entered per unit; it holds from ``valid_from`` until a later one."""
    from survey.transactions.evaluation import EvaluationError, record_unit_index_score

    _check_editor(scope, office)
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_LENGTH:
        raise UnitError("note_too_long", _l("The note has at most %(n)d characters.", n=NOTE_LENGTH))
    try:
        score = record_unit_index_score(office.code, index_number, points, valid_from,
                                        entered_by_id=actor.id if actor else None, source_note=note)
    except EvaluationError as exc:
        raise UnitError("bad_score", exc.args[0]) from None
    record(actor, "index_score_added", score, unit=office, data={
        "index": index_number, "points": points, "valid_from": valid_from.isoformat(), "note": note})
    return score
