"""Manager pages for the unit tree and the procedure catalogue: a unit's page (its details, children,
mergers, settings and entered scores, with the forms its viewer may use) and the catalogue import.

Units are loaded through :func:`survey.units.scope.get_unit_in_scope_or_404` (404 outside the scope);
what a person may change is decided by :mod:`survey.units.operations`, which also writes the audit
entries. Routes are added to the manager blueprint.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from analysis.dossier import INDEX_BY_NUMBER
from forms.units import (
    AddUnitForm, ImportProceduresForm, IndexScoreForm, MergeUnitForm, RenameUnitForm, UnitSettingsForm,
)
from survey.extensions import db
from survey.manager.views import _locale, _page_argument, bp
from survey.models import Unit, UnitLevel
from survey.procedures.operations import MAX_BYTES, CatalogueFormatError, import_procedures
from survey.security import accepts_files
from survey.transactions.evaluation import UNIT_INDEX_NUMBERS
from survey.units import operations, queries
from survey.units.scope import current_scope, get_unit_in_scope_or_404

LEVEL_NAMES = {"province": _l("Province"), "commune": _l("Commune"), "office": _l("One-stop office"),
               "counter": _l("Counter")}
#: The points an entered index may get (Circular 01/2018/TT-VPCP: 0, 1 or 2).
POINTS = [(2, "2"), (1, "1"), (0, "0")]


def _index_title(number: int, locale: str) -> str:
    """The index's official title (Circular 01/2018/TT-VPCP) from :mod:`analysis.dossier`."""
    definition = INDEX_BY_NUMBER[number]
    return definition.title_en if locale == "en" else definition.title_vi


def _prepare(unit: Unit, forms: dict) -> dict:
    """The page's forms, each with its choices, for the ones this person may use."""
    scope, locale = current_scope(), _locale()
    out: dict = {}
    if operations.may_edit_unit(scope, unit):
        rename = forms.get("rename") or RenameUnitForm(prefix="rename", name_vi=unit.name_vi, name_en=unit.name_en)
        out["rename"] = rename
        if unit.valid_to is None:
            merge = forms.get("merge") or MergeUnitForm(prefix="merge")
            merge.successor.choices = [(u.code, f"{u.name(locale)} ({u.code})")
                                       for u in queries.merge_candidates(unit, scope)]
            out["merge"] = merge
        if unit.level == UnitLevel.OFFICE:
            score = forms.get("score") or IndexScoreForm(prefix="score")
            score.index_number.choices = [(n, f"{n}. {_index_title(n, locale)}") for n in UNIT_INDEX_NUMBERS]
            score.points.choices = POINTS
            out["score"] = score
    if operations.may_edit_tree(scope) and unit.valid_to is None and operations.CHILD_LEVELS[unit.level]:
        add = forms.get("add") or AddUnitForm(prefix="add")
        add.level.choices = [(str(level), LEVEL_NAMES[str(level)]) for level in operations.CHILD_LEVELS[unit.level]]
        out["add"] = add
    if operations.may_edit_settings(scope, unit):
        settings = forms.get("settings") or UnitSettingsForm(prefix="settings",
                                                             complaint_contact=unit.complaint_contact,
                                                             questionnaire_code=unit.questionnaire_code or "")
        settings.questionnaire_code.choices = [("", _("Inherited from the unit above"))] + [
            (code, code) for code in queries.questionnaire_codes()]
        out["settings"] = settings
    return out


def _unit_page(unit: Unit, *, forms: dict | None = None, error: str | None = None, status: int = 200):
    locale = _locale()
    return render_template(
        "manager/unit.html", unit=unit, forms=_prepare(unit, forms or {}), error=error, locale=locale,
        level_names=LEVEL_NAMES, children=queries.children_of(unit), merged=queries.merged_into(unit),
        scores=[(s, _index_title(s.index_number, locale)) for s in queries.index_scores_of(unit)],
        score_indices=[(n, _index_title(n, locale)) for n in UNIT_INDEX_NUMBERS],
    ), status


@bp.get("/units/<code>")
@login_required
def manage_unit(code: str):
    return _unit_page(get_unit_in_scope_or_404(code))


