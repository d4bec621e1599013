"""The one way a rating enters the database.

Kiosk and phone pages call these functions today; the JSON API and the offline kiosk queue
will call the same ones. Every rule that protects the numbers (scale, known questions,
idempotency, kiosk bursts, follow-up window) is checked here, so no channel can skip it.
Functions flush; the caller commits (one commit per request).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from survey.extensions import db
from survey.models import Answer, Channel, Kiosk, Questionnaire, Rating, Unit
from survey.models._common import utcnow

IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: Control characters other than tab and newlines: PostgreSQL refuses NUL in text, and none belong in a comment.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


class SubmissionError(Exception):
    """A rating that cannot be stored; ``message`` is shown to the citizen in their language."""

    def __init__(self, code: str, message, status: int = 400):
        super().__init__(code)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class RatingSubmission:
    """What any channel hands over: already parsed, not yet trusted."""

    idempotency_key: str
    questionnaire: Questionnaire
    office: Unit
    channel: Channel
    answers: Mapping[int, int]
    counter: Unit | None = None
    kiosk: Kiosk | None = None
    procedure_id: int | None = None
    comment: str | None = None
    locale: str = "vi"
    transaction_ref: str | None = None


def check_answers(questionnaire: Questionnaire, answers: Mapping[int, int], *, require_overall: bool) -> None:
    """Every answer must be to a question of this questionnaire and on that question's scale."""
    questions = {q.id: q for q in questionnaire.questions}
    unknown = [qid for qid in answers if qid not in questions]
    if unknown:
        raise SubmissionError("unknown_question", _l("This answer is for a question that is not in this survey."))
    for qid, value in answers.items():
        if value not in questions[qid].scale.values:
            raise SubmissionError("out_of_scale", _l("Please choose one of the answers shown."))
    if require_overall and questionnaire.overall_question.id not in answers:
        raise SubmissionError("missing_overall", _l("Please choose how satisfied you are."))


def check_comment(comment: str | None) -> str | None:
    if comment is None:
        return None
    comment = CONTROL_CHARACTERS.sub("", comment).strip()
    limit = current_app.config["COMMENT_MAX_LENGTH"]
    if len(comment) > limit:
        raise SubmissionError(
            "comment_too_long", _l("Your comment is too long (at most %(limit)d characters).", limit=limit)
        )
    return comment or None


def check_idempotency_key(key: str) -> None:
    if not key or not IDEMPOTENCY_KEY_PATTERN.match(key):
        raise SubmissionError("bad_key", _l("This page is out of date. Please start again."))


def find_rating(idempotency_key: str) -> Rating | None:
    return db.session.scalar(select(Rating).where(Rating.idempotency_key == idempotency_key))


