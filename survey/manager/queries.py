"""What the manager pages read besides the results: comments, always inside a scope and masked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from survey.extensions import db
from survey.manager.masking import mask_personal_data
from survey.models import AuditEntry, Kiosk, Rating, Unit, UnitLevel, User
from survey.models._common import utcnow
from survey.results.service import vietnam_today
from survey.settings.queries import keep_unmasked_comments
from survey.units.scope import Scope, in_scope
from survey.units.tree import subtree_cte

#: Comments per page.
COMMENTS_PER_PAGE = 50


@dataclass(frozen=True)
class Comment:
    rating_id: int
    service_date: date
    created_at: datetime
    office_code: str
    office_name_vi: str
    office_name_en: str | None
    counter_name_vi: str | None
    counter_name_en: str | None
    channel: str
    overall_value: int
    #: The comment with personal data masked: the original never leaves this module.
    text: str


def comments_in_scope(scope: Scope, *, unit: Unit | None = None, page: int = 1,
                      labels: Mapping[str, str] | None = None) -> tuple[list[Comment], bool]:
    """One page of comments (newest first) of ``scope``, or of ``unit``'s subtree inside it, masked;
    and whether a further page exists. Flagged ratings are left out."""
    office, counter = aliased(Unit), aliased(Unit)
    query = (
        select(Rating.id, Rating.service_date, Rating.created_at, office.code, office.name_vi, office.name_en,
               counter.name_vi, counter.name_en, Rating.channel, Rating.overall_value, Rating.comment)
        .join(office, office.id == Rating.office_id)
        .outerjoin(counter, counter.id == Rating.counter_id)
        .where(Rating.comment.is_not(None), Rating.comment != "", Rating.flag.is_(None), in_scope(Rating, scope))
        .order_by(Rating.created_at.desc(), Rating.id.desc())
        .limit(COMMENTS_PER_PAGE + 1).offset((page - 1) * COMMENTS_PER_PAGE)
    )
    if unit is not None and unit.level == UnitLevel.COUNTER:
        query = query.where(Rating.counter_id == unit.id)
    elif unit is not None:
        subtree = subtree_cte(unit.id, "chosen_subtree")
        query = query.where(Rating.office_id.in_(select(subtree.c.id)))
    rows = db.session.execute(query).all()
    comments = [
        Comment(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], str(r[8]), r[9], mask_personal_data(r[10], labels))
        for r in rows[:COMMENTS_PER_PAGE]
    ]
    return comments, len(rows) > COMMENTS_PER_PAGE


def masked_comment(rating: Rating, labels: Mapping[str, str] | None = None) -> str | None:
    """A rating's comment (loaded in scope) as a manager may see it."""
    return mask_personal_data(rating.comment, labels)


def original_comment(rating: Rating) -> str | None:
    """A rating's comment (loaded in scope) as the citizen wrote it, only while an administrator keeps
    originals (survey.settings); None otherwise. Lists and exports never show it."""
    return rating.comment if keep_unmasked_comments() else None


def users_in_scope(scope: Scope) -> list[User]:
    """The accounts bound to units of ``scope`` (every account for a national administrator)."""
    return list(db.session.scalars(select(User).where(in_scope(User, scope)).order_by(User.email)))


def kiosks_in_scope(scope: Scope) -> list[Kiosk]:
    """The kiosks of the offices in ``scope``, active first."""
    return list(db.session.scalars(
        select(Kiosk).where(in_scope(Kiosk, scope)).order_by(Kiosk.revoked_at.is_not(None), Kiosk.id)
    ))


@dataclass(frozen=True)
class KioskHealth:
    """What a manager needs to see about one kiosk tablet (reported by the tablet, counted here)."""

    #: Ratings received from the kiosk today (Vietnam's day), flagged ones included.
    ratings_today: int
    #: Active, heard from before, but not for KIOSK_SILENT_MINUTES.
    silent: bool
    #: The tablet's clock was further than KIOSK_CLOCK_SKEW_WARN_SECONDS from the server's.
    clock_off: bool
    #: How far off the tablet's clock was, in whole minutes (None: never measured).
    skew_minutes: int | None
    #: Active and never heard from: the whole days since it was registered (None: it has been heard
    #: from, or it is revoked). A tablet not yet set up is not an alarm; after a day it is worth a look.
    never_connected_days: int | None = None


def kiosk_health(kiosks: list[Kiosk], *, now: datetime | None = None) -> dict[int, KioskHealth]:
    """Health of each kiosk in ``kiosks``, by id: one query counts today's ratings of them all."""
    now = now or utcnow()
    ids = [k.id for k in kiosks]
    today = dict(db.session.execute(
        select(Rating.kiosk_id, func.count()).where(Rating.kiosk_id.in_(ids), Rating.service_date == vietnam_today())
        .group_by(Rating.kiosk_id)
    ).all()) if ids else {}
    silent_after = now - timedelta(minutes=current_app.config["KIOSK_SILENT_MINUTES"])
    skew_limit = current_app.config["KIOSK_CLOCK_SKEW_WARN_SECONDS"]
    return {k.id: KioskHealth(
        ratings_today=today.get(k.id, 0),
        silent=k.is_active and k.last_contact_at is not None and k.last_contact_at < silent_after,
        clock_off=k.clock_skew_seconds is not None and abs(k.clock_skew_seconds) > skew_limit,
        skew_minutes=None if k.clock_skew_seconds is None else round(abs(k.clock_skew_seconds) / 60),
        never_connected_days=(now - k.created_at).days if k.is_active and k.last_contact_at is None else None,
    ) for k in kiosks}


