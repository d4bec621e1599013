"""The page behind a transaction's single-use link (``/l/<token>``): the questionnaire of the office
that handled the dossier, sent once. Thin: open the invitation, validate, call ``submit_rating``.

Nothing about the dossier is shown: whoever holds the link sees only the office's name.
"""

from __future__ import annotations

from types import SimpleNamespace

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from forms.citizen import new_idempotency_key
from forms.invitation import link_form_class
from survey.errors import render_error
from survey.extensions import db, limiter
from survey.models import Channel, Unit
from survey.questionnaires import questionnaire_for
from survey.rating.invitations import Invitation, LinkError, open_invitation
from survey.rating.operations import RatingSubmission, SubmissionError, find_rating, skip_follow_up, submit_rating

bp = Blueprint("link", __name__)

LINK_MESSAGES = {
    "forged": (404, _l("This rating link is not valid. Please check that it was copied completely.")),
    "expired": (410, _l("This rating link has expired. Thank you for wanting to help.")),
    "used": (409, _l("This rating link has already been used: each dossier can be rated once. Thank you.")),
}


@bp.errorhandler(LinkError)
def link_error(exc: LinkError):
    status, message = LINK_MESSAGES[exc.code]
    return render_error(status, message, next_url=url_for("public.show_results"))


def _render(invitation: Invitation, office: Unit, form, questionnaire, status: int = 200, error=None):
    return render_template("link/rate.html", office=office, form=form, questionnaire=questionnaire,
                           error=error), status


@bp.route("/l/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LINK_RATE_LIMIT"], methods=["POST"])
def rate_by_link(token: str):
    locale = str(get_locale())
    try:
        invitation = open_invitation(token)
    except LinkError as exc:
        if exc.code == "used" and request.method == "POST":
            rating = find_rating(str(request.form.get("idempotency_key", ""))[:64])
            if rating is not None and rating.transaction_ref == exc.dossier_code:
                return redirect(url_for("link.thank_by_link"), code=303)  # the same form sent twice
        raise
    office = db.session.get(Unit, invitation.office_id)
    questionnaire = questionnaire_for(office)
    form = link_form_class(questionnaire, locale)()
    if request.method == "GET":
        form.idempotency_key.data = new_idempotency_key()
        return _render(invitation, office, form, questionnaire)
    if not form.validate():
        form.idempotency_key.data = form.idempotency_key.data or new_idempotency_key()
        return _render(invitation, office, form, questionnaire, 400, form.first_error())
    submission = RatingSubmission(
        idempotency_key=form.idempotency_key.data,
        questionnaire=questionnaire,
        office=SimpleNamespace(id=invitation.office_id),
        counter=SimpleNamespace(id=invitation.counter_id) if invitation.counter_id else None,
        channel=Channel.LINK,
        answers=form.answers(),
        procedure_id=invitation.procedure_id,
        comment=form.comment.data,
        locale=locale,
        transaction_ref=invitation.dossier_code,
    )
    try:
        stored, _ = submit_rating(submission)
        skip_follow_up(find_rating(stored.idempotency_key))  # one page: the rating is complete
    except SubmissionError as exc:
        db.session.rollback()
        if exc.code == "duplicate_transaction":  # another submission used the link a moment ago
            raise LinkError("used") from None
        form.idempotency_key.data = new_idempotency_key()
        return _render(invitation, office, form, questionnaire, exc.status, exc.message)
    db.session.commit()
    return redirect(url_for("link.thank_by_link"), code=303)


@bp.get("/l/thanks")
def thank_by_link():
    return render_template("link/thanks.html")
