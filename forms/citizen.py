"""Forms citizens fill in: the one-tap rating and the optional follow-up (one question per screen),
built from a questionnaire.

Each question becomes a ``question_<id>`` field. Kiosk forms carry a per-kiosk CSRF token
that never expires (a kiosk page may stay open for days); phone forms a signed token bound to their
QR code that lasts hours (:class:`PhonePageCSRF`), not the session's one-hour token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import uuid
from functools import lru_cache

from babel.support import Translations
from flask import current_app, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField, HiddenField, RadioField, SelectField, SelectMultipleField, StringField, SubmitField, TextAreaField,
)
from wtforms.widgets import CheckboxInput, ListWidget
from wtforms.csrf.core import CSRF
from wtforms.fields.choices import SelectChoice
from wtforms.i18n import messages_path
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from survey.secrets import derived_key, derived_keys
from survey.questionnaires.current import QuestionnaireSnapshot
from survey.security import security_event

QUESTION_PREFIX = "question_"


class _IntChoiceMixin:
    """Integer choices whose bad input gets our translated message, not WTForms' English one."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("coerce", int)  # also the default (e.g. procedure 0 when no select is shown)
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist):
        self.bad_value = False
        if valuelist and valuelist[0] != "":
            try:
                self.data = int(valuelist[0])
            except ValueError:
                self.data = None
                self.bad_value = True

    def pre_validate(self, form):
        if getattr(self, "bad_value", False) or (
            self.data is not None and self.data not in {choice.value for choice in self.choices}
        ):
            raise ValidationError(_l("Please choose one of the answers shown."))


class ScaleField(_IntChoiceMixin, RadioField):
    """A radio choice on a questionnaire scale."""


class ProcedureField(_IntChoiceMixin, SelectField):
    """The procedure the citizen came for; 0 means "not said"."""


class KioskCSRF(CSRF):
    """CSRF token bound to the kiosk's credential instead of a session, so it never goes stale.

    The token is an HMAC of the kiosk's token hash under a key derived for this purpose from the
    app's secret: a forged form from another site cannot produce it, and revoking the kiosk
    invalidates it. Pages signed with a previous secret (``SECRET_KEY_FALLBACKS``) still verify.
    """

    def setup_form(self, form):
        self.kiosk_token_hash = form.meta.csrf_context
        return super().setup_form(form)

    def _expected(self, key: bytes) -> str:
        return hmac.new(key, b"kiosk-form:" + self.kiosk_token_hash.encode(), hashlib.sha256).hexdigest()

    def generate_csrf_token(self, csrf_token_field):
        return self._expected(derived_key("kiosk-form"))

    def validate_csrf_token(self, form, field):
        posted = str(field.data or "").encode("utf-8", "replace")  # bytes: any posted text compares safely
        if not posted or not any(
            hmac.compare_digest(posted, self._expected(key).encode()) for key in derived_keys("kiosk-form")
        ):
            security_event("csrf_failure", level=logging.WARNING, reason="kiosk form token")
            raise ValidationError(_l("This page has expired. Please tap your answer again."))


class PhonePageCSRF(CSRF):
    """CSRF token of a phone page, bound to the QR code's place and signed with a time, instead of the
    session's one-hour token: a citizen who scanned the code while queuing can still tap hours later.

    ``<issued-at>.<HMAC("phone-form:" + place code + ":" + issued-at)>`` under a key derived for this
    purpose: a form from another site cannot produce it, a page of another QR code does not fit this
    one, and a page older than ``PHONE_PAGE_MAX_AGE_SECONDS`` is refused. Pages signed with a previous
    secret (``SECRET_KEY_FALLBACKS``) still verify.
    """

    def setup_form(self, form):
        self.place_code = str(form.meta.csrf_context)
        return super().setup_form(form)

    def _signature(self, key: bytes, issued_at: str) -> str:
        message = f"phone-form:{self.place_code}:{issued_at}".encode("utf-8", "replace")
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    def generate_csrf_token(self, csrf_token_field):
        issued_at = str(int(time.time()))
        return f"{issued_at}.{self._signature(derived_key('phone-form'), issued_at)}"

    def validate_csrf_token(self, form, field):
        # In the form, or (a script sending JSON) in the header Flask-WTF reads too.
        token = field.data or request.headers.get("X-CSRFToken", "")
        issued_at, _, signature = str(token).partition(".")
        posted = signature.encode("utf-8", "replace")
        valid = issued_at.isdigit() and len(issued_at) <= 12 and any(
            hmac.compare_digest(posted, self._signature(key, issued_at).encode()) for key in derived_keys("phone-form")
        )
        if not valid:
            security_event("csrf_failure", level=logging.WARNING, reason="phone form token")
            raise ValidationError(_l("This page has expired. Please tap your answer again."))
        if time.time() - int(issued_at) > current_app.config["PHONE_PAGE_MAX_AGE_SECONDS"]:
            raise ValidationError(_l("This page has expired. Please tap your answer again."))