def units_in_scope(scope: Scope, level: UnitLevel) -> list[Unit]:
    """The current units of one level in ``scope`` (for choosing an office or a counter)."""
    return list(db.session.scalars(
        select(Unit).where(Unit.level == level, Unit.valid_to.is_(None), in_scope(Unit, scope)).order_by(Unit.code)
    ))


#: Audit entries per page.
AUDIT_PER_PAGE = 100


def audit_in_scope(scope: Scope, *, page: int = 1) -> tuple[list[AuditEntry], bool]:
    """One page of the audit entries of ``scope``'s units, newest first, and whether more exist."""
    rows = list(db.session.scalars(
        select(AuditEntry).where(in_scope(AuditEntry, scope)).order_by(AuditEntry.id.desc())
        .limit(AUDIT_PER_PAGE + 1).offset((page - 1) * AUDIT_PER_PAGE)
    ))
    return rows[:AUDIT_PER_PAGE], len(rows) > AUDIT_PER_PAGE


#: Complaint cases per page.
CASES_PER_PAGE = 50


@dataclass(frozen=True)
class CaseRow:
    case: object
    office_name_vi: str
    office_name_en: str | None
    overall_value: int
    #: The rating's comment with personal data masked.
    text: str


def cases_in_scope(scope: Scope, *, unit: Unit | None = None, page: int = 1, show_closed: bool = False,
                   labels: Mapping[str, str] | None = None) -> tuple[list[CaseRow], bool]:
    """One page of the complaint cases of ``scope`` (or of ``unit``'s subtree inside it), oldest
    deadline first, comments masked; closed cases only with ``show_closed``."""
    from survey.models import ComplaintCase

    query = (
        select(ComplaintCase, Unit.name_vi, Unit.name_en, Rating.overall_value, Rating.comment)
        .join(Rating, Rating.id == ComplaintCase.rating_id).join(Unit, Unit.id == ComplaintCase.office_id)
        .where(in_scope(ComplaintCase, scope))
        .order_by(ComplaintCase.closed_at.is_not(None), ComplaintCase.due_at, ComplaintCase.id)
        .limit(CASES_PER_PAGE + 1).offset((page - 1) * CASES_PER_PAGE)
    )
    if not show_closed:
        query = query.where(ComplaintCase.closed_at.is_(None))
    if unit is not None:
        subtree = subtree_cte(unit.id, "chosen_subtree")
        query = query.where(ComplaintCase.office_id.in_(select(subtree.c.id)))
    rows = db.session.execute(query).all()
    out = [CaseRow(r[0], r[1], r[2], r[3], mask_personal_data(r[4], labels)) for r in rows[:CASES_PER_PAGE]]
    return out, len(rows) > CASES_PER_PAGE


#: Flagged ratings per page.
FLAGGED_PER_PAGE = 50


@dataclass(frozen=True)
class FlaggedRating:
    rating_id: int
    flag: str
    flag_note: str | None
    flagged_at: datetime | None
    created_at: datetime
    office_name_vi: str
    office_name_en: str | None
    counter_name_vi: str | None
    counter_name_en: str | None
    kiosk_label: str | None
    channel: str
    overall_value: int
    #: The comment with personal data masked.
    text: str | None
    #: A reviewer confirmed the current flag.
    confirmed: bool


def flagged_in_scope(scope: Scope, *, unit: Unit | None = None, page: int = 1,
                     labels: Mapping[str, str] | None = None) -> tuple[list[FlaggedRating], bool]:
    """One page of the flagged ratings of ``scope`` (or ``unit``'s subtree inside it): those not yet
    confirmed first, newest flag first; comments masked."""
    from sqlalchemy import exists

    from survey.models import FlagReview

    office, counter = aliased(Unit), aliased(Unit)
    confirmed = exists().where(FlagReview.rating_id == Rating.id, FlagReview.decision == "confirmed",
                               FlagReview.created_at >= Rating.flagged_at)
    query = (
        select(Rating.id, Rating.flag, Rating.flag_note, Rating.flagged_at, Rating.created_at, office.name_vi,
               office.name_en, counter.name_vi, counter.name_en, Kiosk.label, Rating.channel, Rating.overall_value,
               Rating.comment, confirmed)
        .join(office, office.id == Rating.office_id)
        .outerjoin(counter, counter.id == Rating.counter_id)
        .outerjoin(Kiosk, Kiosk.id == Rating.kiosk_id)
        .where(Rating.flag.is_not(None), in_scope(Rating, scope))
        .order_by(confirmed, Rating.flagged_at.desc(), Rating.id.desc())
        .limit(FLAGGED_PER_PAGE + 1).offset((page - 1) * FLAGGED_PER_PAGE)
    )
    if unit is not None:
        subtree = subtree_cte(unit.id, "chosen_subtree")
        query = query.where(Rating.office_id.in_(select(subtree.c.id)))
    rows = db.session.execute(query).all()
    out = [FlaggedRating(*r[:10], str(r[10]), r[11], mask_personal_data(r[12], labels), bool(r[13]))
           for r in rows[:FLAGGED_PER_PAGE]]
    return out, len(rows) > FLAGGED_PER_PAGE
