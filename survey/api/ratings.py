"""``POST /api/v1/ratings``: a calling system (a one-stop system's officer screen or its own kiosks, with
their offline queues) sends one rating for an office of its key, and the platform's own kiosk pages send
their taps and their offline queues, all through the one submission path
(:func:`survey.rating.operations.submit_rating`).

Two kinds of caller, told apart by the ``Authorization`` header:

* ``Bearer <API key>``: one rating for an office of the key (below);
* ``Kiosk <token>``: a registered kiosk (the token of its address; only its hash is stored). The place,
  questionnaire and channel are the kiosk's. The body is one tap (``idempotency_key``, ``answers``,
  optional ``locale``) judged by the kiosk's burst rule like a tap on the page, or a batch of queued taps
  (``sent_at`` and ``taps``: each ``idempotency_key``, ``value``, ``tapped_at`` in the tablet's
  milliseconds) stored by :func:`survey.rating.sync.store_queued_taps` (burst judged on the tap times,
  flagged never refused, clock skew corrected or flagged). No CSRF token is needed: the credential is
  a header, which a page of another site cannot set without a CORS preflight, and this app answers no
  preflight (an ``OPTIONS`` request gets no ``Access-Control-Allow-*`` header), so a browser sends no
  cross-site request that carries it.

The idempotency key is required: a queue that sends the same rating twice stores it once (the second
answer is ``200 unchanged``). Answers are given by question key (``{"overall": 4, "access": 5}``) for the
questionnaire the office shows now; a rating tied to a registered dossier (``dossier_code``) is its one
rating, as through the dossier's single-use link.
"""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

from flask import g, jsonify, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from survey.api import bp
from survey.api.errors import APIError
from survey.api.keys import out_of_scope, require_api_key
from survey.extensions import db
from survey.models import Channel, Procedure, Transaction, Unit, UnitLevel
from survey.models._common import utcnow
from survey.questionnaires import questionnaire_for
from survey.rating.operations import (
    IDEMPOTENCY_KEY_PATTERN, RatingSubmission, SubmissionError, find_rating, skip_follow_up, submit_rating,
)
from survey.transactions.codes import parse_time

FIELDS = {"idempotency_key", "office_code", "counter_code", "procedure_code", "channel", "answers", "comment",
          "dossier_code", "rated_at", "locale"}
#: Who entered the rating, as a calling system may say it; ``link`` belongs to the single-use links.
CHANNELS = {"kiosk": Channel.KIOSK, "phone": Channel.PHONE, "staff": Channel.STAFF, "web": Channel.WEB}
LOCALES = ("vi", "en")
#: How old a queued rating may be when it finally arrives, and how far ahead a device clock may run.
MAX_QUEUE_AGE = timedelta(days=14)
MAX_CLOCK_AHEAD = timedelta(minutes=5)


def _bad(code: str, message, status: int = 400) -> APIError:
    return APIError(status, code, message)


def _string(data: dict, name: str, *, required: bool, limit: int = 64) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise _bad("missing_field", _l("The field %(name)s is required.", name=name))
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise _bad(f"bad_{name}", _l("The field %(name)s is not a valid code.", name=name))
    return value


def _office(code: str):
    office = db.session.execute(
        select(Unit.id).where(Unit.code == code, Unit.level == UnitLevel.OFFICE, Unit.valid_to.is_(None))
    ).one_or_none()
    if office is None:
        raise _bad("unknown_office", _l("There is no one-stop office with this code."), 404)
    if not g.api_caller.may_use(office.id):
        raise out_of_scope()
    return db.session.get(Unit, office.id)