def _refused(unit: Unit, name: str, form, exc: operations.UnitError):
    db.session.rollback()
    unit = db.session.get(Unit, unit.id)
    status = 403 if exc.code == "not_allowed" else 400
    return _unit_page(unit, forms={name: form}, error=str(exc.message), status=status)


def _invalid(unit: Unit, name: str, form):
    """A form that did not validate: a missing CSRF token is a 400 with nothing else, field errors show on the page."""
    if form.csrf_token.errors:
        abort(400)
    if name not in _prepare(unit, {}):  # e.g. a score for a counter, a merger of a unit that has ended
        return _unit_page(unit, error=_("This change cannot be made to this unit."), status=400)
    return _unit_page(unit, forms={name: form}, error=_("Please correct the fields marked below."), status=400)


def _done(unit: Unit, message: str):
    db.session.commit()
    operations.tree_changed()  # after the commit too, so no request reloads the tree in between
    flash(message)
    return redirect(url_for("manager.manage_unit", code=unit.code))


@bp.post("/units/<code>/rename")
@login_required
def rename_unit(code: str):
    scope, unit = current_scope(), get_unit_in_scope_or_404(code)
    if not operations.may_edit_unit(scope, unit):
        abort(403)
    form = RenameUnitForm(prefix="rename")
    if not form.validate_on_submit():
        return _invalid(unit, "rename", form)
    try:
        changed = operations.rename_unit(unit, form.name_vi.data, form.name_en.data, actor=current_user, scope=scope)
    except operations.UnitError as exc:
        return _refused(unit, "rename", form, exc)
    return _done(unit, _("The unit is renamed.") if changed else _("Nothing was changed."))


@bp.post("/units/<code>/settings")
@login_required
def change_unit_settings(code: str):
    scope, unit = current_scope(), get_unit_in_scope_or_404(code)
    if not operations.may_edit_settings(scope, unit):
        abort(403)
    form = UnitSettingsForm(prefix="settings")
    form.questionnaire_code.choices = [("", "")] + [(c, c) for c in queries.questionnaire_codes()]
    if not form.validate_on_submit():
        return _invalid(unit, "settings", form)
    try:
        changed = operations.update_settings(unit, complaint_contact=form.complaint_contact.data,
                                             questionnaire_code=form.questionnaire_code.data,
                                             actor=current_user, scope=scope)
    except operations.UnitError as exc:
        return _refused(unit, "settings", form, exc)
    return _done(unit, _("The settings are saved.") if changed else _("Nothing was changed."))


@bp.post("/units/<code>/children")
@login_required
def add_unit(code: str):
    scope, parent = current_scope(), get_unit_in_scope_or_404(code)
    if not operations.may_edit_tree(scope):
        abort(403)
    form = AddUnitForm(prefix="add")
    form.level.choices = [(str(level), str(level)) for level in operations.CHILD_LEVELS[parent.level]]
    if not form.validate_on_submit():
        return _invalid(parent, "add", form)
    try:
        unit = operations.create_unit(parent, form.code.data, form.level.data, form.name_vi.data, form.name_en.data,
                                      valid_from=form.valid_from.data, actor=current_user, scope=scope)
    except operations.UnitError as exc:
        return _refused(parent, "add", form, exc)
    return _done(unit, _("The unit is added."))


@bp.post("/units/<code>/merge")
@login_required
def merge_unit(code: str):
    scope, unit = current_scope(), get_unit_in_scope_or_404(code)
    if not operations.may_edit_unit(scope, unit):
        abort(403)
    form = MergeUnitForm(prefix="merge")
    form.successor.choices = [(u.code, u.code) for u in queries.merge_candidates(unit, scope)]
    if not form.validate_on_submit():
        return _invalid(unit, "merge", form)
    successor = get_unit_in_scope_or_404(form.successor.data, scope=scope)
    try:
        operations.record_merger(unit, successor, form.on.data, actor=current_user, scope=scope)
    except operations.UnitError as exc:
        return _refused(unit, "merge", form, exc)
    return _done(unit, _("The merger is recorded: the unit's ratings are now reported under the unit it was "
                         "merged into."))


