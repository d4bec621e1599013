"""Open data: the stable field list, the withholding rule, CSV/JSON rows and the Frictionless package.

The page, the CSV and the JSON are the same rows of the same :class:`~survey.results.service.Results`.
Field names are stable and documented here (the data dictionary page and ``datapackage.json`` are
generated from :data:`FIELDS`); a column of the statistics table that is not listed here is not
published. Below the minimum n a row keeps only who it is, ``n``, ``publishable`` and
``comparison`` (``insufficient``): every other field is empty, so nothing derived from a small
unit can be recomputed from any download. Rows are units, never ratings: no comment, no kiosk or
officer id is ever in a result.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from survey.results.service import Results


@dataclass(frozen=True)
class Field:
    name: str
    #: Frictionless Table Schema type: string, integer, number, boolean.
    type: str
    description: Any
    #: Empty when the row is not publishable.
    withheld: bool = True
    #: Allowed values, when the field is a category.
    enum: tuple[str, ...] | None = None


COMPARISONS = ("above", "below", "within", "insufficient")
CHANGE_FLAGS = ("improved", "declined", "no clear change", "insufficient data")

FIELDS: tuple[Field, ...] = (
    Field("period", "string", _l("Period: 2026-07 (month), 2026-Q3 (quarter) or 2026 (year)."), withheld=False),
    Field("level", "string", _l("Level of the units: province, commune or office."), withheld=False,
          enum=("province", "commune", "office")),
    Field("questionnaire", "string", _l("Code of the questionnaire; indices on different scales are never mixed."),
          withheld=False),
    Field("status", "string", _l("published (a stored revision of a closed period) or provisional (computed live)."),
          withheld=False, enum=("published", "provisional")),
    Field("revision", "integer", _l("Revision number of the published snapshot; empty when provisional."),
          withheld=False),
    Field("code", "string", _l("Stable code of the unit (after mergers: the unit that exists today)."),
          withheld=False),
    Field("name", "string", _l("Name of the unit in Vietnamese."), withheld=False),
    Field("name_en", "string", _l("Name of the unit in English."), withheld=False),
    Field("parent_code", "string",
          _l("Code of the unit above (province of a commune, commune or province of an office)."), withheld=False),
    Field("n", "integer", _l("Number of ratings (flagged misuse excluded)."), withheld=False),
    Field("publishable", "boolean", _l("True when n reaches the minimum; otherwise every derived figure is withheld."),
          withheld=False),
    Field("satisfied", "integer", _l("Ratings at the satisfied levels of the scale.")),
    Field("index", "number", _l("Satisfaction index: share of satisfied ratings, 0 to 1.")),
    Field("ci_low", "number", _l("Lower limit of the confidence interval of the index.")),
    Field("ci_high", "number", _l("Upper limit of the confidence interval of the index.")),
    Field("deff", "number", _l("Design effect of clustering (ratings at one counter on one day are alike).")),
    Field("n_eff", "number", _l("Effective number of ratings after clustering.")),
    Field("mean", "number", _l("Mean answer on the scale.")),
    Field("mean_low", "number", _l("Lower limit of the confidence interval of the mean.")),
    Field("mean_high", "number", _l("Upper limit of the confidence interval of the mean.")),
    Field("transactions", "integer", _l("Transactions served in the period, when the office reports them.")),
    Field("response_rate", "number", _l("Ratings per transaction served.")),
    Field("response_rate_low", "number", _l("Lower limit of the confidence interval of the response rate.")),
    Field("response_rate_high", "number", _l("Upper limit of the confidence interval of the response rate.")),
    Field("bound_low", "number", _l("Lowest possible index had every citizen who did not rate been dissatisfied.")),
    Field("bound_high", "number", _l("Highest possible index had every citizen who did not rate been satisfied.")),
    Field("comparison", "string",
          _l("Fair comparison with the target: above, below, within, or insufficient (not enough ratings)."),
          withheld=False, enum=COMPARISONS),
    Field("comparison_p", "number", _l("Tail probability of the unit's result under the adjusted target.")),
    Field("comparison_q", "number", _l("The same after false-discovery-rate control across the table.")),
    Field("target", "number", _l("Target of the comparison: the pooled index of the publishable units.")),
    Field("funnel_95", "string", _l("Position against the 95% funnel limits (drawn on the plot).")),
    Field("funnel_998", "string", _l("Position against the 99.8% funnel limits (drawn on the plot).")),
    Field("rank", "number", _l("Rank by index (1 = highest), never shown without its interval.")),
    Field("rank_low", "number", _l("Best rank in the rank interval.")),
    Field("rank_high", "number", _l("Worst rank in the rank interval.")),
    Field("shrunk", "number", _l("Index shrunk towards the average of all units (empirical Bayes).")),
    Field("shrunk_low", "number", _l("Lower limit of the interval of the shrunken index.")),
    Field("shrunk_high", "number", _l("Upper limit of the interval of the shrunken index.")),
    Field("n_prev", "integer", _l("Number of ratings in the previous period.")),
    Field("index_prev", "number", _l("Satisfaction index in the previous period.")),
    Field("change", "number", _l("Change of the index since the previous period.")),
    Field("change_low", "number", _l("Lower limit of the interval of the change.")),
    Field("change_high", "number", _l("Upper limit of the interval of the change.")),
    Field("change_flag", "string",
          _l("improved or declined only when the change is significant after false-discovery-rate control."),
          enum=CHANGE_FLAGS),
    Field("change_q", "number", _l("Significance of the change after false-discovery-rate control.")),
)


def fields_for(content: dict[str, Any]) -> list[Field]:
    """The fields of one table: :data:`FIELDS` plus ``n_<value>`` for each answer of its scale."""
    return _fields(content["scale"]["low"], content["scale"]["high"])


@functools.lru_cache(maxsize=16)
def _fields(low: int, high: int) -> list[Field]:
    distribution = [
        Field(f"n_{value}", "integer", _l("Ratings that chose answer %(value)d of the scale.", value=value))
        for value in range(low, high + 1)
    ]
    return [*FIELDS, *distribution]


def _value(field: Field, row: dict[str, Any], results: Results) -> Any:
    if field.name == "period":
        return results.period
    if field.name == "level":
        return results.level
    if field.name == "questionnaire":
        return results.questionnaire
    if field.name == "status":
        return "published" if results.status == "published" else "provisional"
    if field.name == "revision":
        return results.revision
    if field.name == "name":
        return row.get("name_vi")
    if field.name == "comparison":
        if not row.get("publishable"):
            return "insufficient"
        return row.get("comparison")
    if field.withheld and not row.get("publishable"):
        return None
    value = row.get(field.name)
    if field.type == "integer" and isinstance(value, float):
        return int(value)
    return value


def rows(results: Results, units: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One open-data row per unit, fields in the documented order."""
    fields = fields_for(results.content)
    return [{f.name: _value(f, row, results) for f in fields} for row in (results.units if units is None else units)]


