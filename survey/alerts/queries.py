"""What the manager pages and the e-mail read about alerts, always inside a scope."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from survey.extensions import db
from survey.models import Alert, Unit, User
from survey.models.users import NATIONAL_ADMIN
from survey.results.tree import unit_tree
from survey.units.scope import Scope, in_scope
from survey.units.tree import subtree_cte

#: Alerts per page of the list.
ALERTS_PER_PAGE = 50


@dataclass(frozen=True)
class AlertRow:
    id: int
    kind: str
    period: str
    unit_code: str
    unit_name_vi: str
    unit_name_en: str | None
    opened_at: datetime
    closed_at: datetime | None
    details: dict

    def unit_name(self, locale: str) -> str:
        return self.unit_name_en if locale == "en" and self.unit_name_en else self.unit_name_vi


def _row(alert: Alert) -> AlertRow:
    return AlertRow(alert.id, alert.kind, alert.period, alert.unit.code, alert.unit.name_vi, alert.unit.name_en,
                    alert.opened_at, alert.closed_at, json.loads(alert.details) if alert.details else {})


def alerts_in_scope(scope: Scope, *, unit: Unit | None = None, show_closed: bool = False, page: int = 1,
                    per_page: int = ALERTS_PER_PAGE) -> tuple[list[AlertRow], bool]:
    """One page of the alerts of units in ``scope`` (or in ``unit``'s subtree inside it), open ones first,
    newest first; and whether a further page exists."""
    query = (select(Alert).options(joinedload(Alert.unit)).where(in_scope(Alert, scope))
             .order_by(Alert.closed_at.is_not(None), Alert.opened_at.desc(), Alert.id.desc())
             .limit(per_page + 1).offset((page - 1) * per_page))
    if not show_closed:
        query = query.where(Alert.closed_at.is_(None))
    if unit is not None:
        query = query.where(Alert.unit_id.in_(select(subtree_cte(unit.id, "chosen_subtree").c.id)))
    alerts = list(db.session.scalars(query))
    return [_row(a) for a in alerts[:per_page]], len(alerts) > per_page


def recipients(alert: Alert) -> list[User]:
    """The active accounts whose scope holds the alert's unit (its unit's managers and those above)."""
    tree = unit_tree(max_age=0)
    node = tree.nodes.get(alert.unit_id)
    chain = [n.id for n in tree.chain(node)] if node else [alert.unit_id]
    return list(db.session.scalars(
        select(User).where(User.active.is_(True), or_(User.scope_unit_id.in_(chain), User.role == NATIONAL_ADMIN))
        .order_by(User.email)))
