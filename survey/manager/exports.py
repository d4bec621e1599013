"""The manager's ratings as CSV or XLSX, streamed: rows are read in batches and written as they come, so an
export of a million ratings never holds them all in memory. Comments are masked like on every page.

The XLSX file is written by openpyxl's write-only mode (rows go to a temporary file as they come) into
a temporary file, which is then sent in pieces and removed."""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Iterator, Mapping

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import aliased

from survey.extensions import db
from survey.manager.masking import mask_personal_data
from survey.models import Rating, Unit, UnitLevel
from survey.units.scope import Scope, in_scope
from survey.units.tree import subtree_cte

COLUMNS = ("rating_id", "service_date", "office_code", "counter_code", "channel", "overall_value", "flag",
           "comment")
#: Rows fetched from the database at a time.
BATCH_SIZE = 2000
#: A cell starting with one of these is read as a formula by spreadsheets: it is written with a leading '.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _ratings_query(scope: Scope, unit: Unit | None):
    office, counter = aliased(Unit), aliased(Unit)
    query = (
        select(Rating.id, Rating.service_date, office.code, counter.code, Rating.channel, Rating.overall_value,
               Rating.flag, Rating.comment)
        .join(office, office.id == Rating.office_id)
        .outerjoin(counter, counter.id == Rating.counter_id)
        .where(in_scope(Rating, scope))
        .order_by(Rating.id)
    )
    if unit is not None and unit.level == UnitLevel.COUNTER:
        query = query.where(Rating.counter_id == unit.id)
    elif unit is not None:
        query = query.where(Rating.office_id.in_(select(subtree_cte(unit.id, "chosen_subtree").c.id)))
    return query


def export_batches(scope: Scope, *, unit: Unit | None = None,
                   labels: Mapping[str, str] | None = None) -> Iterator[list[tuple]]:
    """The rows both exports write (comments masked, formula-like cells as text), a batch at a time."""
    result = db.session.execute(_ratings_query(scope, unit).execution_options(yield_per=BATCH_SIZE))
    for batch in result.partitions():
        yield [_export_row(*row, labels) for row in batch]


def _export_row(rating_id, day, office_code, counter_code, channel, value, flag, comment, labels) -> tuple:
    return (rating_id, day, office_code, counter_code or "", str(channel), value, flag or "",
            _cell(mask_personal_data(comment, labels)))


def count_ratings(scope: Scope, *, unit: Unit | None = None) -> int:
    """How many rows the export of ``scope`` (or ``unit`` inside it) writes."""
    query = _ratings_query(scope, unit).order_by(None)
    return db.session.scalar(select(func.count()).select_from(query.subquery()))


def batches_after(scope: Scope, *, unit: Unit | None = None, labels: Mapping[str, str] | None = None,
                  batch_size: int = BATCH_SIZE) -> Iterator[list[tuple]]:
    """The same rows as :func:`export_batches`, each batch read by its own query (ratings after the
    last id written), so the caller may commit between batches (a background export records its
    progress)."""
    after = 0
    # Built once: one statement (one cache entry) for every batch, however many there are.
    query = _ratings_query(scope, unit).where(Rating.id > bindparam("after")).limit(batch_size)
    while True:
        rows = db.session.execute(query, {"after": after}).all()
        if not rows:
            return
        yield [_export_row(*row, labels) for row in rows]
        after = rows[-1][0]


def write_csv(stream, batches: Iterator[list[tuple]]) -> Iterator[int]:
    """Write the header and each batch as CSV to a text ``stream``; yields the rows written after each batch."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    for batch in batches:
        writer.writerows((r[0], r[1].isoformat(), *r[2:]) for r in batch)
        yield len(batch)


def ratings_csv(scope: Scope, *, unit: Unit | None = None, labels: Mapping[str, str] | None = None) -> Iterator[str]:
    """CSV text in pieces: a header, then every rating of ``scope`` (or of ``unit`` inside it), oldest first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    for batch in export_batches(scope, unit=unit, labels=labels):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows((r[0], r[1].isoformat(), *r[2:]) for r in batch)
        yield buffer.getvalue()


#: Characters an XLSX cell cannot hold (control characters): dropped.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
#: Bytes sent at a time from the finished XLSX file.
XLSX_CHUNK = 64 * 1024


def write_ratings_xlsx(path: str, scope: Scope, *, unit: Unit | None = None,
                       labels: Mapping[str, str] | None = None) -> int:
    """Write the same rows as the CSV export to an XLSX file at ``path`` (openpyxl write-only mode);
    returns the number of ratings written."""
    rows = 0
    for written in write_xlsx(path, export_batches(scope, unit=unit, labels=labels)):
        rows += written
    return rows


def write_xlsx(path: str, batches: Iterator[list[tuple]]) -> Iterator[int]:
    """Write the header and each batch to an XLSX file at ``path`` (openpyxl write-only mode); yields
    the rows written after each batch, and saves the file at the end."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("ratings")
    sheet.append(COLUMNS)
    for batch in batches:
        for row in batch:
            sheet.append([_XML_ILLEGAL.sub("", v) if isinstance(v, str) else v for v in row])
        yield len(batch)
    workbook.save(path)


def ratings_xlsx(scope: Scope, *, unit: Unit | None = None, labels: Mapping[str, str] | None = None) -> Iterator[bytes]:
    """The XLSX export in pieces: written to a temporary file first (a ZIP is complete only at its
    end), then read back in chunks; the file is removed however the download ends."""
    handle, path = tempfile.mkstemp(prefix="survey-export-", suffix=".xlsx")
    os.close(handle)
    try:
        write_ratings_xlsx(path, scope, unit=unit, labels=labels)
        with open(path, "rb") as stream:
            while chunk := stream.read(XLSX_CHUNK):
                yield chunk
    finally:
        os.unlink(path)
