"""Kiosk and phone rating pages. Thin: parse, load, call :mod:`survey.rating.operations`, render.

The pages work as plain form posts (no JavaScript needed); ``static/js/kiosk.js`` only adds the
double-tap guard and the accessible timeouts. A request that asks for JSON gets JSON back from
the same views, so the enhanced kiosk and later an offline queue use one path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from flask import Blueprint, abort, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from wtforms.fields.choices import SelectChoice

from forms.citizen import (
    close_form_class, follow_up_step_form_class, heartbeat_form_class, last_step_form_class, new_idempotency_key,
    rating_form_class, reasons_form_class, sync_form_class,
)
from survey.cases.operations import CaseError, request_reply
from survey.errors import render_error, wants_json
from survey.extensions import csrf, db, limiter
from survey.models import Channel, Rating
from survey.models._common import utcnow
from survey.kiosks.operations import record_kiosk_contact
from survey.models.kiosks import hash_token
from survey.questionnaires import QuestionnaireSnapshot, questionnaire_version
from survey.questionnaires.current import no_active_questionnaire
from survey.rating.sync import from_ms, parse_taps, store_queued_taps
from survey.rating.devices import give_device_cookie, set_device_cookie, within_human_rate
from survey.rating.operations import (
    RatingSubmission, SubmissionError, answer_follow_up, change_overall, find_rating, follow_up_is_open, is_negative,
    set_reasons, skip_follow_up, submit_rating,
)
from survey.rating.queries import (
    KioskRecord, PlaceUnit, find_kiosk_place, find_open_counter_or_office, office_complaint_contact, office_procedures,
)
from survey.security import security_event

bp = Blueprint("rating", __name__)


class PlaceError(Exception):
    def __init__(self, message, status: int):
        super().__init__(str(status))
        self.message = message
        self.status = status


@dataclass
class Place:
    """Where a rating is given: a kiosk, or a counter's (or office's) QR code on a phone.

    Plain values from one query (:mod:`survey.rating.queries`), including the id of the
    questionnaire version shown here; nothing in it loads lazily."""

    channel: Channel
    office: PlaceUnit
    counter: PlaceUnit | None
    kiosk: KioskRecord | None
    #: The current version for this place, from the same query; None if its code has no active version.
    questionnaire_id: int | None
    questionnaire_code: str
    url_args: dict = field(default_factory=dict)

    @property
    def suffix(self) -> str:
        return "at_kiosk" if self.kiosk else "by_phone"

    def url(self, page: str, /, **kwargs) -> str:
        return url_for(f"rating.{page}_{self.suffix}", **self.url_args, **kwargs)

    @property
    def form_meta(self) -> dict:
        """The CSRF context: the kiosk's token hash, or the QR code's place (see forms.citizen)."""
        return {"csrf_context": self.kiosk.token_hash if self.kiosk else self.url_args["code"]}

    @property
    def questionnaire(self) -> QuestionnaireSnapshot:
        if self.questionnaire_id is None:
            raise no_active_questionnaire(self.questionnaire_code)
        return questionnaire_version(self.questionnaire_id)


def kiosk_place(token: str) -> Place:
    record = find_kiosk_place(hash_token(token))
    if record is None:
        raise PlaceError(_l("This kiosk address is not registered. Please ask the office staff."), 404)
    g.kiosk_id = record.kiosk.id  # for the security log
    if not record.kiosk.is_active:
        security_event("revoked_kiosk_used", level=logging.WARNING)
        raise PlaceError(_l("This kiosk has been switched off by its office. Please ask the office staff."), 403)
    return Place(Channel.KIOSK, record.office, record.counter, record.kiosk, record.questionnaire_id,
                 record.questionnaire_code, {"token": token})


def phone_place(code: str) -> Place:
    record = find_open_counter_or_office(code)
    if record is None:
        raise PlaceError(_l("This QR code does not belong to an open office. Please ask the office staff."), 404)
    return Place(Channel.PHONE, record.office, record.counter, None, record.questionnaire_id,
                 record.questionnaire_code, {"code": code})


def _render(template: str, place: Place, status: int = 200, **context):
    layout = "kiosk" if place.kiosk else "phone"
    return render_template(f"rating/{template}", place=place, layout=layout, **context), status


def _error(place: Place, message, status: int, template: str, **context):
    """The same page again with the message, so the citizen can simply tap again."""
    if wants_json():
        return jsonify(error=True, message=str(message)), status
    return _render(template, place, status, error=message, **context)


#: The screens after someone's tap: never kept by the browser, so "Back" asks the server again,
#: which sends a closed rating's pages to the start instead of showing them to the next person.
_AFTER_TAP_PAGES = ("confirm_", "change_", "follow_up_", "reasons_", "thank_")


@bp.after_request
def not_kept_after_the_tap(response):
    endpoint = (request.endpoint or "").removeprefix("rating.")
    if endpoint.startswith(_AFTER_TAP_PAGES):
        response.headers["Cache-Control"] = "no-store"
    return set_device_cookie(response)


@bp.errorhandler(PlaceError)
def place_error(exc: PlaceError):
    return render_error(exc.status, exc.message, next_url=url_for("public.show_results"))


def _rate(place: Place):
    locale = str(get_locale())
    questionnaire = place.questionnaire
    form = rating_form_class(questionnaire, locale, kiosk=place.kiosk is not None)(meta=place.form_meta)
    if place.kiosk is None:
        give_device_cookie()
    if request.method == "GET":
        form.idempotency_key.data = new_idempotency_key()
        return _render("rate.html", place, form=form, questionnaire=questionnaire)
    if not form.validate():
        form.idempotency_key.data = form.idempotency_key.data or new_idempotency_key()
        return _error(place, form.first_error(), 400, "rate.html", form=form, questionnaire=questionnaire)
    # A phone beyond a human rate: stored, but flagged for review (one Wi-Fi address is many citizens).
    flag = None if place.kiosk is not None or within_human_rate() else "burst"
    submission = RatingSubmission(
        idempotency_key=form.idempotency_key.data,
        questionnaire=questionnaire,
        office=place.office,
        counter=place.counter,
        kiosk=place.kiosk,
        channel=place.channel,
        answers=form.answers(),
        locale=locale,
        flag=flag,
        flag_note="phone over PHONE_DEVICE_HUMAN_RATE" if flag else None,
    )
    try:
        _, created = submit_rating(submission)
    except SubmissionError as exc:
        db.session.rollback()
        form.idempotency_key.data = new_idempotency_key()
        return _error(place, exc.message, exc.status, "rate.html", form=form, questionnaire=questionnaire)
    db.session.commit()
    # Built from values in hand: nothing is read again after the commit.
    next_url = place.url("confirm", key=submission.idempotency_key)
    if wants_json():
        return jsonify(stored=created, key=submission.idempotency_key, next=next_url), 201 if created else 200
    return redirect(next_url, code=303)


def _rating_here(place: Place, key: str) -> Rating:
    rating = find_rating(key)
    if rating is None or rating.office_id != place.office.id or rating.kiosk_id != (place.kiosk and place.kiosk.id):
        abort(404)
    return rating


def _closed_page(place: Place, rating: Rating) -> str:
    """Where a closed rating's pages lead: a kiosk to its start screen (the next person must never
    see the previous answers), a phone to the thank-you page."""
    if place.kiosk:
        return place.url("rate", reset=1)
    return place.url("thank", answer=rating.overall_value)


def _leave(place: Place, rating: Rating):
    if wants_json():
        return jsonify(closed=True, next=_closed_page(place, rating)), 200
    return redirect(_closed_page(place, rating), code=303)


def _chosen_point(questionnaire: QuestionnaireSnapshot, value: int):
    """(position, count, label) of ``value`` on the overall scale, for the face shown back."""
    points = questionnaire.overall_question.scale.points
    for position, point in enumerate(points):
        if point.value == value:
            return position, len(points), point.label(str(get_locale()))
    return None


def _confirm(place: Place, key: str):
    """Right after the tap: the chosen face and word, "Tell us more", "Change my answer", "Finish".
    Finishing (or the kiosk's timer) closes the rating, so nobody else can add to it."""
    rating = _rating_here(place, key)
    form = close_form_class(kiosk=place.kiosk is not None)(meta=place.form_meta)
    if request.method == "POST":
        if not form.validate():
            return _error(place, form.first_error(), 400, "error_step.html", rating=rating)
        skip_follow_up(rating)
        db.session.commit()
        return _leave(place, rating)
    if not follow_up_is_open(rating):
        return _leave(place, rating)
    questionnaire = questionnaire_version(rating.questionnaire_id)
    form.idempotency_key.data = key
    can_change = utcnow() - rating.created_at <= timedelta(seconds=current_app.config["CHANGE_ANSWER_SECONDS"])
    return _render("confirm.html", place, form=form, rating=rating, chosen=_chosen_point(questionnaire, rating.overall_value),
                   can_change=can_change, has_follow_up=bool(questionnaire.follow_up_questions),
                   negative=is_negative(questionnaire, rating.overall_value))


def _reasons(place: Place, key: str):
    """After a negative face: what went wrong (one tap each), and where to lodge a complaint."""
    rating = _rating_here(place, key)
    questionnaire = questionnaire_version(rating.questionnaire_id)
    form = reasons_form_class(kiosk=place.kiosk is not None)(meta=place.form_meta)
    context = dict(form=form, rating=rating, complaint_contact=office_complaint_contact(place.office.id))
    if not is_negative(questionnaire, rating.overall_value):
        return redirect(place.url("follow_up", key=key, step=1), code=303)
    if request.method == "GET":
        if not follow_up_is_open(rating):
            return _leave(place, rating)
        form.idempotency_key.data = key
        return _render("reasons.html", place, **context)
    form.idempotency_key.data = key
    if not form.validate():
        return _error(place, form.first_error(), 400, "reasons.html", **context)
    try:
        set_reasons(rating, form.reasons.data or ())
        if form.reply.data:
            request_reply(rating, form.contact.data)
    except (SubmissionError, CaseError) as exc:
        db.session.rollback()
        return _error(place, exc.message, exc.status, "error_step.html", rating=rating)
    if form.finish.data:
        skip_follow_up(rating)
        db.session.commit()
        return _finished(place, rating)
    db.session.commit()
    next_url = place.url("follow_up", key=key, step=1)
    if wants_json():
        return jsonify(stored=True, next=next_url), 200
    return redirect(next_url, code=303)


def _change(place: Place, key: str):
    """"Change my answer": the five faces again; the tap replaces the overall answer of the same rating."""
    locale = str(get_locale())
    rating = _rating_here(place, key)
    questionnaire = questionnaire_version(rating.questionnaire_id)
    form = rating_form_class(questionnaire, locale, kiosk=place.kiosk is not None)(meta=place.form_meta)
    close_form = close_form_class(kiosk=place.kiosk is not None)(meta=place.form_meta, formdata=None)
    close_form.idempotency_key.data = key
    context = dict(form=form, close_form=close_form, questionnaire=questionnaire, rating=rating)
    if request.method == "GET":
        if not follow_up_is_open(rating):
            return _leave(place, rating)
        form.idempotency_key.data = key
        return _render("change.html", place, **context)
    form.idempotency_key.data = key
    if not form.validate():
        return _error(place, form.first_error(), 400, "change.html", **context)
    try:
        change_overall(rating, form.answers()[questionnaire.overall_question.id])
    except SubmissionError as exc:
        db.session.rollback()
        return _error(place, exc.message, exc.status, "error_step.html", rating=rating)
    db.session.commit()
    next_url = place.url("confirm", key=key)
    if wants_json():
        return jsonify(stored=True, next=next_url), 200
    return redirect(next_url, code=303)


def _follow_up(place: Place, key: str, step: int):
    """Follow-up step ``step`` (1-based): one question per screen, then the procedure and a comment.
    Each step is stored when answered; "Finish" (or the last step) closes the rating."""
    locale = str(get_locale())
    kiosk = place.kiosk is not None
    rating = _rating_here(place, key)
    questionnaire = questionnaire_version(rating.questionnaire_id)
    questions = questionnaire.follow_up_questions
    total = len(questions) + 1
    if not 1 <= step <= total:
        abort(404)
    last = step == total
    if last:
        form = last_step_form_class(kiosk=kiosk)(meta=place.form_meta)
        form.procedure_id.choices = [SelectChoice(0, _l("— not said —"))] + [
            SelectChoice(p.id, p.name(locale)) for p in office_procedures(place.office.id)
        ]
    else:
        form = follow_up_step_form_class(questionnaire, step - 1, locale, kiosk=kiosk)(meta=place.form_meta)
    context = dict(form=form, questionnaire=questionnaire, rating=rating, step=step, total=total, last=last)
    if request.method == "GET":
        if not follow_up_is_open(rating):
            return _leave(place, rating)
        form.idempotency_key.data = key
        return _render("follow_up.html", place, **context)
    form.idempotency_key.data = key
    if not form.validate():
        return _error(place, form.first_error(), 400, "follow_up.html", **context)
    if not follow_up_is_open(rating):
        return _error(place, _l("This survey has closed. Thank you, your rating was recorded."), 409,
                      "error_step.html", rating=rating)
    skipped = bool(form.skip.data)
    if not skipped:
        extra = dict(comment=form.comment.data, procedure_id=form.procedure_id.data or None) if last else {}
        try:
            answer_follow_up(rating, form.answers(), **extra)
        except SubmissionError as exc:
            db.session.rollback()
            return _error(place, exc.message, exc.status, "follow_up.html", **context)
    if last or form.finish.data:
        skip_follow_up(rating)
        db.session.commit()
        return _finished(place, rating)
    db.session.commit()
    next_url = place.url("follow_up", key=key, step=step + 1)
    if wants_json():
        return jsonify(stored=not skipped, next=next_url), 200
    return redirect(next_url, code=303)


def _finished(place: Place, rating: Rating):
    next_url = place.url("thank", answer=rating.overall_value)
    if wants_json():
        return jsonify(stored=True, next=next_url), 200
    return redirect(next_url, code=303)


def _thank(place: Place):
    """The thank-you matches the answer given: an apology and a promise after a negative face."""
    value = request.args.get("answer", type=int)
    chosen = _chosen_point(place.questionnaire, value) if value is not None else None
    mood = "neutral"
    if chosen is not None:
        position, count, _ = chosen
        mood = "negative" if 2 * position < count - 1 else "positive" if 2 * position > count - 1 else "neutral"
    return _render("thanks.html", place, chosen=chosen, mood=mood)


@bp.route("/kiosk/<token>", methods=["GET", "POST"])
@csrf.exempt  # the form carries its own per-kiosk CSRF token (see forms.citizen.KioskCSRF)
def rate_at_kiosk(token: str):
    return _rate(kiosk_place(token))


@bp.route("/kiosk/<token>/r/<key>", methods=["GET", "POST"])
@csrf.exempt
def confirm_at_kiosk(token: str, key: str):
    return _confirm(kiosk_place(token), key)


@bp.route("/kiosk/<token>/r/<key>/change", methods=["GET", "POST"])
@csrf.exempt
def change_at_kiosk(token: str, key: str):
    return _change(kiosk_place(token), key)


@bp.route("/kiosk/<token>/r/<key>/reasons", methods=["GET", "POST"])
@csrf.exempt
def reasons_at_kiosk(token: str, key: str):
    return _reasons(kiosk_place(token), key)


@bp.route("/kiosk/<token>/r/<key>/<int:step>", methods=["GET", "POST"])
@csrf.exempt
def follow_up_at_kiosk(token: str, key: str, step: int):
    return _follow_up(kiosk_place(token), key, step)


@bp.route("/kiosk/<token>/sync", methods=["POST"])
@csrf.exempt  # the form carries the kiosk's own CSRF token (see forms.citizen.KioskCSRF)
def sync_at_kiosk(token: str):
    """The taps a kiosk queued while offline: stored once each, at their tap times (JSON answer)."""
    place = kiosk_place(token)
    form = sync_form_class()(meta=place.form_meta)
    if not form.validate():
        return jsonify(error=True, message=str(form.first_error())), 400
    questionnaire = place.questionnaire
    locale = str(get_locale())

    def submission(tap) -> RatingSubmission:
        return RatingSubmission(
            idempotency_key=tap.idempotency_key, questionnaire=questionnaire, office=place.office,
            counter=place.counter, kiosk=place.kiosk, channel=place.channel,
            answers={questionnaire.overall_question.id: tap.value}, locale=locale,
        )

    try:
        stored = store_queued_taps(parse_taps(form.taps.data), kiosk_id=place.kiosk.id,
                                   sent_at_ms=int(form.sent_at.data), make_submission=submission)
    except SubmissionError as exc:
        db.session.rollback()
        return jsonify(error=True, message=str(exc.message)), exc.status
    db.session.commit()
    return jsonify(stored=stored), 200


@bp.route("/kiosk/<token>/health", methods=["POST"])
@csrf.exempt  # the form carries the kiosk's own CSRF token (see forms.citizen.KioskCSRF)
def report_health_at_kiosk(token: str):
    """The kiosk page's heartbeat: it is alive, holds ``queued`` offline taps, and its clock reads ``sent_at``."""
    place = kiosk_place(token)
    form = heartbeat_form_class()(meta=place.form_meta)
    if not form.validate():
        return jsonify(error=True, message=str(form.first_error())), 400
    now = utcnow()
    skew = now - from_ms(int(form.sent_at.data)) if form.sent_at.data else None
    record_kiosk_contact(place.kiosk.id, queued_taps=int(form.queued.data), skew=skew, now=now)
    db.session.commit()
    return jsonify(ok=True), 200


@bp.route("/kiosk/service-worker.js")
def kiosk_service_worker():
    """The kiosk's service worker, served under /kiosk/ so that it may keep the start pages for offline use."""
    # Read whole (a few KB), not streamed: no file handle is left to a client that hangs up.
    script = (Path(current_app.static_folder) / "js" / "kiosk-sw.js").read_bytes()
    return current_app.response_class(script, mimetype="text/javascript", headers={"Cache-Control": "no-cache"})


@bp.route("/kiosk/<token>/thanks")
def thank_at_kiosk(token: str):
    return _thank(kiosk_place(token))


def phone_rate_limit() -> str:
    return current_app.config["PHONE_RATE_LIMIT"]


@bp.route("/r/<code>", methods=["GET", "POST"])
@limiter.limit(phone_rate_limit, methods=["POST"])
@csrf.exempt  # the form carries its own token, bound to the QR code (forms.citizen.PhonePageCSRF)
def rate_by_phone(code: str):
    return _rate(phone_place(code))


@bp.route("/r/<code>/f/<key>", methods=["GET", "POST"])
@csrf.exempt  # the form carries its own token, bound to the QR code (forms.citizen.PhonePageCSRF)
def confirm_by_phone(code: str, key: str):
    return _confirm(phone_place(code), key)


@bp.route("/r/<code>/f/<key>/change", methods=["GET", "POST"])
@csrf.exempt  # the form carries its own token, bound to the QR code (forms.citizen.PhonePageCSRF)
def change_by_phone(code: str, key: str):
    return _change(phone_place(code), key)


@bp.route("/r/<code>/f/<key>/reasons", methods=["GET", "POST"])
@csrf.exempt  # the form carries its own token, bound to the QR code (forms.citizen.PhonePageCSRF)
def reasons_by_phone(code: str, key: str):
    return _reasons(phone_place(code), key)


@bp.route("/r/<code>/f/<key>/<int:step>", methods=["GET", "POST"])
@csrf.exempt  # the form carries its own token, bound to the QR code (forms.citizen.PhonePageCSRF)
def follow_up_by_phone(code: str, key: str, step: int):
    return _follow_up(phone_place(code), key, step)


@bp.route("/r/<code>/thanks")
def thank_by_phone(code: str):
    return _thank(phone_place(code))
