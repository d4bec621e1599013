"""Public results: per-unit indices with intervals, fair comparison, unit pages, badges, methodology, open data.

Views parse the request, ask the one results service, and render. Every number shown is a field of
:func:`survey.results.opendata.public_row` — the very values the CSV and JSON carry — formatted
for people; nothing is computed here.
"""

from __future__ import annotations

import math
from datetime import date, datetime

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import format_date, format_datetime, format_decimal, format_percent, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from survey.public import badge, cache, charts, methodology
from survey.results import opendata, queries
from survey.results.params import ResultsQuery, parse_query
from survey.results.service import (
    LEVELS, Results, ResultsError, last_complete_quarter, period_choices, results_table, transaction_figures, trend,
    vietnam_today,
)
from survey.results.tree import unit_tree

bp = Blueprint("public", __name__)

PAGE_SIZE = 50
LEVEL_NAMES = {"province": _l("Provinces and cities"), "commune": _l("Communes and wards"),
               "office": _l("One-stop offices")}
LEVEL_SINGULAR = {"province": _l("Province or city"), "commune": _l("Commune or ward"), "office": _l("One-stop office"),
                  "counter": _l("Counter")}
VERDICTS = {"above": _l("Above expected"), "below": _l("Below expected"), "within": _l("As expected"),
            "insufficient": _l("Not enough ratings to compare")}
CHANGES = {"improved": _l("Improved"), "declined": _l("Declined"), "no clear change": _l("No clear change"),
           "insufficient data": _l("Not enough data")}


# --------------------------------------------------------------------------- formatting (no arithmetic on data)


def locale() -> str:
    return str(get_locale() or "vi")