@lru_cache(maxsize=16)
def _wtforms_translations(locale: str) -> Translations:
    return Translations.load(messages_path(), [locale], domain="wtforms")


class QuestionnaireForm(FlaskForm):
    """Base for forms built from questions: refuses answers to questions it does not have."""

    class Meta:
        def get_translations(self, form):
            # Flask-WTF reads WTForms' own catalog from disk on every request; it never changes.
            if not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)
            return _wtforms_translations(str(get_locale()))

    idempotency_key = HiddenField(validators=[InputRequired(message=_l("This page is out of date. Please start again."))])

    def process(self, formdata=None, obj=None, data=None, extra_filters=None, **kwargs):
        formdata = self.meta.wrap_formdata(self, formdata)
        self.posted_question_fields = {
            name for name in (formdata.keys() if formdata is not None else ()) if name.startswith(QUESTION_PREFIX)
        }
        super().process(formdata, obj, data, extra_filters, **kwargs)

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        unknown = self.posted_question_fields - set(self._fields)
        if unknown:
            self.form_errors.append(_l("This answer is for a question that is not in this survey."))
            valid = False
        return valid

    def question_fields(self):
        return [f for name, f in self._fields.items() if name.startswith(QUESTION_PREFIX)]

    def answers(self) -> dict[int, int]:
        return {
            int(f.name.removeprefix(QUESTION_PREFIX)): f.data for f in self.question_fields() if f.data is not None
        }

    def first_error(self):
        for message in self.form_errors:
            return message
        for name, errors in self.errors.items():
            if name is not None and errors:
                return errors[0]
        return None


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


def _scale_field(question, locale: str, *, required: bool) -> ScaleField:
    validators = [InputRequired(message=_l("Please choose how satisfied you are."))] if required else [Optional()]
    return ScaleField(
        label=question.text(locale),
        choices=[SelectChoice(p.value, p.label(locale)) for p in question.scale.points],
        validators=validators,
    )


def _with_csrf(base: type[FlaskForm], kiosk: bool) -> type[FlaskForm]:
    """Kiosk pages carry the kiosk's token, phone pages a signed token bound to their QR code."""

    class Meta:
        csrf_class = KioskCSRF if kiosk else PhonePageCSRF

    return type(base.__name__, (base,), {"Meta": Meta})


def rating_form_class(questionnaire, locale: str, *, kiosk: bool) -> type[QuestionnaireForm]:
    """The first screen: the overall question only, answered with one tap.

    Built once per questionnaire version, language and kind of page: a published version never
    changes, and a form class holds no per-request state (each request instantiates it)."""
    if isinstance(questionnaire, QuestionnaireSnapshot):
        return _cached_rating_form_class(questionnaire, locale, kiosk)
    return _rating_form_class(questionnaire, locale, kiosk)


def _rating_form_class(questionnaire, locale: str, kiosk: bool) -> type[QuestionnaireForm]:
    overall = questionnaire.overall_question
    attrs = {f"{QUESTION_PREFIX}{overall.id}": _scale_field(overall, locale, required=True)}
    return type("RatingForm", (_with_csrf(QuestionnaireForm, kiosk),), attrs)


class _StepBase(QuestionnaireForm):
    """One follow-up question per screen: a tap on an answer stores it and moves on."""

    skip = SubmitField(_l("Skip"))
    finish = SubmitField(_l("Finish"))


class _LastStepBase(QuestionnaireForm):
    """The last follow-up screen: the procedure and a comment."""

    comment = TextAreaField(
        _l("Anything you would like to tell us? (optional)"),
        validators=[Optional()],
        render_kw={"rows": 3},
    )
    procedure_id = ProcedureField(_l("Which procedure did you come for? (optional)"), default=0)
    finish = SubmitField(_l("Send"))
    skip = SubmitField(_l("Skip and finish"))

    def validate_comment(self, field):
        limit = current_app.config["COMMENT_MAX_LENGTH"]
        if field.data and len(field.data.strip()) > limit:
            raise ValidationError(_l("Your comment is too long (at most %(limit)d characters).", limit=limit))


class _CloseBase(QuestionnaireForm):
    """Closes a rating: "Finish", or the kiosk returning to the start for the next person."""

    finish = SubmitField(_l("Finish"))


