"""Bulk CSV import of transactions, for one-stop systems that cannot call the API.

The file has a header line naming the API's fields (``dossier_code, office_code, counter_code,
procedure_code, officer_code, received_at, due_at, returned_at``, any order, the optional ones may be
left out); an empty cell is an absent field. Every row goes through the API's own validation and
registration (:func:`survey.transactions.operations.register_transactions`), in batches committed one
by one: a bad row is reported by its line number with the reason and stores nothing, the good rows
are stored whole, and a re-imported file changes nothing. Within one batch a dossier repeated with
other values is refused; across batches a repeat is a re-send (an update of the fields that may change).

Used by ``survey transactions import FILE.csv`` and ``POST /api/v1/transactions/import``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import click
from flask.cli import with_appcontext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from survey.api.keys import ApiCaller, subtree_ids
from survey.audit.log import record
from survey.csvfiles import CsvFileError, decode_lines
from survey.extensions import db
from survey.models import TransactionImport, Unit, User
from survey.models._common import utcnow
from survey.transactions.operations import FIELDS, ItemError, Registered, register_transactions

#: Rows registered per batch (one commit each).
BATCH_SIZE = 500
#: The columns in the order a template file lists them.
CSV_COLUMNS = ("dossier_code", "office_code", "counter_code", "procedure_code", "officer_code",
               "received_at", "due_at", "returned_at")
assert set(CSV_COLUMNS) == FIELDS


#: The file as a whole cannot be read (no header, an unknown column, not UTF-8 text, broken quoting).
CsvFormatError = CsvFileError


@dataclass(frozen=True)
class LineError:
    line: int
    code: str
    message: object


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[LineError] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return self.created + self.updated + self.unchanged


def csv_rows(lines: Iterable[str]) -> Iterator[tuple[int, dict | ItemError]]:
    """(line number, item) for each data row; blank lines skipped. Raises :class:`CsvFormatError`."""
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise CsvFormatError("no_header", _l("The first line must name the columns, e.g. %(columns)s.",
                                                 columns=",".join(CSV_COLUMNS)))
        names = [h.strip().lstrip("\ufeff") for h in header]
        for name in names:
            if name not in FIELDS:
                raise CsvFormatError("unknown_column", _l("Unknown column %(name)s; the columns are %(columns)s.",
                                                          name=f'"{name[:40]}"', columns=", ".join(CSV_COLUMNS)))
        if len(set(names)) != len(names):
            raise CsvFormatError("duplicate_column", _l("A column is named twice in the first line."))
        end = reader.line_num
        for row in reader:
            start, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(names):
                yield start, ItemError("bad_row", _l(
                    "This line has %(found)d values; the first line names %(expected)d.",
                    found=len(row), expected=len(names)))
                continue
            yield start, {name: cell.strip() for name, cell in zip(names, row, strict=True) if cell.strip()}
    except csv.Error:
        raise CsvFormatError("bad_csv", _l("Line %(line)d cannot be read as CSV (check its quotes).",
                                           line=reader.line_num)) from None


def import_transactions(lines: Iterable[str], caller: ApiCaller, *, batch_size: int = BATCH_SIZE,
                        progress: Callable[[ImportReport], None] | None = None) -> ImportReport:
    """Register every row of a CSV file; commits after each batch and calls ``progress`` with the report so far."""
    report = ImportReport()
    batch: list[tuple[int, dict | ItemError]] = []

    def flush() -> None:
        items = [(line, item) for line, item in batch if isinstance(item, dict)]
        outcomes = iter(register_transactions([item for _, item in items], caller) if items else [])
        for line, item in batch:
            outcome = item if isinstance(item, ItemError) else next(outcomes)
            if isinstance(outcome, ItemError):
                report.errors.append(LineError(line, outcome.code, outcome.message))
            elif isinstance(outcome, Registered):
                setattr(report, outcome.status, getattr(report, outcome.status) + 1)
        report.rows += len(batch)
        db.session.commit()
        batch.clear()
        if progress is not None:
            progress(report)

    for line, item in csv_rows(lines):
        batch.append((line, item))
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return report


def importer(root_ids: list[int] | None, name: str) -> ApiCaller:
    """The caller an import without an API key registers as: it may use the offices under ``root_ids``
    (``None``: every unit). Its transactions record no key."""
    unit_ids = subtree_ids(root_ids) if root_ids is not None else frozenset(db.session.scalars(select(Unit.id)))
    return ApiCaller(0, name, unit_ids)


# ------------------------------------------------------------------------------ uploaded files

#: Refused lines kept with an uploaded file's import (the rest are counted).
KEPT_REFUSED_LINES = 200


def start_import(content: bytes, file_name: str, *, actor: User, scope_unit_id: int | None) -> TransactionImport:
    """Keep an uploaded file for :func:`run_import`, with its audit entry (flushed; the caller commits,
    then enqueues the job)."""
    upload = TransactionImport(content=content, file_name=(file_name or "transactions.csv")[:200],
                               uploaded_by_id=actor.id, scope_unit_id=scope_unit_id, state="queued")
    db.session.add(upload)
    db.session.flush()
    record(actor, "transactions_uploaded", upload, unit=upload.scope_unit,
           data={"file": upload.file_name, "bytes": len(content)})
    return upload


def _both_languages(message) -> dict[str, str]:
    """A message as the Vietnamese and the English page will show it (a job has no request's language)."""
    from flask import current_app
    from flask_babel import force_locale

    with current_app.test_request_context():
        texts = {}
        for lang in ("vi", "en"):
            with force_locale(lang):
                texts[lang] = str(message)
    return texts


def run_import(import_id: int, *, batch_size: int = BATCH_SIZE) -> None:
    """The job behind an uploaded file: register its rows batch by batch, writing the counts after each
    batch so the page shows the progress; the file is emptied once the import has finished."""
    upload = db.session.get(TransactionImport, import_id)
    if upload is None or upload.state not in ("queued", "running"):
        return
    upload.state = "running"
    db.session.commit()
    caller = importer([upload.scope_unit_id] if upload.scope_unit_id is not None else None,
                      f"upload {upload.id}")

    def progress(report: ImportReport) -> None:
        upload.rows, upload.created, upload.updated = report.rows, report.created, report.updated
        upload.unchanged, upload.refused = report.unchanged, len(report.errors)
        upload.refused_lines = json.dumps(
            [{"line": e.line, "code": e.code, **_both_languages(e.message)}
             for e in report.errors[:KEPT_REFUSED_LINES]], ensure_ascii=False)
        db.session.commit()

    try:
        import_transactions(decode_lines(upload.content or b""), caller, batch_size=batch_size, progress=progress)
    except CsvFormatError as exc:
        db.session.rollback()
        upload.state = "failed"
        upload.failure = json.dumps({"code": exc.code, **_both_languages(exc.message)}, ensure_ascii=False)
    except Exception:
        # Anything else (the database went away…): the page must not wait for ever; the job still fails.
        db.session.rollback()
        upload.state = "failed"
        upload.failure = json.dumps({"code": "import_failed", **_both_languages(_l(
            "The import stopped on an error of the server; the lines counted above are stored."))},
            ensure_ascii=False)
        upload.finished_at = utcnow()
        db.session.commit()
        raise
    else:
        upload.state = "done"
    upload.content = None
    upload.finished_at = utcnow()
    db.session.commit()


# ------------------------------------------------------------------------------ command line


@click.group("transactions")
def transactions_group():
    """Transactions (dossiers) of the one-stop systems."""


@transactions_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--unit", "units", multiple=True,
              help="Only rows of offices at or under this unit code (repeat for several); default: every unit.")
