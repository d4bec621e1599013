"""Open-data endpoints: the results table as JSON or CSV, per-snapshot files, the data package.

``pandas.read_csv("https://…/api/v1/results?level=province&period=2026-Q3&format=csv")`` works in
one line. The numbers are those of the public page: both read the same
:func:`~survey.results.service.results_table`.
"""

from __future__ import annotations

from flask import Response, request, url_for
from flask_babel import lazy_gettext as _l

from survey.api import bp
from survey.api.errors import APIError
from survey.extensions import csrf
from survey.public import cache
from survey.results import opendata, snapshots
from survey.results.params import FORMATS, parse_query
from survey.results.service import ResultsError, results_table

csrf.exempt(bp)

#: Published snapshots never change; live results change within a minute.
PUBLISHED_MAX_AGE = 3600
LIVE_MAX_AGE = 60


def _status_of(code: str) -> int:
    return 404 if code in ("unknown_unit", "no_revision", "no_snapshot") else 400


def _send(results, fmt: str, filename: str) -> Response:
    key = ("api", results.cache_key, results.status, results.revision, results.scope, fmt)
    if fmt == "csv":
        body = cache.cached(key, lambda: opendata.to_csv(results))
        response = Response(body, mimetype="text/csv")
        response.headers["Content-Disposition"] = f'inline; filename="{filename}.csv"'
    else:
        body = cache.cached(key, lambda: opendata.dumps(opendata.to_json_document(results)))
        response = Response(body, mimetype="application/json")
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Content-Language"] = "vi, en"
    if results.status == "published":
        response.cache_control.public = True
        response.cache_control.max_age = PUBLISHED_MAX_AGE
    else:
        response.cache_control.public = True
        response.cache_control.max_age = LIVE_MAX_AGE
    response.set_etag(f"{results.cache_key}:{results.scope or ''}:{fmt}")
    return response.make_conditional(request)


@bp.get("/results")
def get_results():
    """The results table: ``level``, ``period``, ``questionnaire``, ``unit``, ``revision``, ``format``."""
    fmt = (request.args.get("format") or "json").lower()
    if fmt not in FORMATS:
        raise APIError(400, "bad_format", _bad_format())
    try:
        query = parse_query(request.args)
        results = results_table(query.period, query.level, query.questionnaire, scope=query.unit,
                                revision=query.revision)
    except ResultsError as exc:
        raise APIError(_status_of(exc.code), exc.code, exc.message) from None
    name = f"results-{results.period}-{results.level}-{results.questionnaire}"
    if results.revision:
        name += f"-r{results.revision}"
    return _send(results, fmt, name)


@bp.get("/snapshots/<int:snapshot_id>.<fmt>")
def get_snapshot(snapshot_id: int, fmt: str):
    """One published revision, as it was published (its numbers never change)."""
    if fmt not in FORMATS:
        raise APIError(400, "bad_format", _bad_format())
    results = snapshots.snapshot_by_id(snapshot_id)
    if results is None:
        raise APIError(404, "no_snapshot", _l("There is no published snapshot with this number."))
    name = f"results-{results.period}-{results.level}-{results.questionnaire}-r{results.revision}"
    return _send(results, fmt, name)


@bp.get("/datapackage.json")
def get_datapackage():
    """Frictionless Data Package of every published snapshot (every revision, newest first)."""
    resources = []
    for row in snapshots.published_snapshots():
        results = snapshots.snapshot_by_id(row.id)
        resources.append((f"results-{row.period}-{row.level}-{row.questionnaire}-r{row.revision}".lower(),
                          url_for("api.get_snapshot", snapshot_id=row.id, fmt="csv"), results))
    document = opendata.datapackage(resources, request.host_url)
    response = Response(opendata.dumps(document), mimetype="application/json")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _bad_format():
    return _l("Unknown format; use json or csv.")
