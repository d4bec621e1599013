"""``record(actor, action, target, data)``: called by operations, never by views."""

from __future__ import annotations

import json
from typing import Any

from survey.extensions import db
from survey.models import AuditEntry, Unit, User


def record(actor: User | None, action: str, target: Any, *, unit: Unit | None = None,
           data: dict[str, Any] | None = None) -> AuditEntry:
    """Add an audit entry for ``action`` on ``target`` (a model row) in ``unit``. Flushes with the
    operation's own changes, so the entry and the change are committed together or not at all."""
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None, action=action, target_type=target.__tablename__,
        target_id=target.id, unit_id=unit.id if unit is not None else None,
        data=json.dumps(data, ensure_ascii=False, sort_keys=True, default=str) if data else None,
    )
    db.session.add(entry)
    return entry
