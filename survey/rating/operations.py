"""The one way a rating enters the database.

Kiosk and phone pages call these functions today; the JSON API and the offline kiosk queue
will call the same ones. Every rule that protects the numbers (scale, known questions,
idempotency, kiosk bursts, follow-up window) is checked here, so no channel can skip it.
Functions write (execute or flush); the caller commits (one commit per request) and rolls back
after a :class:`SubmissionError`.

A new rating is written in one short transaction whose first write comes last: the place lookup
and every check run first, without writing; then the rating ``INSERT``, the kiosk's burst
``UPDATE`` and one ``INSERT`` for all its answers follow back to back, and the caller commits. On
SQLite the write lock is taken at the first write, so it is held for those statements only.
Idempotency is decided by the database: the rating is inserted with ``ON CONFLICT DO NOTHING`` on
its unique key, so a resent form, or two workers racing with the same key, store one rating.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from survey.extensions import db
from survey.manager.masking import mask_personal_data
from survey.models import REASONS, Answer, Channel, Kiosk, Rating, RatingReason
from survey.models._common import utcnow
from survey.questionnaires import QuestionnaireSnapshot, questionnaire_for, questionnaire_version
from survey.settings.queries import keep_unmasked_comments

IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: Control characters other than tab and newlines: PostgreSQL refuses NUL in text, and none belong in a comment.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
UTC = ZoneInfo("UTC")

__all__ = [
    "RatingSubmission", "StoredRating", "SubmissionError", "add_follow_up", "answer_follow_up", "change_overall",
    "check_answers", "find_rating", "follow_up_is_open", "is_negative", "questionnaire_for", "set_reasons",
    "skip_follow_up", "submit_rating",
]


class SubmissionError(Exception):
    """A rating that cannot be stored; ``message`` is shown to the citizen in their language."""

    def __init__(self, code: str, message, status: int = 400):
        super().__init__(code)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class RatingSubmission:
    """What any channel hands over: already parsed, not yet trusted.

    ``office``, ``counter`` and ``kiosk`` may be models or the plain records of
    :mod:`survey.rating.queries`: only their ``id`` (and the kiosk's ``is_active``) are used.
    """

    idempotency_key: str
    questionnaire: QuestionnaireSnapshot
    office: object
    channel: Channel
    answers: Mapping[int, int]
    counter: object | None = None
    kiosk: object | None = None
    procedure_id: int | None = None
    comment: str | None = None
    locale: str = "vi"
    transaction_ref: str | None = None
    #: Stored but flagged for review from the start (e.g. ``burst``: beyond a human rate); a flagged
    #: rating never enters the counts (see survey.misuse).
    flag: str | None = None
    flag_note: str | None = None


@dataclass(frozen=True)
class StoredRating:
    """A stored rating as plain values: valid after the commit, without reading it again."""

    id: int
    idempotency_key: str
    office_id: int
    channel: Channel
    kiosk_id: int | None
    created_at: datetime
    service_date: date
    period_month: int


def check_answers(questionnaire, answers: Mapping[int, int], *, require_overall: bool) -> None:
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
    if comment and not keep_unmasked_comments():  # the original is kept only if an administrator enabled it
        comment = mask_personal_data(comment)
    return comment or None


def check_idempotency_key(key: str) -> None:
    if not key or not IDEMPOTENCY_KEY_PATTERN.match(key):
        raise SubmissionError("bad_key", _l("This page is out of date. Please start again."))


def find_rating(idempotency_key: str) -> Rating | None:
    """The stored rating as a model (for the follow-up, which changes it)."""
    return db.session.scalar(select(Rating).where(Rating.idempotency_key == idempotency_key))


# The statements of the submission path, built once (plain Core on the tables: cheap to execute).

_DIALECT_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def _supported(dialect: str) -> str:
    if dialect not in _DIALECT_INSERTS:
        raise RuntimeError(f"Ratings are stored on SQLite or PostgreSQL, not {dialect}.")
    return dialect


@cache
def _stored_rating_statement():
    ratings = Rating.__table__
    return select(
        ratings.c.id, ratings.c.idempotency_key, ratings.c.office_id, ratings.c.channel, ratings.c.kiosk_id,
        ratings.c.created_at, ratings.c.service_date, ratings.c.period_month,
    ).where(ratings.c.idempotency_key == bindparam("key"))


@cache
def _insert_rating_statement(dialect: str):
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: no row back means the key (or the transaction
    reference) is stored already, possibly by a worker that won a race a moment ago."""
    ratings = Rating.__table__
    return _DIALECT_INSERTS[_supported(dialect)](ratings).on_conflict_do_nothing().returning(ratings.c.id)


@cache
def _insert_answers_statement():
    return insert(Answer.__table__)


@cache
def _upsert_answers_statement(dialect: str):
    answers = Answer.__table__
    statement = _DIALECT_INSERTS[_supported(dialect)](answers)
    return statement.on_conflict_do_update(
        index_elements=[answers.c.rating_id, answers.c.question_id], set_={"value": statement.excluded.value}
    )


@cache
def _delete_rating_statement():
    """Takes back a rating refused after its insert (no answers are written before the refusal)."""
    ratings = Rating.__table__
    return delete(ratings).where(ratings.c.id == bindparam("rating"))


@cache
def _claim_kiosk_statement():
    kiosks = Kiosk.__table__
    return (
        update(kiosks)
        .where(kiosks.c.id == bindparam("kiosk"), kiosks.c.revoked_at.is_(None),
               or_(kiosks.c.last_rating_at.is_(None), kiosks.c.last_rating_at <= bindparam("threshold")))
        .values(last_rating_at=bindparam("now"))
    )


def _find_stored(idempotency_key: str) -> StoredRating | None:
    row = db.session.connection().execute(_stored_rating_statement(), {"key": idempotency_key}).one_or_none()
    return StoredRating(*row) if row is not None else None


def _claim_kiosk_slot(kiosk_id: int, now: datetime) -> bool:
    """Atomically record a new rating time unless the kiosk had one a moment ago (a burst of taps)
    or has been revoked meanwhile. Concurrent claims on one kiosk wait for each other's row lock."""
    threshold = now - timedelta(seconds=current_app.config["KIOSK_MIN_INTERVAL_SECONDS"])
    result = db.session.connection().execute(
        _claim_kiosk_statement(), {"kiosk": kiosk_id, "threshold": threshold, "now": now}
    )
    return result.rowcount == 1


def submit_rating(sub: RatingSubmission, *, now: datetime | None = None,
                  check_kiosk_burst: bool = True) -> tuple[StoredRating, bool]:
    """Store a rating once. Returns ``(rating, created)``; a repeated key returns the stored rating.

    Three statements for a new phone rating, four for a kiosk rating; nothing is read first: the
    ``INSERT … ON CONFLICT DO NOTHING`` itself tells a new key from a repeated one. A refused
    rating leaves nothing behind in the transaction.
    """
    check_idempotency_key(sub.idempotency_key)
    check_answers(sub.questionnaire, sub.answers, require_overall=True)
    comment = check_comment(sub.comment)
    if sub.kiosk is not None and not sub.kiosk.is_active:
        raise _kiosk_revoked()

    now = now or utcnow()
    local_date = now.replace(tzinfo=UTC).astimezone(LOCAL_TZ).date()
    kiosk_id = sub.kiosk.id if sub.kiosk is not None else None
    row = {
        "idempotency_key": sub.idempotency_key,
        "transaction_ref": sub.transaction_ref,
        "questionnaire_id": sub.questionnaire.id,
        "office_id": sub.office.id,
        "counter_id": sub.counter.id if sub.counter is not None else None,
        "procedure_id": sub.procedure_id,
        "kiosk_id": kiosk_id,
        "channel": sub.channel,
        "locale": sub.locale,
        "overall_value": sub.answers[sub.questionnaire.overall_question.id],
        "comment": comment,
        "flag": sub.flag,
        "flag_note": sub.flag_note if sub.flag else None,
        "flagged_at": now if sub.flag else None,
        "created_at": now,
        "service_date": local_date,
        "period_month": local_date.year * 100 + local_date.month,
    }
    answers = [{"rating_id": None, "question_id": qid, "value": value} for qid, value in sub.answers.items()]
    connection = db.session.connection()  # plain Core on the session's connection and transaction
    insert_rating = _insert_rating_statement(connection.dialect.name)

    # The writes, back to back (all reading and checking is done above).
    rating_id = connection.execute(insert_rating, row).scalar()
    if rating_id is None:
        # The key is stored already: a resent form, or a double tap that reached two workers at
        # once (the database made the second wait for the first, then did nothing). Keep the first.
        existing = _find_stored(sub.idempotency_key)
        if existing is None:
            raise SubmissionError(
                "duplicate_transaction", _l("This transaction has already been rated."), 409
            )
        _check_same_source(existing, sub)
        return existing, False
    # Taps replayed from a kiosk's offline queue are judged on their own tap times (survey.rating.sync).
    if kiosk_id is not None and check_kiosk_burst and not _claim_kiosk_slot(kiosk_id, now):
        connection.execute(_delete_rating_statement(), {"rating": rating_id})
        if db.session.scalar(select(Kiosk.revoked_at).where(Kiosk.id == kiosk_id)) is not None:
            raise _kiosk_revoked()
        raise SubmissionError(
            "kiosk_burst", _l("A rating was just recorded here. Please wait a few seconds."), 429
        )
    for answer in answers:
        answer["rating_id"] = rating_id
    connection.execute(_insert_answers_statement(), answers)
    return StoredRating(rating_id, sub.idempotency_key, row["office_id"], sub.channel, kiosk_id, now,
                        local_date, row["period_month"]), True


def _kiosk_revoked() -> SubmissionError:
    return SubmissionError("kiosk_revoked", _l("This kiosk is no longer registered."), 403)


def _check_same_source(existing: StoredRating, sub: RatingSubmission) -> None:
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
    questionnaire = questionnaire_version(rating.questionnaire_id)
    if questionnaire.overall_question.id in answers:
        raise SubmissionError("unknown_question", _l("This answer is for a question that is not in this survey."))
    check_answers(questionnaire, answers, require_overall=False)
    comment = check_comment(comment)
    if rating.completed_at is not None:
        stored = rating.answer_map()
        same = all(stored.get(qid) == value for qid, value in answers.items()) and comment == rating.comment
        if same and (procedure_id is None or procedure_id == rating.procedure_id):
            return rating
        raise SubmissionError("follow_up_closed", _l("This survey has closed. Thank you, your rating was recorded."), 409)
    _check_follow_up_window(rating, now)
    if comment is not None:
        rating.comment = comment
    if procedure_id is not None:
        rating.procedure_id = procedure_id
    rating.completed_at = now
    db.session.flush()
    if answers:
        # One statement for all the answers (an answer already there is replaced, not duplicated).
        db.session.execute(
            _upsert_answers_statement(db.session.get_bind().dialect.name),
            [{"rating_id": rating.id, "question_id": qid, "value": value} for qid, value in answers.items()],
        )
        db.session.expire(rating, ["answers"])
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
        raise _follow_up_closed()


def _follow_up_closed() -> SubmissionError:
    return SubmissionError("follow_up_closed", _l("This survey has closed. Thank you, your rating was recorded."), 409)


def _later_rating_at_kiosk(rating: Rating) -> bool:
    """A kiosk serves one citizen at a time: once the next rating exists, the previous one is closed."""
    if rating.kiosk_id is None:
        return False
    later = select(Rating.id).where(Rating.kiosk_id == rating.kiosk_id, Rating.id > rating.id).limit(1)
    return db.session.scalar(later) is not None


def follow_up_is_open(rating: Rating, *, now: datetime | None = None) -> bool:
    """Whether the citizen who gave ``rating`` may still add to it (or change it): not closed by
    them or by the kiosk's return to the start, within the window, and no later tap on the kiosk."""
    now = now or utcnow()
    window = timedelta(minutes=current_app.config["FOLLOW_UP_WINDOW_MINUTES"])
    return rating.completed_at is None and now - rating.created_at <= window and not _later_rating_at_kiosk(rating)


def answer_follow_up(
    rating: Rating,
    answers: Mapping[int, int],
    *,
    comment: str | None = None,
    procedure_id: int | None = None,
    now: datetime | None = None,
) -> Rating:
    """Store one step of the follow-up (one question, or the comment and procedure) without closing
    the rating: the citizen may go on. Refused once the rating is closed (see :func:`follow_up_is_open`)."""
    questionnaire = questionnaire_version(rating.questionnaire_id)
    if questionnaire.overall_question.id in answers:
        raise SubmissionError("unknown_question", _l("This answer is for a question that is not in this survey."))
    check_answers(questionnaire, answers, require_overall=False)
    comment = check_comment(comment)
    if not follow_up_is_open(rating, now=now):
        raise _follow_up_closed()
    if comment is not None:
        rating.comment = comment
    if procedure_id is not None:
        rating.procedure_id = procedure_id
    db.session.flush()
    if answers:
        db.session.execute(
            _upsert_answers_statement(db.session.get_bind().dialect.name),
            [{"rating_id": rating.id, "question_id": qid, "value": value} for qid, value in answers.items()],
        )
        db.session.expire(rating, ["answers"])
    return rating


def change_overall(rating: Rating, value: int, *, now: datetime | None = None) -> Rating:
    """"Change my answer": replace the overall answer of an open rating, shortly after the tap.

    The same rating, not a second one. When the count tables hold the old answer already, the same
    transaction moves that count to the new answer (a flagged rating is in no count)."""
    from survey.results.counts import adjust_for_flag  # the counts module imports the models, not us

    now = now or utcnow()
    questionnaire = questionnaire_version(rating.questionnaire_id)
    overall_id = questionnaire.overall_question.id
    check_answers(questionnaire, {overall_id: value}, require_overall=True)
    if not follow_up_is_open(rating, now=now):
        raise _follow_up_closed()
    if now - rating.created_at > timedelta(seconds=current_app.config["CHANGE_ANSWER_SECONDS"]):
        raise SubmissionError(
            "change_closed", _l("It is too late to change this answer. Thank you, your rating was recorded."), 409
        )
    if value == rating.overall_value:
        return rating
    db.session.flush()
    # The UPDATE takes the row's lock first, so no count refresher counts the rating meanwhile.
    db.session.execute(
        update(Rating).where(Rating.id == rating.id).values(overall_value=Rating.overall_value)
        .execution_options(synchronize_session=False)
    )
    counted = rating.flag is None
    if counted:
        adjust_for_flag(rating.id, -1)
    db.session.execute(
        update(Rating).where(Rating.id == rating.id).values(overall_value=value)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        _upsert_answers_statement(db.session.get_bind().dialect.name),
        [{"rating_id": rating.id, "question_id": overall_id, "value": value}],
    )
    if counted:
        adjust_for_flag(rating.id, +1)
    db.session.flush()
    db.session.expire(rating)
    return rating


def is_negative(questionnaire, value: int) -> bool:
    """Whether ``value`` is below the middle of the overall question's scale (a sad face)."""
    values = list(questionnaire.overall_question.scale.values)
    return value in values and 2 * values.index(value) < len(values) - 1


def set_reasons(rating: Rating, reasons, *, now: datetime | None = None) -> None:
    """What went wrong, after a negative face: replaces the reasons of this open rating."""
    reasons = set(reasons)
    if not reasons <= set(REASONS):
        raise SubmissionError("unknown_reason", _l("Please choose one of the answers shown."))
    if not is_negative(questionnaire_version(rating.questionnaire_id), rating.overall_value):
        raise SubmissionError("not_negative", _l("Please choose one of the answers shown."))
    if not follow_up_is_open(rating, now=now):
        raise _follow_up_closed()
    reasons_table = RatingReason.__table__
    db.session.execute(delete(reasons_table).where(reasons_table.c.rating_id == rating.id))
    if reasons:
        db.session.execute(insert(reasons_table), [{"rating_id": rating.id, "reason": r} for r in sorted(reasons)])