def _claim_kiosk_slot(kiosk: Kiosk, now: datetime) -> bool:
    """Atomically record a new rating time unless the kiosk had one a moment ago (a burst of taps)."""
    threshold = now - timedelta(seconds=current_app.config["KIOSK_MIN_INTERVAL_SECONDS"])
    result = db.session.execute(
        update(Kiosk)
        .where(Kiosk.id == kiosk.id, or_(Kiosk.last_rating_at.is_(None), Kiosk.last_rating_at <= threshold))
        .values(last_rating_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def submit_rating(sub: RatingSubmission, *, now: datetime | None = None) -> tuple[Rating, bool]:
    """Store a rating once. Returns ``(rating, created)``; a repeated key returns the stored rating."""
    check_idempotency_key(sub.idempotency_key)
    existing = find_rating(sub.idempotency_key)
    if existing is not None:
        _check_same_source(existing, sub)
        return existing, False
    check_answers(sub.questionnaire, sub.answers, require_overall=True)
    comment = check_comment(sub.comment)
    if sub.kiosk is not None and not sub.kiosk.is_active:
        raise SubmissionError("kiosk_revoked", _l("This kiosk is no longer registered."), 403)

    now = now or utcnow()
    if sub.kiosk is not None and not _claim_kiosk_slot(sub.kiosk, now):
        # The "burst" may be our own double tap that another worker has just stored.
        existing = find_rating(sub.idempotency_key)
        if existing is not None:
            return existing, False
        raise SubmissionError(
            "kiosk_burst", _l("A rating was just recorded here. Please wait a few seconds."), 429
        )
    local_date = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(LOCAL_TZ).date()
    overall = sub.questionnaire.overall_question
    rating = Rating(
        idempotency_key=sub.idempotency_key,
        transaction_ref=sub.transaction_ref,
        questionnaire=sub.questionnaire,
        office_id=sub.office.id,
        counter_id=sub.counter.id if sub.counter else None,
        procedure_id=sub.procedure_id,
        kiosk_id=sub.kiosk.id if sub.kiosk else None,
        channel=sub.channel,
        locale=sub.locale,
        overall_value=sub.answers[overall.id],
        comment=comment,
        created_at=now,
        service_date=local_date,
        period_month=local_date.year * 100 + local_date.month,
        answers=[Answer(question_id=qid, value=value) for qid, value in sub.answers.items()],
    )
    try:
        with db.session.begin_nested():
            db.session.add(rating)
    except IntegrityError:
        # Lost a race with the same key (a double tap reaching two workers): keep the first.
        existing = find_rating(sub.idempotency_key)
        if existing is None:
            raise SubmissionError(
                "duplicate_transaction", _l("This transaction has already been rated."), 409
            ) from None
        return existing, False
    return rating, True


def _check_same_source(existing: Rating, sub: RatingSubmission) -> None:
    if existing.office_id != sub.office.id or existing.channel != sub.channel:
        raise SubmissionError("key_conflict", _l("This page is out of date. Please start again."), 409)


def add_follow_up(
    rating: Rating,
    answers: Mapping[int, int],
    *,
    comment: str | None = None,
    procedure_id: int | None = None,
    now: datetime | None = None,
) -> Rating:
    """Add the optional answers after the first tap, once. Sending the same follow-up again changes
    nothing; a different one after it was sent (e.g. the next person pressing Back) is refused."""
    now = now or utcnow()
    overall_id = rating.questionnaire.overall_question.id
    if overall_id in answers:
        raise SubmissionError("unknown_question", _l("This answer is for a question that is not in this survey."))
    check_answers(rating.questionnaire, answers, require_overall=False)
    comment = check_comment(comment)
    if rating.completed_at is not None:
        stored = rating.answer_map()
        same = all(stored.get(qid) == value for qid, value in answers.items()) and comment == rating.comment
        if same and (procedure_id is None or procedure_id == rating.procedure_id):
            return rating
        raise SubmissionError("follow_up_closed", _l("This survey has closed. Thank you, your rating was recorded."), 409)
    _check_follow_up_window(rating, now)
    stored_answers = {a.question_id: a for a in rating.answers}
    for qid, value in answers.items():
        if qid in stored_answers:
            stored_answers[qid].value = value
        else:
            rating.answers.append(Answer(question_id=qid, value=value))
    if comment is not None:
        rating.comment = comment
    if procedure_id is not None:
        rating.procedure_id = procedure_id
    rating.completed_at = now
    db.session.flush()
    return rating


def skip_follow_up(rating: Rating, *, now: datetime | None = None) -> Rating:
    """The citizen is done after the first tap: close the rating to further changes."""
    if rating.completed_at is None:
        rating.completed_at = now or utcnow()
        db.session.flush()
    return rating


def _check_follow_up_window(rating: Rating, now: datetime) -> None:
    window = timedelta(minutes=current_app.config["FOLLOW_UP_WINDOW_MINUTES"])
    if now - rating.created_at > window:
        raise SubmissionError("follow_up_closed", _l("This survey has closed. Thank you, your rating was recorded."), 409)


def questionnaire_for(unit: Unit | None) -> Questionnaire:
    """The current version of the questionnaire configured at this unit or above it (else the default)."""
    code = None
    while unit is not None and code is None:
        code = unit.questionnaire_code
        unit = unit.parent
    code = code or "default"
    questionnaire = db.session.scalar(
        select(Questionnaire)
        .where(Questionnaire.code == code, Questionnaire.retired_at.is_(None))
        .order_by(Questionnaire.version.desc())
        .limit(1)
    )
    if questionnaire is None:
        raise LookupError(f"No active questionnaire with code {code!r}; run 'survey init-db'.")
    return questionnaire
