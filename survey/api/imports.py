"""``POST /api/v1/transactions/import``: a CSV file of transactions, for systems that export files rather
than call the API one dossier at a time. Same validation as ``POST /api/v1/transactions``
(:mod:`survey.transactions.csv_import`); bad rows come back by line number with their reason."""

from __future__ import annotations

from flask import g, jsonify, request
from flask_babel import lazy_gettext as _l

from survey.api import bp
from survey.api.errors import APIError
from survey.api.keys import require_api_key
from survey.security import accepts_large_body
from survey.transactions.csv_import import CsvFormatError, decode_lines, import_transactions

CSV_MIMETYPES = ("text/csv", "text/plain")


@bp.post("/transactions/import")
@accepts_large_body
@require_api_key
def import_transactions_csv():
    """The request body is the CSV file itself (Content-Type: text/csv)."""
    if request.mimetype not in CSV_MIMETYPES:
        raise APIError(400, "bad_csv", _l("Send the file as the request body with Content-Type: text/csv."))
    try:
        report = import_transactions(decode_lines(request.get_data(cache=False)), g.api_caller)
    except CsvFormatError as exc:
        raise APIError(400, exc.code, exc.message) from None
    if report.rows == 0:
        raise APIError(400, "empty_batch", _l("The batch is empty."))
    return jsonify(rows=report.rows, created=report.created, updated=report.updated, unchanged=report.unchanged,
                   errors=[{"line": e.line, "code": e.code, "message": str(e.message)} for e in report.errors]), 200
