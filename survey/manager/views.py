"""Manager pages: sign-in (Flask-Login) with throttling, lockout and revocable sessions (see
:mod:`survey.manager.operations`), and the dashboard of the manager's scope. Every row is loaded
through :mod:`survey.units.scope`; no view writes a scope filter of its own."""

import re
from urllib.parse import quote, urlencode

from flask import (
    Blueprint, Response, abort, current_app, flash, g, jsonify, make_response, redirect, render_template, request, send_file,
    session, stream_with_context, url_for,
)
from flask_babel import format_datetime, format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from forms.manager import (
    AnswerCaseForm, CodeForm, ConfirmForm, CreateUserForm, ExportForm, KioskTimingsForm, NewPasswordForm, RegisterKioskForm,
    SettingsForm, SignInForm,
)
from survey.errors import wants_json
from survey.extensions import db, limiter, login_manager
from survey.manager import operations, queries, twofactor
from survey.manager.dashboard import Dashboard, build_dashboard, check_period, check_trend_kind
from survey.public.views import display_row, period_name, status_text
from survey.results.service import ResultsError, period_choices
from survey.results.tree import unit_tree
from survey.security import safe_redirect_target
from survey.manager import exports
from survey.kiosks import posters
from survey.kiosks.operations import KioskError, register_kiosk, revoke_kiosk, set_kiosk_timings
from survey.alerts import queries as alert_queries
from survey.alerts.operations import KINDS as ALERT_KINDS
from survey import jobs
from survey.cases import operations as cases
from survey.exports import operations as export_jobs
from survey.exports.queries import export_of_user_or_404
from survey.settings import operations as settings_operations
from survey.settings.queries import keep_unmasked_comments
from survey.misuse import operations as misuse
from survey.models import ComplaintCase, Kiosk, Rating, UnitLevel, User
from survey.models._common import utcnow
from survey.rating.queries import KIOSK_TIMINGS
from survey.models.users import NATIONAL_ADMIN
from survey.units.scope import (
    Scope, current_scope, get_unit_in_scope_or_404, load_in_scope, require_user_admin,
)

bp = Blueprint("manager", __name__)

login_manager.login_view = "manager.sign_in"
login_manager.login_message = _l("Please sign in to see this page.")

