"""API keys: create, list and revoke them (operations; the caller commits), and the ``Bearer``
authentication of the API's writing endpoints.

A key is scoped to units: it may register and read transactions of offices inside those units'
subtrees, nothing else. The scope is resolved with one recursive query per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import wraps

from flask import g, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from survey.api.errors import APIError
from survey.audit.log import record
from survey.extensions import db
from survey.models import ApiKey, Unit, User, api_key_units
from survey.models._common import utcnow
from survey.models.api_keys import hash_api_key
from survey.units import tree


class ApiKeyError(ValueError):
    """A key that cannot be created or revoked (the message is for the command line)."""


@dataclass(frozen=True)
class ApiCaller:
    """The authenticated caller of one request: its key and the ids of every unit it may touch."""

    #: 0 for the command-line import, which uses no key.
    key_id: int
    name: str
    unit_ids: frozenset[int]

    def may_use(self, unit_id: int) -> bool:
        return unit_id in self.unit_ids


def create_api_key(name: str, unit_codes: list[str], *, actor: User | None = None) -> tuple[ApiKey, str]:
    """A new key for ``unit_codes``; returns the row and the key (shown once, only its hash is stored).
    Written to the audit log (``actor`` None: the command line). The caller checks that the actor
    may give a key for these units (the manager pages load them through the scope loaders)."""
    name = (name or "").strip()
    if not name:
        raise ApiKeyError("A key needs a name (--name).")
    if not unit_codes:
        raise ApiKeyError("A key needs at least one unit (--unit CODE).")
    units = db.session.scalars(select(Unit).where(Unit.code.in_(unit_codes)).order_by(Unit.code)).all()
    missing = sorted(set(unit_codes) - {u.code for u in units})
    if missing:
        raise ApiKeyError(f"No unit with code {', '.join(missing)}.")
    api_key = ApiKey(name=name, key_hash="", key_start="", units=list(units))
    key = api_key.issue()
    db.session.add(api_key)
    db.session.flush()
    record(actor, "api_key_created", api_key, unit=audit_unit(units),
           data={"name": name, "units": sorted(u.code for u in units)})
    return api_key, key


def audit_unit(units: list[Unit]) -> Unit | None:
    """The unit an entry about a key is filed under: the lowest unit above or at all of the key's
    units, so the administrators of that unit read it (None: only the national administrators)."""
    chains = []
    for unit in units:
        chain = []
        while unit is not None:
            chain.append(unit)
            unit = unit.parent
        chains.append(chain[::-1])  # root first
    common = None
    for level in zip(*chains):
        if any(u is not level[0] for u in level):
            break
        common = level[0]
    return common


def list_api_keys() -> list[ApiKey]:
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_api_key(api_key: ApiKey | int, *, actor: User | None = None) -> bool:
    """Revoke the key (a row, or its id from the command line): from now on every request with it is
    refused. True when it was active; False when it was revoked already (nothing is written)."""
    if not isinstance(api_key, ApiKey):
        row = db.session.get(ApiKey, api_key)
        if row is None:
            raise ApiKeyError(f"No API key with id {api_key}.")
        api_key = row
    if api_key.revoked_at is not None:
        return False
    api_key.revoked_at = utcnow()
    db.session.flush()
    record(actor, "api_key_revoked", api_key, unit=audit_unit(list(api_key.units)), data={"name": api_key.name})
    return True


#: A key's ``last_used_at`` is written again only when it is older than this (seconds).
LAST_USE_RESOLUTION = 60


def note_use(key_id: int, last_used_at: datetime | None, *, now: datetime | None = None) -> bool:
    """Record that the key was used now, unless that was already recorded within the last minute (so
    a busy system costs one write a minute, not one a request). True when a write was flushed."""
    now = now or utcnow()
    if last_used_at is not None and (now - last_used_at).total_seconds() < LAST_USE_RESOLUTION:
        return False
    db.session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
    return True


def subtree_ids(root_ids: list[int]) -> frozenset[int]:
    """The ids of ``root_ids``, of every unit below them and of every unit merged into one of those
    (:func:`survey.units.tree.subtree_ids`: a key for a province also covers what merged into it)."""
    return frozenset(tree.subtree_ids(root_ids))


def authenticate(header: str | None) -> ApiCaller:
    """The caller named by an ``Authorization: Bearer <key>`` header, or an :class:`APIError` (401)."""
    scheme, _, key = (header or "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise APIError(401, "missing_api_key", _l("This request needs an API key: send Authorization: Bearer <key>."))
    row = db.session.execute(
        select(ApiKey.id, ApiKey.name, ApiKey.revoked_at, ApiKey.last_used_at)
        .where(ApiKey.key_hash == hash_api_key(key))
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        raise APIError(401, "invalid_api_key", _l("This API key is unknown or has been revoked."))
    if note_use(row.id, row.last_used_at):
        # Nothing else is pending this early in the request: this commit holds only the time of use.
        db.session.commit()
    roots = list(db.session.scalars(select(api_key_units.c.unit_id).where(api_key_units.c.api_key_id == row.id)))
    return ApiCaller(row.id, row.name, subtree_ids(roots))


def require_api_key(view):
    """The view runs with ``g.api_caller`` set, or the request gets a 401 ``{code, message}``."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        g.api_caller = authenticate(request.headers.get("Authorization"))
        return view(*args, **kwargs)

    wrapped.requires_api_key = True
    return wrapped


def out_of_scope() -> APIError:
    return APIError(403, "out_of_scope", _l("This API key may not register or read transactions of this office."))