@click.option("--batch-size", default=BATCH_SIZE, show_default=True, type=click.IntRange(1, 1000))
@with_appcontext
def import_command(path: str, units: tuple[str, ...], batch_size: int):
    """Register the transactions of a CSV file (header: the API's field names); bad rows are listed by line."""
    found = None
    if units:
        found = dict(db.session.execute(select(Unit.code, Unit.id).where(Unit.code.in_(units))).all())
        missing = sorted(set(units) - set(found))
        if missing:
            raise click.ClickException(f"Unknown unit code(s): {', '.join(missing)}.")
    caller = importer(list(found.values()) if found else None, "command line import")

    def show(report: ImportReport) -> None:
        click.echo(f"{report.rows} rows read: {report.created} created, {report.updated} updated, "
                   f"{report.unchanged} unchanged, {len(report.errors)} refused", err=True)

    with open(path, "rb") as handle:
        data = handle.read()
    try:
        report = import_transactions(decode_lines(data), caller, batch_size=batch_size, progress=show)
    except CsvFormatError as exc:
        raise click.ClickException(str(exc)) from None
    for error in report.errors:
        click.echo(f"line {error.line}: {error.code}: {error.message}")
    click.echo(f"Done: {report.stored} of {report.rows} rows stored ({report.created} new).")
    if report.errors:
        raise SystemExit(1)
