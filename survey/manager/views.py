"""Manager sign-in (Flask-Login) with throttling, lockout and revocable sessions (see
:mod:`survey.manager.operations`). The scoped dashboard itself is a later issue."""

from urllib.parse import quote

from flask import Blueprint, current_app, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from forms.manager import SignInForm
from survey.errors import wants_json
from survey.extensions import db, limiter, login_manager
from survey.manager import operations
from survey.security import safe_redirect_target

bp = Blueprint("manager", __name__)

login_manager.login_view = "manager.sign_in"
login_manager.login_message = _l("Please sign in to see this page.")

SESSION_END_MESSAGES = {
    "idle": _l("You were signed out after a while without activity. Please sign in again."),
    "expired": _l("Your session has ended. Please sign in again."),
    "revoked": _l("Your session has ended. Please sign in again."),
}


@login_manager.user_loader
def load_user(user_id: str):
    return operations.user_for_session(user_id, session.get(operations.SESSION_TOKEN_KEY))


@login_manager.unauthorized_handler
def ask_to_sign_in():
    message = SESSION_END_MESSAGES.get(g.pop("session_end", None), login_manager.login_message)
    if wants_json():
        return jsonify(error=True, message=str(message)), 401
    flash(message)
    target = quote(request.script_root + request.path)
    if request.query_string:
        target += "?" + request.query_string.decode("latin-1")
    return redirect(url_for("manager.sign_in", next=target if request.method == "GET" else None))


def sign_in_rate_limit() -> str:
    return current_app.config["SIGN_IN_RATE_LIMIT"]


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(sign_in_rate_limit, methods=["POST"])
def sign_in():
    form = SignInForm()
    if form.validate_on_submit():
        result = operations.authenticate(form.email.data, form.password.data)
        if result.locked_for is not None:
            minutes = -(-result.locked_for // 60)
            form.password.errors.append(_l(
                "Too many failed sign-in attempts. Please wait %(minutes)d minutes and try again.", minutes=minutes,
            ))
            return render_template("manager/sign_in.html", form=form), 429, {"Retry-After": str(result.locked_for)}
        if result.user is not None:
            operations.start_session(result.user)
            db.session.commit()
            return redirect(safe_redirect_target(request.args.get("next")) or url_for("manager.show_dashboard"))
        form.password.errors.append(_l("Wrong email or password."))
        return render_template("manager/sign_in.html", form=form), 401
    status = 400 if form.is_submitted() else 200
    return render_template("manager/sign_in.html", form=form), status


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    operations.end_session()
    db.session.commit()
    return redirect(url_for("manager.sign_in"))


@bp.route("/sign-out-everywhere", methods=["POST"])
@login_required
def sign_out_everywhere():
    operations.end_session(everywhere=True)
    db.session.commit()
    flash(_l("You are signed out on every device."))
    return redirect(url_for("manager.sign_in"))


@bp.route("/")
@login_required
def show_dashboard():
    return render_template("manager/dashboard.html", user=current_user)
