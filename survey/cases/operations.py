"""Complaint cases: opened once per negative rating with a comment, then acknowledged, answered and
closed by a manager of the rating's scope. Every change a person makes is written to the audit log
by the function that makes it. Functions flush; the caller commits.

A case is opened by :func:`open_cases` (the periodic job ``open_complaint_cases``), for a rating
that is closed to changes (the citizen sent or skipped the follow-up), not flagged, whose overall
answer is below the middle of its scale and which has a comment or a reply request
(:func:`request_reply`: the citizen asked for a reply and gave a phone number or e-mail address). The unique ``rating_id`` of
``complaint_cases`` and an ``INSERT … ON CONFLICT DO NOTHING`` make it exactly once, even when two
workers run the job at the same moment.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, false, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from survey.audit.log import record
from survey.extensions import db
from survey.manager.masking import is_phone_number
from survey.models import ComplaintCase, Questionnaire, Rating, ReplyRequest, User
from survey.models._common import utcnow

#: The longest answer a manager may write.
ANSWER_MAX_LENGTH = 2000


class CaseError(Exception):
    """A change the case's state does not allow (shown to the person, HTTP 409)."""

    def __init__(self, code: str, message, status: int = 409):
        super().__init__(code)
        self.code, self.message, self.status = code, message, status


def negative_values(questionnaire: Questionnaire) -> list[int]:
    """The overall answers below the middle of the scale (the sad faces)."""
    values = list(questionnaire.overall_question.scale.values)
    return [v for i, v in enumerate(values) if 2 * i < len(values) - 1]


def _negative_condition():
    parts = []
    for questionnaire in db.session.scalars(select(Questionnaire)):
        negatives = negative_values(questionnaire)
        if negatives:
            parts.append(and_(Rating.questionnaire_id == questionnaire.id, Rating.overall_value.in_(negatives)))
    return or_(*parts) if parts else false()


def deadline_days() -> int:
    return int(current_app.config["CASE_DEADLINE_DAYS"])


def open_cases(*, now: datetime | None = None) -> int:
    """Open a case for every rating that calls for one and has none yet; returns how many were opened."""
    now = now or utcnow()
    due = now + timedelta(days=deadline_days())
    candidates = (
        select(Rating.id, Rating.office_id, literal(now), literal(due))
        .where(Rating.completed_at.is_not(None), Rating.flag.is_(None),
               and_(Rating.comment.is_not(None), Rating.comment != "")
               | exists().where(ReplyRequest.rating_id == Rating.id),
               _negative_condition(),
               ~exists().where(ComplaintCase.rating_id == Rating.id))
    )
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ComplaintCase)
    statement = insert.from_select(["rating_id", "office_id", "opened_at", "due_at"], candidates)
    statement = statement.on_conflict_do_nothing(index_elements=["rating_id"])
    # RETURNING counts what was inserted (rowcount of INSERT … SELECT is -1 with psycopg).
    opened = len(db.session.execute(statement.returning(ComplaintCase.id)).all())
    db.session.flush()
    return opened


#: An e-mail address a reply can be sent to (a phone number is checked as the masking recognises it).
_CONTACT_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")


def valid_contact(contact: str | None) -> str | None:
    """The contact, stripped, if it is a Vietnamese phone number or an e-mail address; else None."""
    contact = (contact or "").strip()
    if len(contact) > 254:
        return None
    if is_phone_number(contact) or _CONTACT_EMAIL.fullmatch(contact):
        return contact
    return None


def request_reply(rating: Rating, contact: str, *, now: datetime | None = None) -> ReplyRequest:
    """The citizen wants a reply at ``contact``: kept with the rating (once; a second request replaces
    the contact). The case opens when the rating closes, like a case for a comment."""
    checked = valid_contact(contact)
    if checked is None:
        raise CaseError("bad_contact", _l("Please give a phone number or an e-mail address."), 400)
    found = db.session.scalar(select(ReplyRequest).where(ReplyRequest.rating_id == rating.id))
    if found is None:
        found = ReplyRequest(rating_id=rating.id, contact=checked, created_at=now or utcnow())
        db.session.add(found)
    else:
        found.contact = checked
    db.session.flush()
    return found


def reply_contact(case: ComplaintCase) -> str | None:
    """The contact the citizen gave for a reply (for the case page of a manager in scope), or None."""
    return db.session.scalar(select(ReplyRequest.contact).where(ReplyRequest.rating_id == case.rating_id))


def _audit(actor: User, action: str, case: ComplaintCase, data: dict | None = None) -> None:
    record(actor, action, case, unit=case.office, data={"rating_id": case.rating_id, **(data or {})})


def acknowledge(case: ComplaintCase, actor: User, *, now: datetime | None = None) -> None:
    """The manager has seen the case."""
    if case.state != "open":
        raise CaseError("not_open", _l("This case was already acknowledged."))
    case.acknowledged_at, case.acknowledged_by_id = now or utcnow(), actor.id
    _audit(actor, "case_acknowledged", case)
    db.session.flush()


def answer(case: ComplaintCase, actor: User, text: str, *, now: datetime | None = None) -> None:
    """Record the answer given to the citizen (acknowledging the case if nobody had)."""
    text = (text or "").strip()
    if not text:
        raise CaseError("empty", _l("Please write the answer."), 400)
    if len(text) > ANSWER_MAX_LENGTH:
        raise CaseError("too_long", _l("The answer is too long."), 400)
    if case.state not in ("open", "acknowledged"):
        raise CaseError("answered", _l("This case was already answered."))
    now = now or utcnow()
    if case.acknowledged_at is None:
        case.acknowledged_at, case.acknowledged_by_id = now, actor.id
    case.answered_at, case.answered_by_id, case.answer_text = now, actor.id, text
    _audit(actor, "case_answered", case, {"on_time": case.answered_on_time})
    db.session.flush()


def close(case: ComplaintCase, actor: User, *, now: datetime | None = None) -> None:
    """Close an answered case."""
    if case.state != "answered":
        raise CaseError("not_answered" if case.state != "closed" else "closed",
                        _l("Only an answered case can be closed.") if case.state != "closed"
                        else _l("This case is already closed."))
    case.closed_at, case.closed_by_id = now or utcnow(), actor.id
    _audit(actor, "case_closed", case)
    db.session.flush()
