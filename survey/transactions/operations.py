"""Registering transactions from a one-stop system: one object or a batch, stored once per dossier.

Every item is checked first, without writing (fields, formats, offices, counters, the key's scope,
conflicts with what is stored); then the new ones are inserted with ``ON CONFLICT DO NOTHING`` on
the dossier code and the changed ones updated, in the caller's one transaction. A bad item is
reported by its index with a reason and leaves no trace; the good ones are stored whole.

Re-sending a dossier is idempotent: the same data changes nothing and returns the same link. The
due and return times, the counter and the officer may be sent again later as the dossier moves on
(they are updated); the office, the receiving time and the procedure are fixed once registered.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from survey.api.keys import ApiCaller
from survey.extensions import db
from survey.models import Procedure, Transaction, Unit, UnitLevel
from survey.models._common import utcnow
from survey.transactions.codes import PLAIN_CODE, PROCEDURE_CODE, dossier_code_format, parse_time

#: Largest batch accepted in one request.
MAX_BATCH = 1000
FIELDS = {"dossier_code", "office_code", "counter_code", "procedure_code", "officer_code",
          "received_at", "due_at", "returned_at"}
#: Fields a re-send may change.
MUTABLE = ("counter_id", "officer_code", "due_at", "returned_at")
#: Fields fixed at registration: a re-send that changes them is refused.
FIXED = ("office_id", "procedure_code", "received_at")

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@dataclass(frozen=True)
class ItemError:
    """Why one item was refused; ``status`` is the HTTP status when it was sent alone."""

    code: str
    message: object
    status: int = 400


@dataclass(frozen=True)
class Registered:
    """A stored transaction as plain values: what the API answers with."""

    id: int
    dossier_code: str
    status: str  # created, updated or unchanged
    created_at: datetime
    returned_at: datetime | None


@dataclass
class _Item:
    dossier_code: str
    office_code: str
    counter_code: str | None
    procedure_code: str
    officer_code: str | None
    received_at: datetime
    due_at: datetime | None
    returned_at: datetime | None


def _text(item: dict, name: str, pattern, *, required: bool) -> str | None | ItemError:
    value = item.get(name)
    if value is None:
        if required:
            return ItemError("missing_field", _l("The field %(name)s is required.", name=name))
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        return ItemError(f"bad_{name}", _l("The field %(name)s is not a valid code.", name=name))
    return value


def _time(item: dict, name: str, *, required: bool) -> datetime | None | ItemError:
    value = item.get(name)
    if value is None:
        if required:
            return ItemError("missing_field", _l("The field %(name)s is required.", name=name))
        return None
    moment = parse_time(value)
    if moment is None:
        return ItemError("bad_time", _l("The field %(name)s must be an ISO 8601 time, e.g. 2026-03-01T09:30:00+07:00.",
                                        name=name))
    return moment


def parse_item(item) -> _Item | ItemError:
    """One item's fields checked and converted, or the first thing wrong with it."""
    if not isinstance(item, dict):
        return ItemError("bad_item", _l("Each transaction must be a JSON object."))
    unknown = sorted(k for k in item if k not in FIELDS)
    if unknown:
        # Quoted as JSON: an empty or blank name stays visible in the message.
        name = json.dumps(unknown[0], ensure_ascii=False)[:40]
        return ItemError("unknown_field", _l("Unknown field %(name)s.", name=name))
    dossier_code = item.get("dossier_code")
    if dossier_code is None:
        return ItemError("missing_field", _l("The field %(name)s is required.", name="dossier_code"))
    if not isinstance(dossier_code, str) or dossier_code_format(dossier_code) is None:
        return ItemError("bad_dossier_code", _l(
            "The dossier code must follow Circular 01/2018 (V1V2V3.Z1Z2.Y1Y2.MX1X2-YYMMDD-XXXX) or the "
            "2026 national format (MX1X2.Y1Y2Y3.Z1Z2-YYMMDD-AAXXXX), with a real date."))
    values = {
        "office_code": _text(item, "office_code", PLAIN_CODE, required=True),
        "counter_code": _text(item, "counter_code", PLAIN_CODE, required=False),
        "procedure_code": _text(item, "procedure_code", PROCEDURE_CODE, required=True),
        "officer_code": _text(item, "officer_code", PLAIN_CODE, required=False),
        "received_at": _time(item, "received_at", required=True),
        "due_at": _time(item, "due_at", required=False),
        "returned_at": _time(item, "returned_at", required=False),
    }
    for value in values.values():
        if isinstance(value, ItemError):
            return value
    for later in ("due_at", "returned_at"):
        if values[later] is not None and values[later] < values["received_at"]:
            return ItemError("bad_time_order", _l("The field %(name)s is earlier than received_at.", name=later))
    return _Item(dossier_code=dossier_code, **values)


