"""Entering the per-unit scores of the Circular 01/2018/TT-VPCP evaluation (indices 5, 6, 8, 9), which no
dossier carries: index 5 from inspection, 6, 8 and 9 from data one-stop systems do not send.

Entries are added, never edited: a new score for the same unit and index from a later date replaces
the old one from that date on (:func:`survey.results.queries.unit_index_scores`).
"""

from __future__ import annotations

from datetime import date

import click
from flask.cli import with_appcontext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from analysis.dossier import UNIT_ENTERED
from survey.extensions import db
from survey.models import Unit, UnitIndexScore, UnitLevel

#: The index numbers entered per unit: 5, 6, 8, 9.
UNIT_INDEX_NUMBERS = tuple(int(key.split("_")[1]) for key in UNIT_ENTERED)


class EvaluationError(ValueError):
    """A score that cannot be recorded, with a message for the person entering it."""


def record_unit_index_score(office_code: str, index_number: int, points: int, valid_from: date, *,
                            entered_by_id: int | None = None, source_note: str | None = None) -> UnitIndexScore:
    """Add one entered score; the caller commits."""
    office = db.session.scalar(select(Unit).where(Unit.code == office_code))
    if office is None or office.level != UnitLevel.OFFICE:
        raise EvaluationError(_l("No one-stop office has this code."))
    if index_number not in UNIT_INDEX_NUMBERS:
        raise EvaluationError(_l("Only indices 5, 6, 8 and 9 are entered per unit."))
    if points not in (0, 1, 2):
        raise EvaluationError(_l("Points must be 0, 1 or 2."))
    if db.session.scalar(select(UnitIndexScore.id).where(
            UnitIndexScore.unit_id == office.id, UnitIndexScore.index_number == index_number,
            UnitIndexScore.valid_from == valid_from)) is not None:
        raise EvaluationError(_l("This index already has a score from that date; enter one from a later date."))
    score = UnitIndexScore(unit_id=office.id, index_number=index_number, points=points, valid_from=valid_from,
                           entered_by_id=entered_by_id, source_note=(source_note or None))
    db.session.add(score)
    db.session.flush()
    return score


@click.group("dossier-scores")
def dossier_scores_group():
    """Per-unit scores of the Circular 01/2018/TT-VPCP evaluation (indices 5, 6, 8, 9)."""


@dossier_scores_group.command("set")
@click.argument("office_code")
@click.argument("index_number", type=int)
@click.argument("points", type=int)
@click.option("--from", "valid_from", type=click.DateTime(["%Y-%m-%d"]), required=True,
              help="First day (Vietnam) the score holds for, YYYY-MM-DD.")
@click.option("--note", default=None, help="Where the score comes from, e.g. the inspection's reference.")
@with_appcontext
def set_command(office_code: str, index_number: int, points: int, valid_from, note: str | None):
    """Record OFFICE_CODE's POINTS (0-2) on index INDEX_NUMBER (5, 6, 8 or 9)."""
    from survey.units.operations import UnitError, add_index_score

    office = db.session.scalar(select(Unit).where(Unit.code == office_code))
    try:
        if office is None:
            raise EvaluationError(_l("No one-stop office has this code."))
        add_index_score(office, index_number, points, valid_from.date(), note, actor=None)  # audited
    except (EvaluationError, UnitError) as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Index {index_number} of {office_code}: {points} point(s) from {valid_from:%Y-%m-%d}.")