SESSION_END_MESSAGES = {
    "idle": _l("You were signed out after a while without activity. Please sign in again."),
    "expired": _l("Your session has ended. Please sign in again."),
    "revoked": _l("Your session has ended. Please sign in again."),
    "two_factor": _l("Administrators sign in with a second factor. Please sign in again to set it up."),
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
            operations.begin_sign_in(result.user, safe_redirect_target(request.args.get("next")))
            return _continue_sign_in()
        form.password.errors.append(_l("Wrong email or password."))
        return render_template("manager/sign_in.html", form=form), 401
    status = 400 if form.is_submitted() else 200
    return render_template("manager/sign_in.html", form=form), status


#: The page of each remaining sign-in step (see :func:`survey.manager.operations.next_sign_in_step`).
SIGN_IN_STEPS = {"code": "manager.sign_in_code", "password": "manager.sign_in_new_password",
                 "enrol": "manager.sign_in_enrol"}
#: What each refusal of a password change or a two-factor action says to a person.
PASSWORD_ERRORS = {
    "short_password": _l("The password must have at least %(n)d characters.", n=operations.MIN_PASSWORD_LENGTH),
    "same_password": _l("The new password must differ from the old one."),
}
TWO_FACTOR_ERRORS = {
    "already_enrolled": _l("Two-factor sign-in is already set up for this account."),
    "required": _l("Administrators must keep two-factor sign-in."),
    "not_enrolled": _l("Two-factor sign-in is not set up for this account."),
    "own_account": _l("You cannot reset your own second factor; ask another administrator."),
}
WRONG_CODE = _l("This code is wrong or was already used. Please wait for the next code and try again.")


def _continue_sign_in():
    """Go to the sign-in's next step, or start the session when every step is done."""
    pending = operations.pending_sign_in()
    if pending is None:
        flash(_("Please sign in again."))
        return redirect(url_for("manager.sign_in"))
    user, state = pending
    step = operations.next_sign_in_step(user, state)
    if step is None:
        target = operations.finish_sign_in(user)
        db.session.commit()
        return redirect(target or url_for("manager.show_dashboard"))
    return redirect(url_for(SIGN_IN_STEPS[step]))


def _pending_at(step: str):
    """The user of a pending sign-in whose next step is ``step``, or a redirect to where it stands."""
    pending = operations.pending_sign_in()
    if pending is None or operations.next_sign_in_step(*pending) != step:
        return None, _continue_sign_in()
    return pending[0], None


@bp.route("/sign-in/code", methods=["GET", "POST"])
@limiter.limit(sign_in_rate_limit, methods=["POST"])
def sign_in_code():
    user, elsewhere = _pending_at("code")
    if elsewhere is not None:
        return elsewhere
    form = CodeForm()
    if form.validate_on_submit():
        result = operations.check_second_factor(user, form.code.data)
        db.session.commit()  # the accepted time step, so the same code is refused from now on
        if result.locked_for is not None:
            operations.abandon_sign_in()
            minutes = -(-result.locked_for // 60)
            form.code.errors.append(_("Too many failed sign-in attempts. Please wait %(minutes)d minutes and "
                                      "try again.", minutes=minutes))
            return render_template("manager/sign_in_code.html", form=form), 429, {
                "Retry-After": str(result.locked_for)}
        if result.user is not None:
            operations.mark_code_ok()
            return _continue_sign_in()
        form.code.errors.append(WRONG_CODE)
        return render_template("manager/sign_in_code.html", form=form), 401
    return render_template("manager/sign_in_code.html", form=form), 400 if form.is_submitted() else 200


@bp.route("/sign-in/new-password", methods=["GET", "POST"])
@limiter.limit(sign_in_rate_limit, methods=["POST"])
def sign_in_new_password():
    user, elsewhere = _pending_at("password")
    if elsewhere is not None:
        return elsewhere
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            operations.change_password(user, form.password.data)
        except operations.AccountError as exc:
            form.password.errors.append(PASSWORD_ERRORS.get(exc.code, str(exc)))
        else:
            db.session.commit()
            return _continue_sign_in()
    return render_template("manager/sign_in_new_password.html", form=form,
                           min_length=operations.MIN_PASSWORD_LENGTH), 400 if form.is_submitted() else 200


def _enrol_page(user, form, *, action: str, status: int = 200):
    # A new key each time the page is opened; a form sent back with a wrong code keeps the one shown.
    secret = twofactor.pending_secret(user, renew=not form.is_submitted())
    db.session.commit()  # the pending secret, so the code from the app matches the next request too
    return render_template("manager/enrol.html", form=form, secret=secret, action=action,
                           qr=twofactor.qr_data_uri(twofactor.provisioning_uri(user, secret)),
                           signed_in=current_user.is_authenticated), status


@bp.route("/sign-in/two-factor", methods=["GET", "POST"])
@limiter.limit(sign_in_rate_limit, methods=["POST"])
def sign_in_enrol():
    """An administrator without a second factor sets one up before reaching any page."""
    user, elsewhere = _pending_at("enrol")
    if elsewhere is not None:
        return elsewhere
    form = CodeForm()
    if form.validate_on_submit():
        if twofactor.confirm_enrolment(user, form.code.data):
            db.session.commit()
            operations.mark_code_ok()
            return _continue_sign_in()
        form.code.errors.append(WRONG_CODE)
        return _enrol_page(user, form, action=url_for("manager.sign_in_enrol"), status=400)
    return _enrol_page(user, form, action=url_for("manager.sign_in_enrol"), status=400 if form.is_submitted() else 200)


@bp.get("/account")
@login_required
def show_account():
    return render_template("manager/account.html", account=current_user, role_names=ROLE_NAMES,
                           disable_form=CodeForm(), locale=_locale())


@bp.route("/account/two-factor", methods=["GET", "POST"])
@login_required
def enrol_two_factor():
    """An office manager sets up two-factor sign-in (administrators did so at their first sign-in)."""
    user = current_user._get_current_object()
    if user.two_factor_enrolled:
        flash(TWO_FACTOR_ERRORS["already_enrolled"])
        return redirect(url_for("manager.show_account"))
    form = CodeForm()
    if form.validate_on_submit():
        if twofactor.confirm_enrolment(user, form.code.data):
            db.session.commit()
            flash(_("Two-factor sign-in is set up. From now on you sign in with a code from your app."))
            return redirect(url_for("manager.show_account"))
        form.code.errors.append(WRONG_CODE)
        return _enrol_page(user, form, action=url_for("manager.enrol_two_factor"), status=400)
    return _enrol_page(user, form, action=url_for("manager.enrol_two_factor"),
                       status=400 if form.is_submitted() else 200)


@bp.post("/account/two-factor/disable")
@login_required
@limiter.limit(sign_in_rate_limit)
def disable_two_factor():
    user = current_user._get_current_object()
    form = CodeForm()
    try:
        twofactor.check_may_disable(user)
        if not form.validate_on_submit():
            if form.csrf_token.errors:
                abort(400)
            return render_template("manager/account.html", account=user, role_names=ROLE_NAMES, disable_form=form,
                                   locale=_locale()), 400
        done = twofactor.disable(user, form.code.data)
    except twofactor.TwoFactorError as exc:
        db.session.rollback()
        return render_template("errors/error.html", status=409, message=TWO_FACTOR_ERRORS[exc.code]), 409
    db.session.commit()
    if not done:
        form.code.errors.append(WRONG_CODE)
        return render_template("manager/account.html", account=user, role_names=ROLE_NAMES, disable_form=form,
                               locale=_locale()), 400
    flash(_("Two-factor sign-in is turned off."))
    return redirect(url_for("manager.show_account"))


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


@bp.get("/")
@login_required
def show_dashboard():
    scope = current_scope()
    if not scope.valid:
        message = _l("Your account is not bound to a unit that fits its role. Please ask an administrator.")
        return render_template("errors/error.html", status=403, message=message), 403
    return _dashboard_page(scope, scope.unit_code)


@bp.get("/u/<code>")
@login_required
def show_unit(code: str):
    scope = current_scope()
    unit = get_unit_in_scope_or_404(code, scope=scope)
    return _dashboard_page(scope, unit.code)


#: What each refusal of :func:`survey.manager.operations.create_user` says to a person.
ACCOUNT_ERRORS = {
    "bad_email": _l("This is not an e-mail address."),
    "exists": _l("There is already an account for this e-mail."),
    "unit_level": _l("This role is bound to a unit of another level."),
    "unit_needed": _l("This role needs a unit."),
    "no_unit": _l("A national administrator is bound to no unit."),
}
CHANNEL_NAMES = {"kiosk": _l("Kiosk at the counter"), "phone": _l("Phone (QR code at the counter)"),
                 "web": _l("Web link"), "api": _l("Connected system (API)"),
                 "link": _l("Single-use link"), "staff": _l("Entered by staff")}
ROLE_NAMES = {"national-admin": _l("National administrator"), "province-admin": _l("Provincial administrator"),
              "office-manager": _l("Office manager")}
BELOW_TITLES = {"province": _l("Provinces"), "office": _l("One-stop offices"), "counter": _l("Counters")}


@bp.app_template_filter("score")
def score(value) -> str:
    """A mean score with two decimals in the reader's locale (4,40 in Vietnamese)."""
    return "–" if value is None else format_decimal(value, "#,##0.00")


@bp.app_template_filter("moment")
def moment(value) -> str:
    """A date and time (stored in UTC) in Vietnam's time and the reader's locale."""
    return "–" if value is None else format_datetime(value, "short")


def _locale() -> str:
    return str(get_locale() or "vi")


def _dashboard_page(scope: Scope, unit_code: str | None):
    try:
        board = build_dashboard(unit_code, check_period(request.args.get("period")),
                                trend_kind=check_trend_kind(request.args.get("trend")))
    except ResultsError as exc:
        return render_template("errors/error.html", status=400, message=exc.message), 400
    locale = _locale()
    tree = unit_tree()
    chain = []
    if board.unit is not None:
        nodes = tree.chain(board.unit)
        top = next((i for i, n in enumerate(nodes) if n.code == scope.unit_code), 0 if scope.everything else None)
        chain = [(n.code, n.name(locale)) for n in nodes[top:-1]] if top is not None else []
    scope_node = tree.by_code.get(scope.unit_code) if scope.unit_code else None
    return render_template(
        "manager/dashboard.html", board=board,
        name=board.unit.name(locale) if board.unit else _l("The whole platform"),
        scope_name=scope_node.name(locale) if scope_node else _l("the whole platform"),
        chain=chain, status=status_text(board.results),
        own=display_row(board.results, board.own) if board.own else None,
        below=[display_row(board.below_results, r) for r in board.below],
        pulling_down=[display_row(board.below_results, r) for r in board.pulling_down],
        not_judged=len(board.not_judged), below_title=BELOW_TITLES.get(board.below_level, ""),
        channels=board.channels, channel_names=CHANNEL_NAMES,
        trend=_trend_rows(board), weekly=board.weekly, trend_links=_trend_links(), criteria=_criteria_rows(board, locale), procedures=_procedure_rows(board, locale),
        min_n=board.results.content["options"]["min_n"], periods=period_choices(), period_name=period_name,
        alerts=_dashboard_alerts(scope, board), alert_kinds=ALERT_KINDS, export_form=ExportForm(formdata=None),
        locale=locale,
    )


#: Open alerts listed on the dashboard (the alerts page lists them all).
DASHBOARD_ALERTS = 10


def _dashboard_alerts(scope: Scope, board: Dashboard):
    """The open alerts of the unit shown (its subtree), inside the manager's scope: (rows, more)."""
    unit = get_unit_in_scope_or_404(board.unit.code, scope=scope) if board.unit else None
    return alert_queries.alerts_in_scope(scope, unit=unit, per_page=DASHBOARD_ALERTS)


def _trend_links() -> dict[str, str]:
    """This page's address with the trend by month (no ``trend``) or by week, other arguments kept."""
    # The query is encoded here, not passed to url_for: a junk argument named like one of url_for's
    # own (``endpoint``, ``_external``…) or the path's never breaks the page.
    path = url_for(request.endpoint, **(request.view_args or {}))
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "trend"]
    month, week = urlencode(args), urlencode([*args, ("trend", "week")])
    return {"month": f"{path}?{month}" if month else path, "week": f"{path}?{week}"}


def _trend_rows(board: Dashboard) -> list[dict]:
    out = []
    for results, row in board.trend:
        shown = display_row(results, row) if row else {"n": 0, "publishable": False, "index": None}
        out.append({**shown, "period": results.period, "provisional": results.provisional,
                    "revision": results.revision})
    return out


def _criteria_rows(board: Dashboard, locale: str) -> list[dict]:
    out = []
    for item in board.criteria:
        criterion, row = item["criterion"], item["row"]
        entry = {"text": criterion["text_en"] if locale == "en" else criterion["text_vi"],
                 "n": row["n"] if row else 0, "publishable": bool(row and row["publishable"])}
        if entry["publishable"]:
            entry.update(index=row["index"], ci_low=row["ci_low"], ci_high=row["ci_high"])
        out.append(entry)
    return out


def _procedure_rows(board: Dashboard, locale: str) -> list[dict]:
    out = []
    for row in board.procedures:
        entry = {"name": row["procedure_name_en"] if locale == "en" else row["procedure_name_vi"],
                 "n": row["n"], "publishable": bool(row["publishable"])}
        if entry["publishable"]:
            entry.update(index=row["index"], ci_low=row["ci_low"], ci_high=row["ci_high"])
        out.append(entry)
    return out


# --------------------------------------------------------------------------- comments (personal data masked)


def mask_labels() -> dict[str, str]:
    return {"email": _("[email address]"), "dossier": _("[dossier code]"),
            "citizen_id": _("[citizen ID number]"), "phone": _("[phone number]")}


def _chosen_unit(scope):
    """The unit named by ``?unit=`` inside the scope (404 outside it), or None for the whole scope."""
    code = (request.args.get("unit") or "").strip()
    return get_unit_in_scope_or_404(code, scope=scope) if code else None


def _page_argument() -> int:
    """The ``?page=`` number (1 to 100,000); anything else ends the request with a 400 page saying so."""
    page = request.args.get("page", "1")
    if not (page.isdigit() and 1 <= int(page) <= 100_000):
        abort(make_response(render_template("errors/error.html", status=400,
                                            message=_("The page must be a whole number from 1.")), 400))
    return int(page)


@bp.get("/comments")
@login_required
def list_comments():
    scope = current_scope()
    unit, page = _chosen_unit(scope), _page_argument()
    comments, more = queries.comments_in_scope(scope, unit=unit, page=page, labels=mask_labels())
    return render_template("manager/comments.html", comments=comments, more=more, page=page, unit=unit,
                           unit_name=unit.name(_locale()) if unit else None, locale=_locale())


@bp.get("/ratings/<rating_id>")
@login_required
def show_rating(rating_id: str):
    rating = load_in_scope(Rating, rating_id)
    return render_template("manager/rating.html", rating=rating, comment=queries.masked_comment(rating, mask_labels()),
                           original=queries.original_comment(rating), locale=_locale())


# --------------------------------------------------------------------------- exports


@bp.get("/export/ratings.csv")
@login_required
def export_ratings_csv():
    scope = current_scope()
    code = (request.args.get("unit") or "").strip()
    unit = get_unit_in_scope_or_404(code, scope=scope) if code else None
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"ratings-{unit.code if unit else scope.unit_code or 'all'}.csv")
    body = stream_with_context(exports.ratings_csv(scope, unit=unit, labels=mask_labels()))
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/export/ratings.xlsx")
@login_required
def export_ratings_xlsx():
    scope = current_scope()
    code = (request.args.get("unit") or "").strip()
    unit = get_unit_in_scope_or_404(code, scope=scope) if code else None
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"ratings-{unit.code if unit else scope.unit_code or 'all'}.xlsx")
    body = stream_with_context(exports.ratings_xlsx(scope, unit=unit, labels=mask_labels()))
    return Response(body, mimetype=XLSX_MIMETYPE,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


#: What the progress page says for each state of a background export.
EXPORT_STATES = {"queued": _l("Waiting for a worker"), "running": _l("Writing the file"),
                 "finished": _l("Ready to download"), "failed": _l("The export failed. Please try again."),
                 "expired": _l("The file was deleted after its time. Please prepare it again.")}


@bp.post("/exports")
@login_required
def start_export():
    scope = current_scope()
    form = ExportForm()
    if not form.validate_on_submit():
        abort(400)
    code = (form.unit.data or "").strip()
    unit = get_unit_in_scope_or_404(code, scope=scope) if code else None
    job = export_jobs.start_export(current_user, unit, form.format.data, _locale())
    db.session.commit()
    jobs.enqueue(export_jobs.run_export, job.id)  # without Redis it runs now, in this request
    return redirect(url_for("manager.show_export", export_id=job.id), code=303)


@bp.get("/exports/<export_id>")
@login_required
def show_export(export_id: str):
    job = export_of_user_or_404(export_id, current_user)
    return render_template("manager/export.html", job=job, states=EXPORT_STATES,
                           refresh=job.state in ("queued", "running"), locale=_locale())


@bp.get("/exports/<export_id>/download")
@login_required
def download_export(export_id: str):
    job = export_of_user_or_404(export_id, current_user)
    path = export_jobs.file_path(job)
    if job.state != "finished" or not path.is_file():
        message = EXPORT_STATES["expired"] if job.state in ("finished", "expired") else EXPORT_STATES[job.state]
        return render_template("errors/error.html", status=410 if job.state == "expired" else 409,
                               message=message), 410 if job.state == "expired" else 409
    name = f"ratings-{job.id}.{job.format}"
    return send_file(path, mimetype="text/csv" if job.format == "csv" else XLSX_MIMETYPE, as_attachment=True,
                     download_name=name)


# --------------------------------------------------------------------------- kiosks and accounts (read-only)


@bp.route("/kiosks", methods=["GET", "POST"])
@login_required
def list_kiosks():
    scope = current_scope()
    locale = _locale()
    form = RegisterKioskForm()
    offices = queries.units_in_scope(scope, UnitLevel.OFFICE)
    counters = queries.units_in_scope(scope, UnitLevel.COUNTER)
    form.office.choices = [(u.code, u.name(locale)) for u in offices]
    form.counter.choices = [("", _("No particular counter"))] + [
        (u.code, f"{u.parent.name(locale)} · {u.name(locale)}") for u in counters
    ]
    # Posters: each office, then its counters, for the table under the kiosks.
    poster_units = sorted([*offices, *counters], key=lambda u: (
        u.parent.code if u.level == UnitLevel.COUNTER else u.code, u.level == UnitLevel.COUNTER, u.code))
    if form.validate_on_submit():
        office = get_unit_in_scope_or_404(form.office.data, scope=scope)
        counter = get_unit_in_scope_or_404(form.counter.data, scope=scope) if form.counter.data else None
        try:
            kiosk, token = register_kiosk(office, counter, form.label.data, actor=current_user)
        except KioskError as exc:
            form.label.errors.append(exc.message)
        else:
            db.session.commit()
            # Shown once, never redirected to: the token is not kept anywhere but in this page.
            address = url_for("rating.rate_at_kiosk", token=token, _external=True)
            return render_template("manager/kiosk_registered.html", kiosk=kiosk, address=address,
                                   qr=_qr_data_uri(address), locale=locale), 201
    status = 400 if form.is_submitted() else 200
    kiosks = queries.kiosks_in_scope(scope)
    return render_template("manager/kiosks.html", kiosks=kiosks, health=queries.kiosk_health(kiosks), form=form,
                           poster_units=poster_units, locale=locale), status


def _qr_data_uri(address: str) -> str:
    import segno

    return segno.make(address, error="m").svg_data_uri(scale=6, border=2)


@bp.get("/kiosks/<kiosk_id>")
@login_required
def show_kiosk(kiosk_id: str):
    kiosk = load_in_scope(Kiosk, kiosk_id)
    return render_template("manager/kiosk.html", kiosk=kiosk, health=queries.kiosk_health([kiosk])[kiosk.id],
                           form=ConfirmForm(), locale=_locale(), timings_form=_timings_form(kiosk))


def _timings_form(kiosk: Kiosk, **kwargs) -> KioskTimingsForm:
    return KioskTimingsForm(data={name: getattr(kiosk, f"{name}_seconds") for name in KIOSK_TIMINGS}, **kwargs)


@bp.post("/kiosks/<kiosk_id>/timings")
@login_required
def change_kiosk_timings(kiosk_id: str):
    kiosk = load_in_scope(Kiosk, kiosk_id)
    form = KioskTimingsForm()
    if form.validate_on_submit():
        try:
            changed = set_kiosk_timings(kiosk, {name: form[name].data for name in KIOSK_TIMINGS}, actor=current_user)
        except KioskError as exc:
            form.form_errors.append(exc.message)
        else:
            if changed:
                db.session.commit()
                flash(_("The kiosk's timings are saved; the tablet uses them from its next page."))
            return redirect(url_for("manager.show_kiosk", kiosk_id=kiosk.id))
    return render_template("manager/kiosk.html", kiosk=kiosk, health=queries.kiosk_health([kiosk])[kiosk.id],
                           form=ConfirmForm(), locale=_locale(), timings_form=form), 400


@bp.post("/kiosks/<kiosk_id>/revoke")
@login_required
def revoke_kiosk_address(kiosk_id: str):
    kiosk = load_in_scope(Kiosk, kiosk_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    if revoke_kiosk(kiosk, actor=current_user):
        db.session.commit()
        flash(_("The kiosk's address no longer works."))
    return redirect(url_for("manager.show_kiosk", kiosk_id=kiosk.id))


@bp.get("/u/<code>/poster.pdf")
@login_required
def download_poster_pdf(code: str):
    """The printable QR poster of an office or counter in scope, as PDF (``?size=a4`` or ``a5``)."""
    return _poster(code, "pdf")


@bp.get("/u/<code>/poster.svg")
@login_required
def download_poster_svg(code: str):
    """The same poster as SVG, for print shops and layout programs."""
    return _poster(code, "svg")


def _poster(code: str, kind: str) -> Response:
    unit = get_unit_in_scope_or_404(code)
    size = request.args.get("size", "a4")
    if not posters.has_poster(unit) or size not in posters.PAPER_MM:
        abort(404)
    # A poster outlives this request: print the site's public address when one is configured.
    base_url = (current_app.config.get("PUBLIC_BASE_URL") or "").strip()
    if base_url:
        with current_app.test_request_context(base_url=base_url):
            address = url_for("rating.rate_by_phone", code=unit.code, _external=True)
    else:
        address = url_for("rating.rate_by_phone", code=unit.code, _external=True)
    body = posters.poster(posters.content_for(unit, address), kind=kind, size=size)
    name = posters.file_name(unit.code, kind, size)
    return Response(body, mimetype=posters.MEDIA_TYPES[kind],
                    headers={"Content-Disposition": f'inline; filename="{name}"'})


@bp.route("/users", methods=["GET", "POST"])
@login_required
def list_users():
    scope = require_user_admin()
    locale = _locale()
    form = CreateUserForm()
    # A provincial administrator gives roles inside their province; only a national one makes national ones.
    roles = [r for r in ROLE_NAMES if scope.everything or r != NATIONAL_ADMIN]
    form.role.choices = [(r, ROLE_NAMES[r]) for r in roles]
    units = [u for level in (UnitLevel.PROVINCE, UnitLevel.COMMUNE, UnitLevel.OFFICE)
             for u in queries.units_in_scope(scope, level)]
    form.unit.choices = [("", _("None (national administrator)"))] + [(u.code, u.name(locale)) for u in units]
    if form.validate_on_submit():
        unit = get_unit_in_scope_or_404(form.unit.data, scope=scope) if form.unit.data else None
        try:
            user, password = operations.create_user(form.email.data, form.role.data, unit.code if unit else None,
                                                    name=form.name.data, actor=current_user)
        except operations.AccountError as exc:
            form.email.errors.append(ACCOUNT_ERRORS.get(exc.code, str(exc)))
        else:
            db.session.commit()
            # The one-time password is shown on this page only, never stored or redirected with.
            return render_template("manager/user_created.html", account=user, password=password,
                                   role_names=ROLE_NAMES, locale=locale), 201
    status = 400 if form.is_submitted() else 200
    return render_template("manager/users.html", users=queries.users_in_scope(scope), locale=locale,
                           role_names=ROLE_NAMES, form=form), status


@bp.get("/users/<user_id>")
@login_required
def show_user(user_id: str):
    scope = require_user_admin()
    return render_template("manager/user.html", account=load_in_scope(User, user_id, scope=scope), locale=_locale(),
                           role_names=ROLE_NAMES, form=ConfirmForm())


@bp.post("/users/<user_id>/reset-two-factor")
@login_required
def reset_two_factor(user_id: str):
    """An administrator removes a person's second factor in their scope (a lost phone); audited."""
    scope = require_user_admin()
    account = load_in_scope(User, user_id, scope=scope)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        twofactor.reset(account, actor=current_user._get_current_object())
    except twofactor.TwoFactorError as exc:
        db.session.rollback()
        return render_template("errors/error.html", status=409, message=TWO_FACTOR_ERRORS[exc.code]), 409
    db.session.commit()
    flash(_("The second factor is removed and the person's sessions have ended."))
    return redirect(url_for("manager.show_user", user_id=account.id))


# --------------------------------------------------------------------------- settings (national administrator)


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def edit_settings():
    scope = require_user_admin()
    if not scope.everything:
        abort(403)
    form = SettingsForm()
    if form.validate_on_submit():
        if settings_operations.change_setting("keep_unmasked_comments", bool(form.keep_unmasked_comments.data),
                                              current_user):
            db.session.commit()
            flash(_("The setting is saved."))
        return redirect(url_for("manager.edit_settings"))
    if not form.is_submitted():
        form.keep_unmasked_comments.data = keep_unmasked_comments()
    status = 400 if form.is_submitted() else 200
    return render_template("manager/settings.html", form=form, locale=_locale()), status


# --------------------------------------------------------------------------- audit log


AUDIT_ACTIONS = {"kiosk_registered": _l("Kiosk registered"), "kiosk_revoked": _l("Kiosk revoked"),
                 "kiosk_timings_changed": _l("Kiosk timings changed"),
                 "user_created": _l("Account created"), "api_key_created": _l("API key created"),
                 "api_key_revoked": _l("API key revoked"), "transactions_uploaded": _l("Transactions file uploaded"),
                 "case_acknowledged": _l("Complaint case acknowledged"),
                 "case_answered": _l("Complaint case answered"), "case_closed": _l("Complaint case closed"),
                 "flag_confirmed": _l("Misuse flag confirmed"), "flag_cleared": _l("Misuse flag cleared"),
                 "unit_created": _l("Unit added"), "unit_renamed": _l("Unit renamed"),
                 "unit_settings_changed": _l("Unit settings changed"), "unit_merged": _l("Merger recorded"),
                 "index_score_added": _l("Unit score entered"), "procedure_created": _l("Procedure added"),
                 "procedure_updated": _l("Procedure updated"),
                 "two_factor_enrolled": _l("Two-factor sign-in set up"),
                 "two_factor_disabled": _l("Two-factor sign-in turned off"),
                 "two_factor_reset": _l("Second factor reset by an administrator"),
                 "setting_changed": _l("Setting changed"),
                 "snapshot_published": _l("Results published")}


@bp.get("/audit")
@login_required
def show_audit_log():
    scope = require_user_admin()
    page = _page_argument()
    entries, more = queries.audit_in_scope(scope, page=page)
    return render_template("manager/audit.html", entries=entries, more=more, page=page, actions=AUDIT_ACTIONS,
                           locale=_locale())


# --------------------------------------------------------------------------- complaint cases


CASE_STATES = {"open": _l("open"), "acknowledged": _l("acknowledged"), "answered": _l("answered"),
               "closed": _l("closed")}


@bp.get("/cases")
@login_required
def list_cases():
    scope = current_scope()
    unit, page = _chosen_unit(scope), _page_argument()
    show_closed = request.args.get("closed") == "1"
    rows, more = queries.cases_in_scope(scope, unit=unit, page=page, show_closed=show_closed, labels=mask_labels())
    return render_template("manager/cases.html", rows=rows, more=more, page=page, unit=unit,
                           unit_name=unit.name(_locale()) if unit else None, show_closed=show_closed,
                           states=CASE_STATES, now=utcnow(), locale=_locale(),
                           deadline_days=current_app.config["CASE_DEADLINE_DAYS"])


def _case_page(case: ComplaintCase, answer_form: AnswerCaseForm | None = None, error: str | None = None,
               status: int = 200):
    return render_template(
        "manager/case.html", case=case, comment=queries.masked_comment(case.rating, mask_labels()),
        original=queries.original_comment(case.rating), contact=cases.reply_contact(case),
        answer_form=answer_form or AnswerCaseForm(), form=ConfirmForm(), states=CASE_STATES, error=error,
        overdue=case.overdue(utcnow()), locale=_locale(),
    ), status


@bp.get("/cases/<case_id>")
@login_required
def show_case(case_id: str):
    return _case_page(load_in_scope(ComplaintCase, case_id))


@bp.post("/cases/<case_id>/<action>")
@login_required
def change_case(case_id: str, action: str):
    case = load_in_scope(ComplaintCase, case_id)
    if action not in ("acknowledge", "answer", "close"):
        abort(404)
    form = AnswerCaseForm() if action == "answer" else ConfirmForm()
    if not form.validate_on_submit():
        if action == "answer" and form.csrf_token.errors == []:
            return _case_page(case, answer_form=form, status=400)
        abort(400)
    try:
        if action == "acknowledge":
            cases.acknowledge(case, current_user)
        elif action == "answer":
            cases.answer(case, current_user, form.text.data)
        else:
            cases.close(case, current_user)
    except cases.CaseError as exc:
        db.session.rollback()
        return _case_page(load_in_scope(ComplaintCase, case_id), error=str(exc.message), status=exc.status)
    db.session.commit()
    flash({"acknowledge": _("The case is acknowledged."), "answer": _("The answer is recorded."),
           "close": _("The case is closed.")}[action])
    return redirect(url_for("manager.show_case", case_id=case.id))


# --------------------------------------------------------------------------- alerts


@bp.get("/alerts")
@login_required
def list_alerts():
    scope = current_scope()
    unit, page = _chosen_unit(scope), _page_argument()
    show_closed = request.args.get("closed") == "1"
    rows, more = alert_queries.alerts_in_scope(scope, unit=unit, show_closed=show_closed, page=page)
    return render_template("manager/alerts.html", rows=rows, more=more, page=page, unit=unit,
                           unit_name=unit.name(_locale()) if unit else None, show_closed=show_closed,
                           kinds=ALERT_KINDS, locale=_locale())


# --------------------------------------------------------------------------- misuse review


FLAG_NAMES = {"manual": _l("flagged by a person"), "burst": _l("too many ratings in a short time"),
              "duplicate": _l("duplicate"), "test": _l("test rating"),
              "clock": _l("implausible tap time (tablet clock)")}


@bp.get("/misuse")
@login_required
def list_flagged():
    scope = current_scope()
    unit, page = _chosen_unit(scope), _page_argument()
    rows, more = queries.flagged_in_scope(scope, unit=unit, page=page, labels=mask_labels())
    return render_template("manager/misuse.html", rows=rows, more=more, page=page, unit=unit,
                           unit_name=unit.name(_locale()) if unit else None, flag_names=FLAG_NAMES,
                           channel_names=CHANNEL_NAMES, form=ConfirmForm(), locale=_locale())


@bp.post("/misuse/<rating_id>/<decision>")
@login_required
def review_flag(rating_id: str, decision: str):
    rating = load_in_scope(Rating, rating_id)
    if decision not in ("confirm", "clear"):
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        if decision == "confirm":
            misuse.confirm_flag(rating, current_user)
        else:
            misuse.review_clear(rating, current_user)
    except misuse.ReviewError as exc:
        db.session.rollback()
        return render_template("errors/error.html", status=409, message=exc.message), 409
    db.session.commit()
    flash(_("The flag is confirmed: the rating stays out of the figures.") if decision == "confirm"
          else _("The flag is cleared: the rating counts again."))
    return redirect(url_for("manager.list_flagged"))


# The one-stop integration pages (API keys, CSV import) register on this blueprint (their own module).
from survey.manager import integration_views  # noqa: E402,F401
from survey.manager import units as _unit_pages  # noqa: E402,F401  (adds the unit and catalogue pages to bp)
