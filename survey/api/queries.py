"""What the manager pages read about the one-stop integration: the API keys of a scope and what each
one registered, and the CSV files uploaded in a scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from survey.extensions import db
from survey.models import ApiKey, Rating, Transaction, TransactionImport, Unit
from survey.models._common import utcnow
from survey.units.scope import Scope, in_scope

#: The "recent" window of a key's activity, in days.
RECENT_DAYS = 30


def api_keys_in_scope(scope: Scope) -> list[ApiKey]:
    """The keys whose every unit lies in ``scope`` (every key for a national administrator), active first."""
    return list(db.session.scalars(
        select(ApiKey).where(in_scope(ApiKey, scope)).order_by(ApiKey.revoked_at.is_not(None), ApiKey.id)
    ))


@dataclass(frozen=True)
class OfficeActivity:
    """The transactions one key registered for one office."""

    office: Unit
    registered: int
    recent: int
    rated: int
    last_registered_at: datetime


def api_key_activity(api_key: ApiKey, *, now: datetime | None = None) -> list[OfficeActivity]:
    """Per office, the transactions this key registered first: all of them, those of the last
    :data:`RECENT_DAYS` days, how many have been rated through their link, and the latest one."""
    since = (now or utcnow()) - timedelta(days=RECENT_DAYS)
    rated = select(Rating.id).where(Rating.transaction_ref == Transaction.dossier_code).exists()
    rows = db.session.execute(
        select(Transaction.office_id, func.count(Transaction.id),
               func.count(Transaction.id).filter(Transaction.created_at >= since),
               func.count(Transaction.id).filter(rated), func.max(Transaction.created_at))
        .where(Transaction.api_key_id == api_key.id)
        .group_by(Transaction.office_id)
    ).all()
    offices = {u.id: u for u in db.session.scalars(select(Unit).where(Unit.id.in_([r[0] for r in rows])))}
    activity = [OfficeActivity(offices[office_id], registered, recent, rated_count, last)
                for office_id, registered, recent, rated_count, last in rows]
    return sorted(activity, key=lambda a: a.office.code)


def imports_in_scope(scope: Scope, *, limit: int = 20) -> list[TransactionImport]:
    """The latest files uploaded in ``scope``, newest first."""
    return list(db.session.scalars(
        select(TransactionImport).where(in_scope(TransactionImport, scope))
        .order_by(TransactionImport.id.desc()).limit(limit)
    ))
