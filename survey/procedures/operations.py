"""Importing the procedure catalogue from CSV with national catalogue codes.

The file is UTF-8 text (a spreadsheet's byte-order mark allowed) with a header line naming its
columns, in any order: ``code`` and ``name_vi`` are required, ``name_en``, ``field`` (the catalogue's
lĩnh vực) and ``time_limit_days`` (the legal time limit, a whole number of days) may be left out or
empty. A code must be a national catalogue code such as ``1.005169``.

Every row is checked on its own: a bad row is reported by its line number with the reason and stores
nothing, the good rows are stored. Importing is idempotent: a known code gets the file's names,
field and time limit (an audit entry per changed procedure), a new code is added, and re-importing
the same file changes nothing. The caller commits.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from survey.audit.log import record
from survey.csvfiles import CsvFileError, decode_lines
from survey.extensions import db
from survey.models import Procedure, User

#: National procedure catalogue codes: one digit, a dot, six digits (``1.005169``).
NATIONAL_CODE = re.compile(r"^[0-9]\.[0-9]{6}$")
REQUIRED = ("code", "name_vi")
COLUMNS = ("code", "name_vi", "name_en", "field", "time_limit_days")
NAME_LENGTH = 300
FIELD_LENGTH = 200
#: Longest legal time limit accepted, in days (ten years: anything longer is a typing error).
MAX_TIME_LIMIT_DAYS = 3650
#: Largest file read (a national catalogue of a few thousand procedures is well under 2 MB).
MAX_BYTES = 5 * 1024 * 1024


#: The file as a whole cannot be read (the shared CSV file error).
CatalogueFormatError = CsvFileError


@dataclass(frozen=True)
class BadRow:
    line: int
    message: object


@dataclass
class CatalogueImport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[BadRow] = field(default_factory=list)


def _check_row(row: dict[str, str | None]) -> dict | str:
    """The procedure's values, or why the row is refused."""
    if None in row:
        return _l("The row has more cells than the header has columns.")
    values = {k: (row.get(k) or "").strip() for k in COLUMNS}
    if not NATIONAL_CODE.fullmatch(values["code"]):
        return _l("“%(code)s” is not a national catalogue code (like 1.005169).", code=values["code"][:40])
    if not values["name_vi"]:
        return _l("The Vietnamese name (name_vi) is empty.")
    for key, limit in (("name_vi", NAME_LENGTH), ("name_en", NAME_LENGTH), ("field", FIELD_LENGTH)):
        if len(values[key]) > limit:
            return _l("%(column)s has more than %(n)d characters.", column=key, n=limit)
    days = values["time_limit_days"]
    if days and not (days.isdigit() and int(days) <= MAX_TIME_LIMIT_DAYS):
        return _l("time_limit_days must be a whole number of days from 0 to %(n)d.", n=MAX_TIME_LIMIT_DAYS)
    return {"code": values["code"], "name_vi": values["name_vi"], "name_en": values["name_en"] or None,
            "field": values["field"] or None, "time_limit_days": int(days) if days else None}


def import_procedures(data: bytes, *, actor: User | None) -> CatalogueImport:
    """Import the catalogue in ``data`` (a CSV file's bytes); raises :class:`CatalogueFormatError` when the
    file as a whole cannot be read."""
    reader = csv.DictReader(decode_lines(data, max_bytes=MAX_BYTES), strict=True)
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error:
        raise CatalogueFormatError("bad_csv", _l("The file is not readable CSV.")) from None
    if not header:
        raise CatalogueFormatError("no_header", _l("The file is empty: it needs a header line."))
    unknown = [h for h in header if h not in COLUMNS]
    missing = [c for c in REQUIRED if c not in header]
    if unknown or missing or len(set(header)) != len(header):
        raise CatalogueFormatError("bad_header", _l(
            "The header line must name the columns %(columns)s (code and name_vi required), each once.",
            columns=", ".join(COLUMNS)))
    reader.fieldnames = header
    report = CatalogueImport()
    seen: dict[str, int] = {}
    known = {p.code: p for p in db.session.scalars(select(Procedure))}
    try:
        for row in reader:
            line = reader.line_num
            if not any((v or "").strip() for k, v in row.items() if k is not None) and None not in row:
                continue  # a blank line
            report.rows += 1
            checked = _check_row(row)
            if not isinstance(checked, dict):
                report.errors.append(BadRow(line, checked))
                continue
            code = checked["code"]
            if code in seen:
                report.errors.append(BadRow(line, _l("The code %(code)s is already on line %(line)d.",
                                                     code=code, line=seen[code])))
                continue
            seen[code] = line
            _store(known, checked, report, actor)
    except csv.Error:
        raise CatalogueFormatError("bad_csv", _l("Line %(line)d is not readable CSV (check the quotes).",
                                                 line=reader.line_num)) from None
    db.session.flush()
    return report


def _store(known: dict[str, Procedure], values: dict, report: CatalogueImport, actor: User | None) -> None:
    procedure = known.get(values["code"])
    if procedure is None:
        procedure = Procedure(**values)
        db.session.add(procedure)
        db.session.flush()
        known[procedure.code] = procedure
        report.created += 1
        record(actor, "procedure_created", procedure, data=values)
        return
    before = {k: getattr(procedure, k) for k in values if k != "code"}
    after = {k: v for k, v in values.items() if k != "code"}
    if before == after:
        report.unchanged += 1
        return
    for key, value in after.items():
        setattr(procedure, key, value)
    report.updated += 1
    record(actor, "procedure_updated", procedure, data={"code": procedure.code, "before": before, "after": after})
