"""Manager pages: sign-in (Flask-Login) with throttling, lockout and revocable sessions (see
:mod:`survey.manager.operations`), and the dashboard of the manager's scope. Every row is loaded
through :mod:`survey.units.scope`; no view writes a scope filter of its own."""

import re
from urllib.parse import quote

from flask import (
    Blueprint, Response, abort, current_app, flash, g, jsonify, make_response, redirect, render_template, request, session,
    stream_with_context, url_for,
)
from flask_babel import format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from forms.manager import AnswerCaseForm, ConfirmForm, CreateUserForm, KioskTimingsForm, RegisterKioskForm, SignInForm
from survey.errors import wants_json
from survey.extensions import db, limiter, login_manager
from survey.manager import operations, queries
from survey.manager.dashboard import Dashboard, build_dashboard, check_period
from survey.public.views import display_row, period_name, status_text
from survey.results.service import ResultsError, period_choices
from survey.results.tree import unit_tree
from survey.security import safe_redirect_target
from survey.manager import exports
from survey.kiosks.operations import KioskError, register_kiosk, revoke_kiosk, set_kiosk_timings
from survey.cases import operations as cases
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


def _locale() -> str:
    return str(get_locale() or "vi")


def _dashboard_page(scope: Scope, unit_code: str | None):
    try:
        board = build_dashboard(unit_code, check_period(request.args.get("period")))
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
        trend=_trend_rows(board), criteria=_criteria_rows(board, locale), procedures=_procedure_rows(board, locale),
        min_n=board.results.content["options"]["min_n"], periods=period_choices(), period_name=period_name,
        locale=locale,
    )


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
                           locale=_locale())


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


# --------------------------------------------------------------------------- kiosks and accounts (read-only)


@bp.route("/kiosks", methods=["GET", "POST"])
@login_required
def list_kiosks():
    scope = current_scope()
    locale = _locale()
    form = RegisterKioskForm()
    form.office.choices = [(u.code, u.name(locale)) for u in queries.units_in_scope(scope, UnitLevel.OFFICE)]
    form.counter.choices = [("", _("No particular counter"))] + [
        (u.code, f"{u.parent.name(locale)} · {u.name(locale)}") for u in queries.units_in_scope(scope, UnitLevel.COUNTER)
    ]
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
    return render_template("manager/kiosks.html", kiosks=queries.kiosks_in_scope(scope), form=form,
                           locale=locale), status


def _qr_data_uri(address: str) -> str:
    import segno

    return segno.make(address, error="m").svg_data_uri(scale=6, border=2)


@bp.get("/kiosks/<kiosk_id>")
@login_required
def show_kiosk(kiosk_id: str):
    kiosk = load_in_scope(Kiosk, kiosk_id)
    return render_template("manager/kiosk.html", kiosk=kiosk, form=ConfirmForm(), locale=_locale(),
                           timings_form=_timings_form(kiosk))


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
    return render_template("manager/kiosk.html", kiosk=kiosk, form=ConfirmForm(), locale=_locale(),
                           timings_form=form), 400


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
                           role_names=ROLE_NAMES)


# --------------------------------------------------------------------------- audit log


AUDIT_ACTIONS = {"kiosk_registered": _l("Kiosk registered"), "kiosk_revoked": _l("Kiosk revoked"),
                 "kiosk_timings_changed": _l("Kiosk timings changed"),
                 "user_created": _l("Account created"), "api_key_created": _l("API key created"),
                 "api_key_revoked": _l("API key revoked"), "case_acknowledged": _l("Complaint case acknowledged"),
                 "case_answered": _l("Complaint case answered"), "case_closed": _l("Complaint case closed"),
                 "flag_confirmed": _l("Misuse flag confirmed"), "flag_cleared": _l("Misuse flag cleared")}


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


# --------------------------------------------------------------------------- misuse review


FLAG_NAMES = {"manual": _l("flagged by a person"), "burst": _l("too many ratings in a short time"),
              "duplicate": _l("duplicate"), "test": _l("test rating")}


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