def _submission(data) -> tuple[RatingSubmission, object]:
    if not isinstance(data, dict):
        raise _bad("bad_json", _l("Send the rating as a JSON object (Content-Type: application/json)."))
    unknown = sorted(k for k in data if k not in FIELDS)
    if unknown:
        raise _bad("unknown_field", _l("Unknown field %(name)s.", name=json.dumps(unknown[0], ensure_ascii=False)[:40]))
    key = _string(data, "idempotency_key", required=True)
    if not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
        raise _bad("bad_idempotency_key", _l("The idempotency key must be 16 to 64 letters, digits, - or _."))
    office = _office(_string(data, "office_code", required=True))
    counter = None
    if (counter_code := _string(data, "counter_code", required=False)) is not None:
        counter = db.session.scalar(select(Unit.id).where(Unit.code == counter_code, Unit.parent_id == office.id,
                                                          Unit.level == UnitLevel.COUNTER))
        if counter is None:
            raise _bad("unknown_counter", _l("This office has no counter with this code."), 404)
    procedure_id = None
    if (procedure_code := _string(data, "procedure_code", required=False)) is not None:
        procedure_id = db.session.scalar(select(Procedure.id).where(Procedure.code == procedure_code))
        if procedure_id is None:
            raise _bad("unknown_procedure", _l("There is no procedure with this code."), 404)
    channel = CHANNELS.get(data.get("channel")) if isinstance(data.get("channel"), str) else None
    if channel is None:
        raise _bad("bad_channel", _l("The field channel must be one of kiosk, phone, staff or web."))
    questionnaire = questionnaire_for(office)
    by_key = {q.key: q for q in questionnaire.questions}
    answers = data.get("answers")
    if not isinstance(answers, dict) or not answers:
        raise _bad("bad_answers", _l("The field answers must map question keys to answer values."))
    parsed = {}
    for name, value in answers.items():
        if name not in by_key:
            raise _bad("unknown_question", _l("There is no question %(name)s in this office's questionnaire.",
                                              name=json.dumps(name, ensure_ascii=False)[:40]))
        if isinstance(value, bool) or not isinstance(value, int) or value not in by_key[name].scale.values:
            raise _bad("out_of_scale", _l("The answer to %(name)s is not on its scale.", name=name))
        parsed[by_key[name].id] = value
    comment = data.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise _bad("bad_comment", _l("The field comment must be text."))
    dossier_code = _string(data, "dossier_code", required=False, limit=40)
    if dossier_code is not None:
        office_id = db.session.scalar(select(Transaction.office_id).where(Transaction.dossier_code == dossier_code))
        if office_id != office.id:  # unknown, or another office's: the key learns nothing of others
            raise _bad("unknown_transaction",
                       _l("No transaction with this dossier code is registered for this office."), 404)
    now = utcnow()
    rated_at = None
    if data.get("rated_at") is not None:
        rated_at = parse_time(data["rated_at"])
        if rated_at is None or not now - MAX_QUEUE_AGE <= rated_at <= now + MAX_CLOCK_AHEAD:
            raise _bad("bad_time", _l("The field rated_at must be an ISO 8601 time within the last 14 days."))
    locale = data.get("locale", "vi")
    if locale not in LOCALES:
        raise _bad("bad_locale", _l("The field locale must be vi or en."))
    submission = RatingSubmission(
        idempotency_key=key, questionnaire=questionnaire, office=SimpleNamespace(id=office.id), channel=channel,
        answers=parsed, counter=SimpleNamespace(id=counter) if counter else None, procedure_id=procedure_id,
        comment=comment, locale=locale, transaction_ref=dossier_code,
    )
    return submission, rated_at


@bp.post("/ratings")
def submit_rating_api():
    """One complete rating (JSON object); repeated with the same idempotency key it is stored once.
    A kiosk (``Authorization: Kiosk <token>``) sends its taps and its offline queue here too."""
    scheme = (request.headers.get("Authorization") or "").partition(" ")[0]
    data = request.get_json(silent=True) if request.mimetype == "application/json" else None
    if scheme.lower() == "kiosk":
        from survey.api.kiosk import kiosk_ratings

        return kiosk_ratings(data)
    return _rating_from_a_system(data)


@require_api_key
def _rating_from_a_system(data):
    submission, rated_at = _submission(data)
    try:
        stored, created = submit_rating(submission, now=rated_at)
        if created:
            skip_follow_up(find_rating(stored.idempotency_key), now=stored.created_at)  # sent whole: complete
    except SubmissionError as exc:
        db.session.rollback()
        if exc.code == "key_conflict":
            raise _bad("key_conflict", _l("This idempotency key was used for another rating."), 409) from None
        raise _bad(exc.code, exc.message, exc.status) from None
    db.session.commit()
    body = {"idempotency_key": stored.idempotency_key, "status": "created" if created else "unchanged",
            "channel": str(stored.channel), "rated_at": stored.created_at.isoformat(timespec="seconds") + "Z"}
    return jsonify(body), 201 if created else 200