def register_transactions(items: list, caller: ApiCaller, *, now: datetime | None = None
                          ) -> list[Registered | ItemError]:
    """Check every item, store the good ones; one outcome per item, in order. The caller commits."""
    now = now or utcnow()
    parsed = [parse_item(item) for item in items]
    good = [p for p in parsed if isinstance(p, _Item)]
    offices = _offices({p.office_code for p in good})
    counters = _counters({p.counter_code for p in good if p.counter_code})
    procedures = _procedures({p.procedure_code for p in good})
    rows: list[dict | ItemError] = []
    for p in parsed:
        rows.append(p if isinstance(p, ItemError) else _row(p, caller, offices, counters, procedures))

    # Within the batch, a dossier sent twice must be sent the same way.
    first: dict[str, dict] = {}
    for i, row in enumerate(rows):
        if isinstance(row, dict):
            seen = first.setdefault(row["dossier_code"], row)
            if seen is not row and seen != row:
                rows[i] = ItemError("duplicate_in_batch",
                                    _l("This dossier appears earlier in the batch with other values."))

    unique = {row["dossier_code"]: row for row in reversed(rows) if isinstance(row, dict)}
    outcomes = _store(unique, now, caller.key_id or None)
    return [row if isinstance(row, ItemError) else outcomes[row["dossier_code"]] for row in rows]


def _row(p: _Item, caller: ApiCaller, offices, counters, procedures) -> dict | ItemError:
    office_id = offices.get(p.office_code)
    if office_id is None:
        return ItemError("unknown_office", _l("There is no one-stop office with this code."), 404)
    if not caller.may_use(office_id):
        return ItemError("out_of_scope", _l("This API key may not register or read transactions of this office."), 403)
    counter_id = None
    if p.counter_code:
        counter_id = counters.get((p.counter_code, office_id))
        if counter_id is None:
            return ItemError("unknown_counter", _l("This office has no counter with this code."), 404)
    return {"dossier_code": p.dossier_code, "office_id": office_id, "counter_id": counter_id,
            "procedure_code": p.procedure_code, "procedure_id": procedures.get(p.procedure_code),
            "officer_code": p.officer_code, "received_at": p.received_at, "due_at": p.due_at,
            "returned_at": p.returned_at}


def _store(rows: dict[str, dict], now: datetime, api_key_id: int | None) -> dict[str, Registered | ItemError]:
    outcomes: dict[str, Registered | ItemError] = {}
    existing = _existing(rows)
    # The key that registers a dossier first is kept; a re-send (by it or another key) does not change it.
    new = [dict(row, created_at=now, updated_at=now, api_key_id=api_key_id)
           for code, row in rows.items() if code not in existing]
    if new:
        connection = db.session.connection()
        statement = _INSERTS[connection.dialect.name](Transaction.__table__).on_conflict_do_nothing()
        statement = statement.returning(Transaction.__table__.c.id, Transaction.__table__.c.dossier_code)
        # insertmanyvalues: a few statements for the whole batch; skipped (raced) rows return nothing.
        inserted = {code: id_ for id_, code in connection.execute(statement, new).all()}
        for row in new:
            code = row["dossier_code"]
            if code in inserted:
                outcomes[code] = Registered(inserted[code], code, "created", now, row["returned_at"])
        raced = [code for code in (r["dossier_code"] for r in new) if code not in inserted]
        if raced:  # stored by a concurrent request a moment ago: treat as a re-send
            existing.update(_existing({code: rows[code] for code in raced}))
    for code, stored in existing.items():
        outcomes[code] = _resend(stored, rows[code], now)
    return outcomes


def _resend(stored: Transaction, row: dict, now: datetime) -> Registered | ItemError:
    if any(getattr(stored, name) != row[name] for name in FIXED):
        return ItemError("dossier_conflict", _l(
            "This dossier code is registered already with another office, receiving time or procedure."), 409)
    changed = [name for name in MUTABLE if getattr(stored, name) != row[name]]
    for name in changed:
        setattr(stored, name, row[name])
    if changed:
        stored.updated_at = now
        db.session.flush()
    return Registered(stored.id, stored.dossier_code, "updated" if changed else "unchanged", stored.created_at,
                      stored.returned_at)


def _existing(rows: Iterable[str]) -> dict[str, Transaction]:
    codes = list(rows)
    found = {}
    for start in range(0, len(codes), 500):
        chunk = codes[start:start + 500]
        found.update({t.dossier_code: t for t in db.session.scalars(
            select(Transaction).where(Transaction.dossier_code.in_(chunk)))})
    return found


def _offices(codes: set[str]) -> dict[str, int]:
    if not codes:
        return {}
    return dict(db.session.execute(
        select(Unit.code, Unit.id).where(Unit.code.in_(codes), Unit.level == UnitLevel.OFFICE, Unit.valid_to.is_(None))
    ).all())


def _counters(codes: set[str]) -> dict[tuple[str, int], int]:
    if not codes:
        return {}
    rows = db.session.execute(
        select(Unit.code, Unit.parent_id, Unit.id).where(Unit.code.in_(codes), Unit.level == UnitLevel.COUNTER)
    ).all()
    return {(code, parent_id): id_ for code, parent_id, id_ in rows}


def _procedures(codes: set[str]) -> dict[str, int]:
    if not codes:
        return {}
    return dict(db.session.execute(select(Procedure.code, Procedure.id).where(Procedure.code.in_(codes))).all())