def follow_up_step_form_class(questionnaire, position: int, locale: str, *, kiosk: bool) -> type[QuestionnaireForm]:
    """The screen for follow-up question ``position`` (0-based) alone."""
    if isinstance(questionnaire, QuestionnaireSnapshot):
        return _cached_step_form_class(questionnaire, position, locale, kiosk)
    return _step_form_class(questionnaire, position, locale, kiosk)


def _step_form_class(questionnaire, position: int, locale: str, kiosk: bool) -> type[QuestionnaireForm]:
    question = questionnaire.follow_up_questions[position]
    attrs = {f"{QUESTION_PREFIX}{question.id}": _scale_field(question, locale, required=False)}
    return type("FollowUpStepForm", (_with_csrf(_StepBase, kiosk),), attrs)


@lru_cache(maxsize=2)
def last_step_form_class(*, kiosk: bool) -> type[QuestionnaireForm]:
    return _with_csrf(_LastStepBase, kiosk)


@lru_cache(maxsize=2)
def close_form_class(*, kiosk: bool) -> type[QuestionnaireForm]:
    return _with_csrf(_CloseBase, kiosk)


#: The one-tap reasons after a negative face (codes in survey.models.ratings.REASONS).
REASON_LABELS = {
    "long_wait": _l("I waited too long"),
    "come_back": _l("I was asked to come back or bring more documents"),
    "unclear_procedure": _l("The procedure was not clear"),
    "staff_attitude": _l("Staff attitude"),
    "extra_money": _l("I was asked for extra money"),
    "other": _l("Something else"),
}


class ReasonsField(SelectMultipleField):
    """Several reasons, each a checkbox; anything else gets our translated message."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):
        if any(value not in REASON_LABELS for value in self.data or ()):
            raise ValidationError(_l("Please choose one of the answers shown."))


class _ReasonsBase(QuestionnaireForm):
    reasons = ReasonsField(choices=[SelectChoice(value, label) for value, label in REASON_LABELS.items()])
    #: "I want a reply" with a contact: opens a complaint case (survey.cases.operations.request_reply).
    reply = BooleanField(_l("I want a reply"))
    contact = StringField(_l("Your phone number or e-mail address"), validators=[Length(max=254)])
    next = SubmitField(_l("Next"))
    finish = SubmitField(_l("Finish"))

    def validate_contact(self, field):
        from survey.cases.operations import valid_contact

        if self.reply.data and valid_contact(field.data) is None:
            raise ValidationError(_l("Please give a phone number or an e-mail address so we can reply."))


@lru_cache(maxsize=2)
def reasons_form_class(*, kiosk: bool) -> type[QuestionnaireForm]:
    return _with_csrf(_ReasonsBase, kiosk)


class _TapsField(HiddenField):
    """Every value posted under this name (the offline queue's ``key.value.tapped_at`` strings)."""

    def process_formdata(self, valuelist):
        self.data = [str(value) for value in valuelist]


class _SyncBase(FlaskForm):
    """A kiosk's offline queue, sent when the server answers again (see survey.rating.sync)."""

    class Meta(QuestionnaireForm.Meta):
        csrf_class = KioskCSRF

    sent_at = HiddenField(validators=[InputRequired(message=_l("This page is out of date. Please start again."))])
    taps = _TapsField()

    def validate_sent_at(self, field):
        if not str(field.data).isdigit() or len(str(field.data)) > 15:
            raise ValidationError(_l("This page is out of date. Please start again."))

    def first_error(self):
        return QuestionnaireForm.first_error(self)


def sync_form_class() -> type[FlaskForm]:
    return _SyncBase


class _HeartbeatBase(FlaskForm):
    """A kiosk page's health report: the taps still queued on the tablet and its clock."""

    class Meta(QuestionnaireForm.Meta):
        csrf_class = KioskCSRF

    queued = HiddenField()
    sent_at = HiddenField()

    def validate_queued(self, field):
        if not str(field.data).isdigit() or len(str(field.data)) > 6:
            raise ValidationError(_l("This page is out of date. Please start again."))

    def validate_sent_at(self, field):
        if field.data and (not str(field.data).isdigit() or len(str(field.data)) > 15):
            raise ValidationError(_l("This page is out of date. Please start again."))

    def first_error(self):
        return QuestionnaireForm.first_error(self)


def heartbeat_form_class() -> type[FlaskForm]:
    return _HeartbeatBase


# Snapshots compare by identity (one per version and app), so these caches never mix two databases'
# versions that happen to share an id; the bound keeps a long-running process's memory flat.
_cached_rating_form_class = lru_cache(maxsize=256)(_rating_form_class)
_cached_step_form_class = lru_cache(maxsize=1024)(_step_form_class)
