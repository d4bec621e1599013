"""What a signed-in user may see, decided in one place.

A user's role binds them to a unit (:data:`survey.models.users.ROLE_UNIT_LEVELS`); their scope is
that unit's subtree (:mod:`survey.units.tree`), or the whole platform for a national administrator.
Views never write a scope filter: they load through :func:`load_in_scope` /
:func:`get_unit_in_scope_or_404`, which answer 404 for anything outside the scope (so a manager
cannot even learn that a rating of another province exists), and list through queries that take a
:class:`Scope`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from flask import abort, g
from flask_login import current_user
from sqlalchemy import ColumnElement, and_, false, select, true

from survey.extensions import db
from survey.models import (
    Alert, ApiKey, AuditEntry, ComplaintCase, Kiosk, Rating, TransactionImport, Unit, User, api_key_units,
)
from survey.models.users import ADMIN_ROLES, NATIONAL_ADMIN, ROLE_UNIT_LEVELS
from survey.units.tree import subtree_cte

M = TypeVar("M")


@dataclass(frozen=True)
class Scope:
    """One user's part of the unit tree."""

    role: str
    #: The unit the role is bound to; ``None`` for a national administrator (everything).
    unit_id: int | None
    unit_code: str | None
    #: False when the account's role and unit do not fit together: such an account sees nothing.
    valid: bool = True

    @property
    def everything(self) -> bool:
        return self.valid and self.role == NATIONAL_ADMIN

    @property
    def may_manage_users(self) -> bool:
        return self.valid and self.role in ADMIN_ROLES

    def unit_condition(self, column: ColumnElement) -> ColumnElement[bool]:
        """A SQL condition: ``column`` (a unit id) lies in this scope."""
        if not self.valid:
            return false()
        if self.everything:
            return true()
        subtree = subtree_cte(self.unit_id)
        return column.in_(select(subtree.c.id))


def scope_of(user: User) -> Scope:
    """The scope of ``user``: their unit's subtree, if the unit fits their role."""
    levels = ROLE_UNIT_LEVELS.get(user.role)
    if levels is None:
        return Scope(user.role, None, None, valid=False)
    if not levels:  # a national administrator
        return Scope(user.role, None, None)
    unit = user.scope_unit
    if unit is None or unit.level not in levels:
        return Scope(user.role, None, None, valid=False)
    return Scope(user.role, unit.id, unit.code)


def current_scope() -> Scope:
    """The signed-in user's scope, worked out once per request. Only for views behind ``login_required``."""
    if "scope" not in g:
        if not current_user.is_authenticated:
            abort(401)
        g.scope = scope_of(current_user)
    return g.scope


#: The column that places each kind of row in the tree.
PLACED_BY: dict[type, Any] = {
    Unit: Unit.id,
    Rating: Rating.office_id,
    Kiosk: Kiosk.office_id,
    User: User.scope_unit_id,
    AuditEntry: AuditEntry.unit_id,
    ComplaintCase: ComplaintCase.office_id,
    TransactionImport: TransactionImport.scope_unit_id,
    Alert: Alert.unit_id,
}


def in_scope(model: type[M], scope: Scope) -> ColumnElement[bool]:
    """The condition for rows of ``model`` inside ``scope`` (for listing queries)."""
    if model is ApiKey:
        return _api_key_in_scope(scope)
    if model in (User, AuditEntry, TransactionImport) and scope.everything:
        return true()  # also the national accounts, platform-wide entries and imports, which have no unit
    return scope.unit_condition(PLACED_BY[model])


def _api_key_in_scope(scope: Scope) -> ColumnElement[bool]:
    """A key is inside ``scope`` when every one of its units is: a provincial administrator neither
    sees nor revokes a key that also reaches another province."""
    if not scope.valid:
        return false()
    if scope.everything:
        return true()
    subtree = subtree_cte(scope.unit_id)
    outside = select(api_key_units.c.api_key_id).where(api_key_units.c.unit_id.not_in(select(subtree.c.id)))
    return and_(ApiKey.id.in_(select(api_key_units.c.api_key_id)), ApiKey.id.not_in(outside))


def load_in_scope(model: type[M], ident: Any, *, scope: Scope | None = None) -> M:
    """The ``model`` row with this id if it lies in the signed-in user's scope; 404 otherwise
    (also for ids that are not whole numbers)."""
    scope = scope or current_scope()
    try:
        ident = int(ident)
    except (TypeError, ValueError):
        abort(404)
    if not -(2**63) <= ident < 2**63:
        abort(404)
    row = db.session.scalar(select(model).where(model.id == ident, in_scope(model, scope)))
    if row is None:
        abort(404)
    return row


def get_unit_in_scope_or_404(code: str, *, scope: Scope | None = None) -> Unit:
    """The unit with this code if it lies in the signed-in user's scope; 404 otherwise."""
    scope = scope or current_scope()
    code = str(code)
    if len(code) > 64 or "\x00" in code:  # no such code (and PostgreSQL refuses NUL in text)
        abort(404)
    unit = db.session.scalar(select(Unit).where(Unit.code == code, in_scope(Unit, scope)))
    if unit is None:
        abort(404)
    return unit


def require_user_admin(scope: Scope | None = None) -> Scope:
    """403 unless the signed-in user may manage accounts."""
    scope = scope or current_scope()
    if not scope.may_manage_users:
        abort(403)
    return scope
