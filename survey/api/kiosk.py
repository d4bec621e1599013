"""A kiosk's taps through ``POST /api/v1/ratings`` (``Authorization: Kiosk <token>``): the endpoint the
kiosk page's script and its offline queue use (see :mod:`survey.api.ratings` for why no CSRF token is
needed). One tap goes through the same path as a tap posted by the page's form (the kiosk's burst rule
included); a batch of queued taps through :func:`survey.rating.sync.store_queued_taps`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app, g, jsonify
from flask_babel import lazy_gettext as _l

from survey.api.errors import APIError
from survey.extensions import db
from survey.models import Channel
from survey.rating.operations import IDEMPOTENCY_KEY_PATTERN, RatingSubmission, SubmissionError, submit_rating
from survey.rating.sync import MAX_BATCH, QueuedTap, store_queued_taps
from survey.security import security_event

ONE_TAP_FIELDS = {"idempotency_key", "answers", "locale"}
BATCH_FIELDS = {"sent_at", "taps", "locale"}
TAP_FIELDS = {"idempotency_key", "value", "tapped_at"}
#: Milliseconds since 1970 a tablet may report: from 2020 to 2100 (anything else is not a clock reading).
_MS_RANGE = (int(datetime(2020, 1, 1).timestamp() * 1000), int(datetime(2100, 1, 1).timestamp() * 1000))


def _bad(code: str, message, status: int = 400) -> APIError:
    return APIError(status, code, message)


def _kiosk_place(header: str):
    """The kiosk of ``Kiosk <token>`` as a rating place, or a 401/403 ``{code, message}``."""
    from survey.rating.views import Place
    from survey.rating.queries import find_kiosk_place
    from survey.models.kiosks import hash_token

    token = header.partition(" ")[2].strip()
    record = find_kiosk_place(hash_token(token)) if token and len(token) <= 128 else None
    if record is None:
        raise _bad("invalid_kiosk", _l("This kiosk address is not registered. Please ask the office staff."), 401)
    g.kiosk_id = record.kiosk.id  # for the security log
    if not record.kiosk.is_active:
        security_event("revoked_kiosk_used", level=logging.WARNING)
        raise _bad("kiosk_revoked",
                   _l("This kiosk has been switched off by its office. Please ask the office staff."), 403)
    return Place(Channel.KIOSK, record.office, record.counter, record.kiosk, record.questionnaire_id,
                 record.questionnaire_code, {"token": token})


def _key(value) -> str:
    if not isinstance(value, str) or not IDEMPOTENCY_KEY_PATTERN.fullmatch(value):
        raise _bad("bad_idempotency_key", _l("The idempotency key must be 16 to 64 letters, digits, - or _."))
    return value


def _milliseconds(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not _MS_RANGE[0] <= value <= _MS_RANGE[1]:
        raise _bad("bad_time", _l("The field %(name)s must be the device's time in milliseconds since 1970.",
                                  name=name))
    return value


def _overall_value(questionnaire, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in questionnaire.overall_question.scale.values:
        raise _bad("out_of_scale", _l("Please choose one of the answers shown."))
    return value


def _unknown(data: dict, allowed: set[str]) -> None:
    unknown = sorted(k for k in data if k not in allowed)
    if unknown:
        raise _bad("unknown_field", _l("Unknown field %(name)s.", name=str(unknown[0])[:40]))


def _locale(data: dict) -> str:
    """The page's language when the tap was given, as the page's ``lang`` attribute says it (``zh-Hans``
    for ``zh_Hans``); a language the site does not offer (or none) records the default. A tap is never
    refused for it: it only records which language the page was shown in."""
    locale = data.get("locale")
    if isinstance(locale, str) and locale.replace("-", "_") in current_app.config["LANGUAGES"]:
        return locale.replace("-", "_")
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def kiosk_ratings(data):
    """One tap (201 created, 200 unchanged, with ``next``: the confirmation screen) or a batch of queued
    taps (200 with ``stored``: the keys now stored, new or not)."""
    from flask import request

    place = _kiosk_place(request.headers.get("Authorization") or "")
    if not isinstance(data, dict):
        raise _bad("bad_json", _l("Send the rating as a JSON object (Content-Type: application/json)."))
    questionnaire = place.questionnaire
    if "taps" in data or "sent_at" in data:
        return _batch(place, questionnaire, data)
    _unknown(data, ONE_TAP_FIELDS)
    key = _key(data.get("idempotency_key"))
    answers = data.get("answers")
    if not isinstance(answers, dict) or len(answers) != 1 or questionnaire.overall_question.key not in answers:
        raise _bad("bad_answers", _l("A tap answers the overall question only: answers = {%(key)s: value}.",
                                     key=questionnaire.overall_question.key))
    value = _overall_value(questionnaire, answers[questionnaire.overall_question.key])
    locale = _locale(data)
    submission = RatingSubmission(
        idempotency_key=key, questionnaire=questionnaire, office=place.office, counter=place.counter,
        kiosk=place.kiosk, channel=place.channel, answers={questionnaire.overall_question.id: value}, locale=locale,
    )
    try:
        stored, created = submit_rating(submission)
    except SubmissionError as exc:
        db.session.rollback()
        raise _bad(exc.code, exc.message, exc.status) from None
    db.session.commit()
    body = {"idempotency_key": key, "status": "created" if created else "unchanged", "channel": str(stored.channel),
            "rated_at": stored.created_at.isoformat(timespec="seconds") + "Z",
            "next": place.url("confirm", key=key, lang=locale)}
    return jsonify(body), 201 if created else 200


def _batch(place, questionnaire, data: dict):
    _unknown(data, BATCH_FIELDS)
    sent_at = _milliseconds(data.get("sent_at"), "sent_at")
    raw = data.get("taps")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_BATCH:
        raise _bad("bad_batch", _l("The field taps must list 1 to %(most)s taps.", most=MAX_BATCH))
    taps = []
    for tap in raw:
        if not isinstance(tap, dict):
            raise _bad("bad_batch", _l("Each tap is an object with idempotency_key, value and tapped_at."))
        _unknown(tap, TAP_FIELDS)
        taps.append(QueuedTap(_key(tap.get("idempotency_key")), _overall_value(questionnaire, tap.get("value")),
                              _milliseconds(tap.get("tapped_at"), "tapped_at")))
    locale = _locale(data)

    def submission(tap: QueuedTap) -> RatingSubmission:
        return RatingSubmission(
            idempotency_key=tap.idempotency_key, questionnaire=questionnaire, office=place.office,
            counter=place.counter, kiosk=place.kiosk, channel=place.channel,
            answers={questionnaire.overall_question.id: tap.value}, locale=locale,
        )

    try:
        stored = store_queued_taps(taps, kiosk_id=place.kiosk.id, sent_at_ms=sent_at, make_submission=submission)
    except SubmissionError as exc:
        db.session.rollback()
        raise _bad(exc.code, exc.message, exc.status) from None
    db.session.commit()
    return jsonify(stored=stored), 200