@bp.post("/units/<code>/index-scores")
@login_required
def add_index_score(code: str):
    scope, unit = current_scope(), get_unit_in_scope_or_404(code)
    if not operations.may_edit_unit(scope, unit):
        abort(403)
    form = IndexScoreForm(prefix="score")
    form.index_number.choices = [(n, str(n)) for n in UNIT_INDEX_NUMBERS]
    form.points.choices = POINTS
    if not form.validate_on_submit():
        return _invalid(unit, "score", form)
    try:
        operations.add_index_score(unit, form.index_number.data, form.points.data, form.valid_from.data,
                                   form.note.data, actor=current_user, scope=scope)
    except operations.UnitError as exc:
        return _refused(unit, "score", form, exc)
    return _done(unit, _("The score is added."))


# --------------------------------------------------------------------------- the procedure catalogue


@bp.route("/procedures", methods=["GET", "POST"])
@accepts_files
@login_required
def list_procedures():
    scope = current_scope()
    if not scope.everything:
        abort(403)  # the catalogue is national: only a national administrator changes it
    form = ImportProceduresForm()
    report = error = None
    status = 200
    if form.validate_on_submit():
        try:
            report = import_procedures(form.file.data.read(MAX_BYTES + 1), actor=current_user)
        except CatalogueFormatError as exc:
            db.session.rollback()
            error, status = str(exc.message), 400
        else:
            db.session.commit()
    elif form.is_submitted():
        if form.csrf_token.errors:
            abort(400)
        status = 400
    page = _page_argument()
    procedures, total = queries.procedures_page(page)
    return render_template("manager/procedures.html", form=form, report=report, error=error,
                           procedures=procedures, total=total, page=page,
                           more=page * queries.PROCEDURES_PER_PAGE < total, locale=_locale()), status


# ------------------------------------------------------------------ the Circular 01/2018 evaluation

BAND_NAMES = {
    "excellent": _l("Excellent (xuất sắc)"), "good": _l("Good (tốt)"), "fair": _l("Fair (khá)"),
    "average": _l("Average (trung bình)"), "weak": _l("Weak (yếu)"),
    "tasks_100": _l("Tasks completed: 100%"), "tasks_70_100": _l("Tasks completed: 70% to under 100%"),
    "tasks_below_70": _l("Tasks completed: under 70%"),
}
SOURCE_NAMES = {"citizen": _l("Asked of the citizen, per dossier"),
                "transactions": _l("From the one-stop system's dossier times"),
                "unit": _l("Entered per unit")}


@bp.get("/units/<code>/evaluation")
@login_required
def dossier_evaluation_page(code: str):
    """An office's Circular 01/2018/TT-VPCP evaluation for a period: the nine indices with their n, the
    total out of 18 and its band (indices without a score left out, as Art. 15(4)(b) says), and, for
    that office's own managers only, each officer's total (never published)."""
    from survey.manager.dashboard import check_period
    from survey.public.views import period_name
    from survey.results.service import ResultsError, dossier_evaluation, period_choices, staff_dossier_totals

    unit = get_unit_in_scope_or_404(code)
    if unit.level != UnitLevel.OFFICE:
        abort(404)
    try:
        period = check_period(request.args.get("period"))
        evaluation = dossier_evaluation(period, unit.code)
    except ResultsError as exc:
        return render_template("errors/error.html", status=400, message=exc.message), 400
    staff = None
    try:
        table = staff_dossier_totals(period, unit.code, current_user)
        staff = [] if table.empty else table.to_dict("records")
    except ResultsError:
        staff = None  # not this office's manager: the officers' totals are not shown
    return render_template(
        "manager/evaluation.html", unit=unit, locale=_locale(), evaluation=evaluation, staff=staff,
        period=period, periods=period_choices(), period_name=period_name, band_names=BAND_NAMES,
        source_names=SOURCE_NAMES, staff_indices=[1, 2, 3, 4, 7],
    )


@bp.app_template_filter("tenth")
def tenth(value) -> str:
    """A score to one decimal in the reader's locale (1,7 in Vietnamese); "–" when there is none."""
    from babel.numbers import format_decimal
    from flask_babel import get_locale

    if value is None or value != value:  # None or NaN
        return "–"
    return format_decimal(value, "0.0", locale=str(get_locale() or "vi"))
