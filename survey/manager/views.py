"""Manager sign-in (Flask-Login). The scoped dashboard itself is a later issue."""

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select

from forms.manager import SignInForm
from survey.extensions import db, limiter, login_manager
from survey.models import User

bp = Blueprint("manager", __name__)

login_manager.login_view = "manager.sign_in"
login_manager.login_message = _l("Please sign in to see this page.")


@login_manager.user_loader
def load_user(user_id: str):
    return db.session.get(User, int(user_id))


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("manager.show_dashboard")


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def sign_in():
    form = SignInForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(func.lower(User.email) == form.email.data.strip().lower()))
        if user is not None and user.active and user.check_password(form.password.data):
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append(_l("Wrong email or password."))
        return render_template("manager/sign_in.html", form=form), 401
    status = 400 if form.is_submitted() else 200
    return render_template("manager/sign_in.html", form=form), status


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    logout_user()
    return redirect(url_for("manager.sign_in"))


@bp.route("/")
@login_required
def show_dashboard():
    return render_template("manager/dashboard.html", user=current_user)