@bp.app_template_filter("pct")
def pct(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    pattern = "#,##0%" if digits == 0 else "#,##0." + "0" * digits + "%"
    return format_percent(value, pattern)


@bp.app_template_filter("day")
def day(value) -> str:
    if value is None:
        return "–"
    return format_date(value, "medium")


@bp.app_template_filter("num")
def num(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return format_decimal(value, "#,##0.0")
    return format_decimal(int(value), "#,##0")


@bp.app_template_global()
def withheld_text(min_n: int) -> str:
    """Plain text (escaped by the template), the same words as the badge's."""
    return _("Not enough ratings to publish (n < %(min_n)s)", min_n=min_n)


def name_of(row: dict, key: str = "name") -> str:
    return row.get(f"{key}_en") if locale() == "en" and row.get(f"{key}_en") else row.get(f"{key}_vi") or ""


def period_name(label: str) -> str:
    """``2026-Q3`` → "Quý 3/2026" / "Q3 2026"; months and years alike."""
    if "-Q" in label:
        year, quarter = label.split("-Q")
        return _("Quarter %(quarter)s/%(year)s", quarter=quarter, year=year)
    if "-" in label:
        year, month = label.split("-")
        return _("Month %(month)s/%(year)s", month=int(month), year=year)
    return _("Year %(year)s", year=label)


def display_row(results: Results, row: dict) -> dict:
    """The public (withheld-below-minimum) values of a row, plus labels for people."""
    public = opendata.public_row(results, row)
    scale = results.content["scale"]
    labels = scale["labels_en"] if locale() == "en" else scale["labels_vi"]
    values = range(scale["low"], scale["high"] + 1)
    distribution = [
        {"value": v, "label": label, "count": public.get(f"n_{v}"), "tone": _tone(v, scale)}
        for v, label in zip(values, labels)
    ]
    known = all(d["count"] is not None for d in distribution) and public["n"]
    if known:
        for d in distribution:
            d["share"] = d["count"] / public["n"]  # the bar's width: a drawing proportion, not a published figure
    return {
        **public,
        "label": name_of(row),
        "parent_label": name_of(row, "parent_name") if row.get("parent_code") else "",
        "distribution": distribution if known else None,
        "verdict": VERDICTS.get(public.get("comparison") or "", ""),
        "change_label": CHANGES.get(public.get("change_flag") or "", ""),
    }


def _tone(value: int, scale: dict) -> int:
    """Which face colour an answer level gets (0 = worst … 4 = best), as on the kiosk."""
    span = max(scale["high"] - scale["low"], 1)
    return round(4 * (value - scale["low"]) / span)


def chart_labels() -> dict[str, str]:
    return {
        "x": _("Satisfaction index (95% interval)"), "y": _("Satisfaction index"), "x_n": _("Number of ratings"),
        "above": str(VERDICTS["above"]), "below": str(VERDICTS["below"]), "within": str(VERDICTS["within"]),
        "target": _("Target (average of all units)"), "limit_95": _("95% limits"), "limit_99.8": _("99.8% limits"),
        "published": _("Published"), "provisional": _("Provisional"),
        "empty": _("No unit has enough ratings to draw."),
        "empty_trend": _("No period has enough ratings to draw."),
    }


def status_text(results: Results) -> str:
    if results.status == "published":
        return _("Published results: revision %(revision)s, published on %(date)s.", revision=results.revision,
                 date=format_date(results.published_at, "medium"))
    if results.status == "unpublished":
        return _("Provisional: this period is over but its results are not published yet; they may still change.")
    computed_at = results.content.get("computed_at")
    if computed_at:
        return _("Provisional: this period is still open; these figures were computed at %(time)s and will change "
                 "as ratings arrive.", time=format_datetime(datetime.fromisoformat(computed_at), "HH:mm"))
    return _("Provisional: this period is still open; the figures are updated within a minute of each rating.")


# --------------------------------------------------------------------------- the results page


def _query_or_error():
    try:
        return parse_query(request.args), None
    except ResultsError as exc:
        return None, exc


def _filtered_rows(results: Results, compare: str, around: str | None) -> tuple[list[dict], dict | None]:
    rows = results.units
    reference = results.unit(around) if around else None
    if compare == "similar" and reference is not None:
        n = reference["n"]
        # Similar volume: between half and twice the ratings of the chosen unit, at the same level.
        rows = [r for r in results.content["units"] if n / 2 <= r["n"] <= 2 * n]
    return rows, reference


def _sorted(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (not r["publishable"], -(r["index"] or 0), -r["n"], r["code"]))


@bp.get("/")
def show_results():
    query, error = _query_or_error()
    if error is not None:
        return _render_results_error(error)
    compare = request.args.get("compare", "all")
    compare = compare if compare in ("all", "similar") else "all"
    around = (request.args.get("around") or "").strip() or None
    try:
        results = results_table(query.period, query.level, query.questionnaire, scope=query.unit,
                                revision=query.revision)
    except ResultsError as exc:
        return _render_results_error(exc, query)
    key = ("results", results.cache_key, results.status, len(results.revisions), request.full_path, locale())
    html = cache.cached(key, lambda: _render_results(results, query, compare, around))
    return _page_response(html, results)


def _render_results(results: Results, query: ResultsQuery, compare: str, around: str | None) -> str:
    rows, reference = _filtered_rows(results, compare, around)
    ordered = [display_row(results, r) for r in _sorted(rows)]
    page_count = max(1, math.ceil(len(ordered) / PAGE_SIZE))
    page = _page_number(page_count)
    shown = ordered[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    publishable = [r for r in shown if r["publishable"]]
    chart_args = {**query.as_args(), "compare": compare, "around": around, "page": page, "lang": locale()}
    chart_args = {k: v for k, v in chart_args.items() if v not in (None, "")}
    return render_template(
        "public/results.html",
        results=results, query=query, rows=shown, publishable=publishable, compare=compare, reference=reference,
        reference_label=name_of(reference) if reference else None, page=page, page_count=page_count,
        total=len(ordered), chart_args=chart_args, status=status_text(results),
        controls=_controls(query), level_names=LEVEL_NAMES, period_name=period_name,
        named_above=[r for r in ordered if r["comparison"] == "above"],
        named_below=[r for r in ordered if r["comparison"] == "below"],
        summary=_summary(results, rows), min_n=results.content["options"]["min_n"],
    )


def _page_response(html: str, results: Results) -> Response:
    response = Response(html, mimetype="text/html")
    response.cache_control.public = True
    response.cache_control.max_age = 300 if results.status == "published" else 60
    return response


def _page_number(page_count: int) -> int:
    try:
        page = int(request.args.get("page", 1))
    except ValueError:
        page = 1
    return min(max(page, 1), page_count)


def _summary(results: Results, rows: list[dict]) -> dict:
    return {
        "units": len(rows),
        "publishable": sum(1 for r in rows if r["publishable"]),
        "ratings": sum(int(r["n"]) for r in rows),
        "target": results.content.get("attrs", {}).get("target"),
    }


def _controls(query: ResultsQuery | None) -> dict:
    tree = unit_tree()
    provinces = sorted((n for n in tree.nodes.values() if n.level == "province" and n.is_current(vietnam_today())),
                       key=lambda n: n.name(locale()))
    choices = period_choices()
    return {
        "levels": [(level, LEVEL_NAMES[level]) for level in LEVELS],
        "periods": [(_("Quarters"), choices["quarter"]), (_("Months"), choices["month"]),
                    (_("Years"), choices["year"])],
        "questionnaires": _questionnaire_choices(),
        "provinces": [(n.code, n.name(locale())) for n in provinces],
        "selected": query,
    }


def _questionnaire_choices() -> list[tuple[str, str]]:
    out = []
    for code in queries.questionnaire_codes():
        questionnaire = queries.newest_questionnaire(code)
        out.append((code, questionnaire.title(locale())))
    return out


def _render_results_error(error: ResultsError, query: ResultsQuery | None = None):
    status = 404 if error.code in ("unknown_unit", "no_revision") else 400
    fallback = query or ResultsQuery(last_complete_quarter())
    return render_template("public/results.html", error=error.message, results=None, query=fallback, rows=[],
                           controls=_controls(fallback), level_names=LEVEL_NAMES, period_name=period_name,
                           status="", chart_args={}, compare="all", page=1, page_count=1, total=0,
                           summary=None, min_n=30, named_above=[], named_below=[], publishable=[]), status


@bp.get("/results")
def show_results_redirect():
    """The old address of the results page."""
    # The query string travels as it came; never as url_for keywords (``?endpoint=`` would collide).
    query = request.query_string.decode("latin-1")
    target = url_for("public.show_results")
    return redirect(f"{target}?{query}" if query else target, 301)


def _svg_response(svg: str, results: Results) -> Response:
    response = Response(svg, mimetype="image/svg+xml")
    response.cache_control.public = True
    response.cache_control.max_age = 3600 if results.status == "published" else 60
    response.set_etag(f"{results.cache_key}:{request.query_string.decode()}")
    return response.make_conditional(request)


def _chart_results():
    query, error = _query_or_error()
    if error is not None:
        abort(404 if error.code == "unknown_unit" else 400)
    try:
        results = results_table(query.period, query.level, query.questionnaire, scope=query.unit,
                                revision=query.revision)
    except ResultsError:
        abort(400)
    compare = request.args.get("compare", "all")
    rows, _reference = _filtered_rows(results, compare if compare in ("all", "similar") else "all",
                                      (request.args.get("around") or "").strip() or None)
    ordered = _sorted(rows)
    page = _page_number(max(1, math.ceil(len(ordered) / PAGE_SIZE)))
    shown = [display_row(results, r) for r in ordered[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]]
    key = (results.cache_key, request.path, request.query_string.decode(), locale())
    return results, query, shown, key


@bp.get("/charts/forest.svg")
def forest_chart():
    results, query, shown, key = _chart_results()
    title = _("Satisfaction index with its 95%% interval, %(period)s", period=period_name(results.period))
    desc = _("One line per unit with enough ratings, sorted by index; the same figures are in the table below "
             "the chart.")
    target = results.content.get("attrs", {}).get("target")
    svg = charts.cached_svg(key, lambda: charts.forest_svg(shown, title=title, desc=desc, target=target,
                                                           labels=chart_labels()))
    return _svg_response(svg, results)


@bp.get("/charts/funnel.svg")
def funnel_chart():
    results, query, shown, key = _chart_results()
    title = _("Funnel plot: satisfaction index against number of ratings, %(period)s",
              period=period_name(results.period))
    desc = _("Each point is a unit; the lines are the target and the 95% and 99.8% limits. Units named above or "
             "below expected are labelled; the same figures are in the table after the chart.")
    labels = {**chart_labels(), "x": _("Number of ratings"),
              "x_eff": _("Effective number of ratings (after clustering)")}
    svg = charts.cached_svg(key, lambda: charts.funnel_svg(shown, results.content.get("funnel"), title=title,
                                                           desc=desc, labels=labels))
    return _svg_response(svg, results)


# --------------------------------------------------------------------------- the unit page


def _unit_or_404(code: str):
    tree = unit_tree()
    node = tree.by_code.get(code)
    if node is None or node.level not in LEVELS:
        abort(404)
    return tree, node


@bp.get("/u/<code>")
def show_unit(code: str):
    tree, node = _unit_or_404(code)
    today = vietnam_today()
    current = tree.current(node, today)
    if current.id != node.id:
        return redirect(url_for("public.show_unit", code=current.code, merged=node.code, **request.args.to_dict()))
    args = {"period": request.args.get("period"), "questionnaire": request.args.get("questionnaire")
            or tree.questionnaire_of(node), "level": node.level}
    try:
        query = parse_query(args)
        results = results_table(query.period, node.level, query.questionnaire)
    except ResultsError as exc:
        return render_template("errors/error.html", status=400, message=exc.message), 400
    row = results.unit(code)
    shown = display_row(results, row) if row else None
    series = _trend_points(code, node.level, query)
    merged = [{"code": m.code, "name": m.name(locale()), "merged_on": tree.nodes[m.successor_id].valid_from}
              for m in tree.merged_into(node.id)]
    offices = _offices(tree, node, query, today) if node.level != "office" else []
    office_ids = [o.id for o in tree.offices_reported_under(node.id, today)]
    procedures = _procedures(results, code)
    min_n = results.content["options"]["min_n"]
    return render_template(
        "public/unit.html", node=node, name=node.name(locale()), results=results, row=shown, query=query,
        chain=[(n.code, n.name(locale()), n.level in LEVELS) for n in tree.chain(node)[:-1]],
        level_singular=LEVEL_SINGULAR, series=series, criteria=_criteria(results, code), offices=offices,
        procedures=procedures, offered=queries.procedures_offered(office_ids), merged=merged,
        merged_from=request.args.get("merged"), status=status_text(results), period_name=period_name,
        min_n=min_n, periods=period_choices(), rate_766=_rate_766(query.period, node.level, code, min_n),
    )


def _rate_766(period: str, level: str, code: str, min_n: int) -> dict | None:
    """This unit's 766-compatible rate over the dossiers returned in the period (None when none are known);
    like every published figure it is withheld when fewer than ``min_n`` dossiers were returned."""
    figures = transaction_figures(period, level)
    row = figures[figures["unit"] == code]
    if row.empty or int(row["served"].iloc[0]) == 0:
        return None
    served = int(row["served"].iloc[0])
    return {"served": served, "rate": float(row["rate_766"].iloc[0]), "publishable": served >= min_n,
            "late": int(row["late"].iloc[0]), "dissatisfied": int(row["dissatisfied"].iloc[0])}


def _trend_points(code: str, level: str, query: ResultsQuery) -> list[dict]:
    points = []
    for results, row in trend(code, level, query.questionnaire, query.period):
        public = display_row(results, row) if row else {"n": 0, "publishable": False, "index": None}
        points.append({**public, "period": results.period, "label": _short_period(results.period),
                       "period_label": period_name(results.period), "provisional": results.provisional,
                       "revision": results.revision})
    return points


def _short_period(label: str) -> str:
    return label.replace("-Q", " Q") if "-Q" in label else label


def _criteria(results: Results, code: str) -> list[dict]:
    out = []
    for criterion in results.content.get("criteria", []):
        row = next((r for r in criterion["rows"] if r["unit"] == code), None)
        text = criterion["text_en"] if locale() == "en" else criterion["text_vi"]
        entry = {"text": text, "n": row["n"] if row else 0, "publishable": bool(row and row["publishable"])}
        if entry["publishable"]:
            entry.update(index=row["index"], ci_low=row["ci_low"], ci_high=row["ci_high"])
        out.append(entry)
    return out


def _procedures(results: Results, code: str) -> list[dict]:
    out = []
    for row in results.content.get("procedures", []):
        if row["unit"] != code:
            continue
        entry = {"name": row["procedure_name_en"] if locale() == "en" else row["procedure_name_vi"],
                 "n": row["n"], "publishable": bool(row["publishable"])}
        if entry["publishable"]:
            entry.update(index=row["index"], ci_low=row["ci_low"], ci_high=row["ci_high"])
        out.append(entry)
    return sorted(out, key=lambda e: (-e["n"], e["name"]))


def _offices(tree, node, query: ResultsQuery, today: date) -> list[dict]:
    try:
        office_results = results_table(query.period, "office", query.questionnaire)
    except ResultsError:
        return []
    out = []
    for office in tree.offices_reported_under(node.id, today):
        row = office_results.unit(office.code)
        shown = display_row(office_results, row) if row else {"n": 0, "publishable": False, "index": None}
        out.append({**shown, "code": office.code, "label": office.name(locale()),
                    "current": office.is_current(today)})
    return out


@bp.get("/u/<code>/trend.svg")
def trend_chart(code: str):
    tree, node = _unit_or_404(code)
    try:
        query = parse_query({"period": request.args.get("period"), "questionnaire": request.args.get("questionnaire")
                             or tree.questionnaire_of(node)})
    except ResultsError:
        abort(400)
    points = _trend_points(code, node.level, query)
    newest = trend(code, node.level, query.questionnaire, query.period)[-1][0]
    key = (tuple((p["period"], p.get("revision"), p.get("index"), p.get("ci_low"), p.get("ci_high"))
                 for p in points), newest.cache_key, code, locale())
    title = _("Satisfaction index of %(name)s over time, with 95%% intervals", name=node.name(locale()))
    desc = _("One point per period with its interval; hollow points are provisional. The same figures are in the "
             "table below the chart.")
    labels = chart_labels()
    svg = charts.cached_svg(key, lambda: charts.trend_svg(points, title=title, desc=desc, labels=labels))
    return _svg_response(svg, newest)


@bp.get("/u/<code>/badge.svg")
def unit_badge(code: str):
    tree, node = _unit_or_404(code)
    node = tree.current(node, vietnam_today())
    try:
        query = parse_query({"period": request.args.get("period"), "questionnaire": request.args.get("questionnaire")
                             or tree.questionnaire_of(node)})
        results = results_table(query.period, node.level, query.questionnaire)
    except ResultsError:
        abort(400)
    row = results.unit(node.code)
    public = opendata.public_row(results, row) if row else None
    svg = badge.badge_svg(public, period_name(results.period), results.provisional,
                          results.content["options"]["min_n"])
    response = _svg_response(svg, results)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


# --------------------------------------------------------------------------- methodology and open data


@bp.get("/methodology")
def show_methodology():
    period = last_complete_quarter()
    try:
        results = results_table(period, "province", "default")
        excluded = results.content.get("excluded", {})
        options = results.content["options"]
    except ResultsError:
        excluded, options = {}, {"min_n": 30, "confidence": 0.95}
    return render_template("public/methodology.html", body=Markup(methodology.render(locale())),  # nosec B704 - rendered from our own docs/methodology.md, raw HTML escaped
                           excluded=excluded, excluded_total=sum(excluded.values()), period=period_name(period),
                           options=options)


@bp.get("/data")
def show_data():
    from survey.results import snapshots

    period = last_complete_quarter()
    try:
        results = results_table(period, "province", "default")
        fields = opendata.fields_for(results.content)
        scale = results.content["scale"]
    except ResultsError:
        fields, scale = list(opendata.FIELDS), None
    published = snapshots.published_snapshots()
    return render_template("public/data.html", fields=fields, scale=scale, published=published,
                           period=period, period_name=period_name, level_names=LEVEL_NAMES)
