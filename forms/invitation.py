"""The form behind a transaction's single-use link: every question on one page, sent once.

The overall question is required, the others optional; there is no second step, because the first
complete submission consumes the link.
"""

from __future__ import annotations

from functools import lru_cache

from flask import current_app
from flask_babel import lazy_gettext as _l
from wtforms import SubmitField, TextAreaField
from wtforms.validators import Optional, ValidationError

from forms.citizen import QUESTION_PREFIX, QuestionnaireForm, _scale_field


class _LinkBase(QuestionnaireForm):
    comment = TextAreaField(_l("Anything you would like to tell us? (optional)"), validators=[Optional()],
                            render_kw={"rows": 3})
    send = SubmitField(_l("Send"))

    def validate_comment(self, field):
        limit = current_app.config["COMMENT_MAX_LENGTH"]
        if field.data and len(field.data.strip()) > limit:
            raise ValidationError(_l("Your comment is too long (at most %(limit)d characters).", limit=limit))


@lru_cache(maxsize=256)
def link_form_class(questionnaire, locale: str) -> type[QuestionnaireForm]:
    """Built once per questionnaire version and language (snapshots never change)."""
    attrs = {f"{QUESTION_PREFIX}{questionnaire.overall_question.id}":
             _scale_field(questionnaire.overall_question, locale, required=True)}
    for question in questionnaire.follow_up_questions:
        attrs[f"{QUESTION_PREFIX}{question.id}"] = _scale_field(question, locale, required=False)
    return type("LinkRatingForm", (_LinkBase,), attrs)
