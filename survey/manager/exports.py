"""The manager's ratings as CSV, streamed: rows are read in batches and written as they come, so an
export of a million ratings never holds them all in memory. Comments are masked like on every page."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping

from sqlalchemy import select
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


def ratings_csv(scope: Scope, *, unit: Unit | None = None, labels: Mapping[str, str] | None = None) -> Iterator[str]:
    """CSV text in pieces: a header, then every rating of ``scope`` (or of ``unit`` inside it), oldest first."""
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
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    result = db.session.execute(query.execution_options(yield_per=BATCH_SIZE))
    for batch in result.partitions():
        buffer.seek(0)
        buffer.truncate()
        for rating_id, day, office_code, counter_code, channel, value, flag, comment in batch:
            writer.writerow((rating_id, day.isoformat(), office_code, counter_code or "", str(channel), value,
                             flag or "", _cell(mask_personal_data(comment, labels))))
        yield buffer.getvalue()
