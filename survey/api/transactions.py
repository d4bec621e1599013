"""``/api/v1/transactions``: one-stop systems register dossiers and get each one's single-use rating link.

Thin: authenticate (``require_api_key``), parse, call :mod:`survey.transactions.operations`, commit once.
"""

from __future__ import annotations

import math

from flask import g, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select

import analysis
from survey.api import bp
from survey.api.errors import APIError
from survey.api.keys import require_api_key
from survey.extensions import db
from survey.models import Rating, Transaction, Unit
from survey.rating.invitations import link_expiry, qr_png, qr_svg, rating_link
from survey.results.service import ResultsError, last_complete_quarter, parse_period, transaction_figures
from survey.results.tree import unit_tree
from survey.security import accepts_large_body
from survey.transactions.operations import MAX_BATCH, ItemError, Registered, register_transactions

#: ``?qr=``: the link's QR code as SVG (the default), as base64 PNG, or none.
QR_KINDS = ("svg", "png", "none")
COUNT_COLUMNS = {"served", "responded", "late", "dissatisfied", "late_or_dissatisfied"}


def _utc_text(moment) -> str:
    return moment.isoformat(timespec="seconds") + "Z"


def _link_fields(transaction_id: int, created_at, returned_at, qr: str) -> dict:
    expires_at = link_expiry(created_at, returned_at)
    url = rating_link(transaction_id, expires_at)
    fields = {"rating_url": url, "expires_at": _utc_text(expires_at)}
    if qr == "svg":
        fields["qr_svg"] = qr_svg(url)
    elif qr == "png":
        fields["qr_png"] = qr_png(url)
    return fields


def _result(outcome: Registered, qr: str) -> dict:
    return {"dossier_code": outcome.dossier_code, "status": outcome.status,
            **_link_fields(outcome.id, outcome.created_at, outcome.returned_at, qr)}


def _qr_option() -> str:
    kind = request.args.get("qr", "svg")
    if kind not in QR_KINDS:
        raise APIError(400, "bad_qr", _l("Unknown QR code kind; use svg, png or none."))
    return kind


@bp.post("/transactions")
@accepts_large_body
@require_api_key
def register_transactions_api():
    """One transaction (a JSON object) or a batch (an array of up to 1,000)."""
    qr = _qr_option()
    data = request.get_json(silent=True) if request.mimetype == "application/json" else None
    if not isinstance(data, (dict, list)):
        raise APIError(400, "bad_json",
                       _l("Send the transactions as a JSON object or array (Content-Type: application/json)."))
    if isinstance(data, list) and not data:
        raise APIError(400, "empty_batch", _l("The batch is empty."))
    if isinstance(data, list) and len(data) > MAX_BATCH:
        raise APIError(400, "batch_too_large", _l("A batch holds at most %(limit)d transactions.", limit=MAX_BATCH))
    outcomes = register_transactions(data if isinstance(data, list) else [data], g.api_caller)
    db.session.commit()
    if isinstance(data, dict):
        outcome = outcomes[0]
        if isinstance(outcome, ItemError):
            raise APIError(outcome.status, outcome.code, outcome.message)
        return jsonify(_result(outcome, qr)), 201 if outcome.status == "created" else 200
    stored, errors = [], []
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, ItemError):
            errors.append({"index": index, "code": outcome.code, "message": str(outcome.message)})
        else:
            stored.append({"index": index, **_result(outcome, qr)})
    return jsonify(stored=stored, errors=errors), 200


@bp.get("/transactions/<dossier_code>")
@require_api_key
def get_transaction(dossier_code: str):
    """A registered transaction of the key's units: whether it was rated, and its link again."""
    qr = _qr_option()
    row = db.session.execute(
        select(Transaction.id, Transaction.office_id, Transaction.created_at, Transaction.returned_at, Unit.code,
               exists().where(Rating.transaction_ref == Transaction.dossier_code))
        .join(Unit, Unit.id == Transaction.office_id)
        .where(Transaction.dossier_code == dossier_code)
    ).one_or_none()
    # Another province's dossier is answered as unknown: a key does not learn what others registered.
    if row is None or not g.api_caller.may_use(row.office_id):
        raise APIError(404, "unknown_transaction",
                       _l("No transaction with this dossier code is registered for this key."))
    return jsonify(dossier_code=dossier_code, office_code=row.code, rated=bool(row[5]),
                   **_link_fields(row.id, row.created_at, row.returned_at, qr))


def _document() -> dict:
    from survey.api.openapi import openapi_document

    return openapi_document(request.host_url.rstrip("/") + "/api/v1")


@bp.get("/openapi.json")
def get_openapi():
    """The OpenAPI 3.1 document of this API."""
    response = jsonify(_document())
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/docs")
def show_api_docs():
    """The same document as a page people can read."""
    return render_template("api/docs.html", document=_document())


@bp.get("/transaction-figures")
@require_api_key
def get_transaction_figures():
    """Per unit of the key's units: dossiers returned in the period, response rate, on-time rate and
    the 766-compatible satisfaction rate (see :func:`survey.results.service.transaction_figures`)."""
    period = (request.args.get("period") or "").strip() or last_complete_quarter()
    level = (request.args.get("level") or "office").strip()
    try:
        table = transaction_figures(period, level)
        label = analysis.period_label(parse_period(period))
    except ResultsError as exc:
        raise APIError(400, exc.code, exc.message) from None
    tree = unit_tree()
    rows = [row for row in table.to_dict("records")
            if row["unit"] in tree.by_code and g.api_caller.may_use(tree.by_code[row["unit"]].id)]
    return jsonify(period=label, level=level, units=[_figures_row(row) for row in rows])


def _figures_row(row: dict) -> dict:
    """JSON values: counts as integers, rates as numbers or null (no dossier served)."""
    out = {}
    for name, value in row.items():
        if name == "unit":
            out[name] = value
        elif isinstance(value, float) and math.isnan(value):
            out[name] = None
        elif name in COUNT_COLUMNS:
            out[name] = int(value)
        else:
            out[name] = round(float(value), 6)
    return out