def public_row(results: Results, row: dict[str, Any]) -> dict[str, Any]:
    """A unit's row exactly as the downloads carry it (the pages show these values)."""
    return {f.name: _value(f, row, results) for f in fields_for(results.content)}


def to_csv(results: Results, units: list[dict[str, Any]] | None = None) -> str:
    fields = [f.name for f in fields_for(results.content)]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows(results, units):
        writer.writerow({k: _csv_value(v) for k, v in row.items()})
    return out.getvalue()


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return value


def to_json_document(results: Results, units: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    content = results.content
    return {
        "period": results.period,
        "previous_period": content.get("previous_period"),
        "level": results.level,
        "questionnaire": results.questionnaire,
        "status": "published" if results.status == "published" else "provisional",
        "revision": results.revision,
        "published_at": results.published_at.isoformat(timespec="seconds") + "Z" if results.published_at else None,
        "computed_at": content.get("computed_at") + "Z" if content.get("computed_at") else None,
        "scope": results.scope,
        "options": content["options"],
        "options_hash": content["options_hash"],
        "data_version": content["data_version"],
        "scale": {k: content["scale"][k] for k in ("low", "high", "satisfied_from", "labels_vi", "labels_en")},
        "target": content.get("attrs", {}).get("target"),
        "fields": [f.name for f in fields_for(content)],
        "units": rows(results, units),
    }


def table_schema(content: dict[str, Any], locale: str = "en") -> dict[str, Any]:
    """Frictionless Table Schema of one results table."""
    from flask_babel import force_locale

    schema_fields = []
    with force_locale(locale):
        for f in fields_for(content):
            entry = {"name": f.name, "type": f.type, "description": str(f.description)}
            if f.enum:
                entry["constraints"] = {"enum": list(f.enum)}
            schema_fields.append(entry)
    return {"fields": schema_fields, "primaryKey": ["period", "level", "questionnaire", "code"],
            "missingValues": [""]}


def datapackage(resources: list[tuple[str, str, Results]], base_url: str) -> dict[str, Any]:
    """A Frictionless Data Package: one CSV resource per ``(name, path, results)``."""
    package_resources = []
    for name, path, results in resources:
        package_resources.append({
            "name": name,
            "path": f"{base_url.rstrip('/')}{path}",
            "profile": "tabular-data-resource",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "title": f"{results.period} · {results.level} · {results.questionnaire}"
                     + (f" · revision {results.revision}" if results.revision else " · provisional"),
            "schema": table_schema(results.content),
        })
    return {
        "profile": "tabular-data-package",
        "name": "citizen-satisfaction-results",
        "title": "Citizen satisfaction with one-stop public services: published results",
        "description": (
            "Satisfaction index per unit with its 95% interval, n, answer distribution, response rate and fair "
            "comparison. One row per unit and period, never one per citizen. See the methodology page."
        ),
        "licenses": [{"name": "CC-BY-4.0", "path": "https://creativecommons.org/licenses/by/4.0/",
                      "title": "Creative Commons Attribution 4.0"}],
        "resources": package_resources,
    }


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"
