"""Manager pages for the one-stop integration. API keys: administrators create, list and revoke the
keys of their scope (a key is in a scope when every one of its units is); the key itself is shown once,
on the page that answers its creation, and only its hash is stored. CSV import: an administrator
uploads the transactions of a system that cannot call the API, for the offices of their scope."""

from __future__ import annotations

import json

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from forms.manager import ConfirmForm, CreateApiKeyForm, ImportTransactionsForm
from survey.api.keys import create_api_key, revoke_api_key
from survey import jobs
from survey.api.queries import RECENT_DAYS, api_key_activity, api_keys_in_scope, imports_in_scope
from survey.extensions import db
from survey.manager import queries
from survey.manager.views import _locale, bp
from survey.models import ApiKey, TransactionImport, UnitLevel
from survey.security import accepts_files, accepts_large_body
from survey.transactions.csv_import import CSV_COLUMNS, run_import, start_import
from survey.units.scope import get_unit_in_scope_or_404, load_in_scope, require_user_admin

#: What each state of an uploaded file's import says.
IMPORT_STATES = {"queued": _l("Waiting to start"), "running": _l("Importing"), "done": _l("Finished"),
                 "failed": _l("Stopped: the file cannot be read")}
#: The levels a key can be given for: a whole province, a commune or one office.
KEY_LEVELS = (UnitLevel.PROVINCE, UnitLevel.COMMUNE, UnitLevel.OFFICE)


@bp.route("/api-keys", methods=["GET", "POST"])
@login_required
def list_api_keys():
    scope = require_user_admin()
    locale = _locale()
    form = CreateApiKeyForm()
    form.units.choices = [(u.code, f"{u.name(locale)} ({u.code})")
                          for level in KEY_LEVELS for u in queries.units_in_scope(scope, level)]
    if form.validate_on_submit():
        units = [get_unit_in_scope_or_404(code, scope=scope) for code in form.units.data]
        if not form.name.data.strip():
            form.name.errors.append(_("Please say which system will use the key."))
        else:
            api_key, key = create_api_key(form.name.data, [u.code for u in units], actor=current_user)
            db.session.commit()
            # Shown once, never redirected to: the key is kept nowhere but in this answer.
            return render_template("manager/api_key_created.html", api_key=api_key, key=key, locale=locale), 201
    status = 400 if form.is_submitted() else 200
    return render_template("manager/api_keys.html", api_keys=api_keys_in_scope(scope), form=form,
                           locale=locale), status


@bp.get("/api-keys/<key_id>")
@login_required
def show_api_key(key_id: str):
    scope = require_user_admin()
    api_key = load_in_scope(ApiKey, key_id, scope=scope)
    return render_template("manager/api_key.html", api_key=api_key, activity=api_key_activity(api_key),
                           recent_days=RECENT_DAYS, form=ConfirmForm(), locale=_locale())


@bp.post("/api-keys/<key_id>/revoke")
@login_required
def revoke_api_key_now(key_id: str):
    scope = require_user_admin()
    api_key = load_in_scope(ApiKey, key_id, scope=scope)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if revoke_api_key(api_key, actor=current_user):
        db.session.commit()
        flash(_("The key is revoked: every request with it is refused from now on."))
    return redirect(url_for("manager.show_api_key", key_id=api_key.id))


@bp.route("/transactions/import", methods=["GET", "POST"])
@login_required
@accepts_large_body
@accepts_files
def import_transactions_file():
    """Upload a CSV file of transactions for the offices of the administrator's scope; its import runs
    as a job (:func:`survey.transactions.csv_import.run_import`) and its page shows the progress."""
    scope = require_user_admin()
    form = ImportTransactionsForm()
    if form.validate_on_submit():
        upload = start_import(form.file.data.read(), form.file.data.filename, actor=current_user,
                              scope_unit_id=None if scope.everything else scope.unit_id)
        db.session.commit()
        jobs.enqueue(run_import, upload.id)
        return redirect(url_for("manager.show_transaction_import", import_id=upload.id))
    status = 400 if form.is_submitted() else 200
    return render_template("manager/transactions_import.html", form=form, columns=CSV_COLUMNS,
                           imports=imports_in_scope(scope), states=IMPORT_STATES, locale=_locale()), status


@bp.get("/transactions/imports/<import_id>")
@login_required
def show_transaction_import(import_id: str):
    scope = require_user_admin()
    upload = load_in_scope(TransactionImport, import_id, scope=scope)
    lang = "en" if _locale() == "en" else "vi"
    refused = [{"line": e["line"], "code": e["code"], "message": e[lang]}
               for e in json.loads(upload.refused_lines or "[]")]
    failure = json.loads(upload.failure) if upload.failure else None
    return render_template("manager/transaction_import.html", upload=upload, refused=refused,
                           failure=failure[lang] if failure else None, states=IMPORT_STATES, locale=_locale())
