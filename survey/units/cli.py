"""``survey units add|rename|set|merge``: the unit tree from the command line (whole platform, audited
with no actor)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from survey.extensions import db
from survey.models import Unit, UnitLevel
from survey.units import operations

DATE = click.DateTime(["%Y-%m-%d"])


def _unit(code: str) -> Unit:
    unit = db.session.scalar(select(Unit).where(Unit.code == code))
    if unit is None:
        raise click.ClickException(f"No unit with code {code!r}.")
    return unit


def _commit(message: str) -> None:
    db.session.commit()
    operations.tree_changed()
    click.echo(message)


@click.group("units")
def units_group():
    """Add, rename and configure units, and record mergers."""


@units_group.command("add")
@click.argument("code")
@click.option("--level", required=True, type=click.Choice([str(level) for level in UnitLevel]))
@click.option("--parent", "parent_code", default=None, help="Code of the unit it belongs to (none for a province).")
@click.option("--name-vi", required=True, help="Vietnamese name.")
@click.option("--name-en", default=None, help="English name.")
@click.option("--from", "valid_from", type=DATE, default=None, help="First day it exists, YYYY-MM-DD (default: today).")
@with_appcontext
def add_command(code, level, parent_code, name_vi, name_en, valid_from):
    """Add the unit CODE (codes never change and are never reused)."""
    parent = _unit(parent_code) if parent_code else None
    try:
        operations.create_unit(parent, code, level, name_vi, name_en,
                               valid_from=valid_from.date() if valid_from else None, actor=None)
    except operations.UnitError as exc:
        raise click.ClickException(str(exc)) from None
    _commit(f"Added {level} {code}" + (f" under {parent_code}." if parent_code else "."))


@units_group.command("rename")
@click.argument("code")
@click.option("--name-vi", required=True, help="New Vietnamese name.")
@click.option("--name-en", default=None, help="New English name (left out: none).")
@with_appcontext
def rename_command(code, name_vi, name_en):
    """Give the unit CODE new names; its code stays."""
    try:
        changed = operations.rename_unit(_unit(code), name_vi, name_en, actor=None)
    except operations.UnitError as exc:
        raise click.ClickException(str(exc)) from None
    _commit(f"Renamed {code}." if changed else f"{code} already has these names.")


@units_group.command("set")
@click.argument("code")
@click.option("--complaint-contact", default=None, help="Where the unit takes complaints (empty: none).")
@click.option("--questionnaire", "questionnaire_code", default=None,
              help="Questionnaire code shown here (empty: inherited from the unit above).")
@with_appcontext
def set_command(code, complaint_contact, questionnaire_code):
    """Change the settings of the unit CODE; an option left out keeps its value."""
    unit = _unit(code)
    try:
        changed = operations.update_settings(
            unit, actor=None,
            complaint_contact=unit.complaint_contact if complaint_contact is None else complaint_contact,
            questionnaire_code=unit.questionnaire_code if questionnaire_code is None else questionnaire_code)
    except operations.UnitError as exc:
        raise click.ClickException(str(exc)) from None
    _commit(f"Settings of {code} changed." if changed else f"Settings of {code} unchanged.")


@units_group.command("merge")
@click.argument("code")
@click.argument("successor_code")
@click.option("--on", "on", type=DATE, required=True, help="First day of the merger, YYYY-MM-DD.")
@with_appcontext
def merge_command(code, successor_code, on):
    """Record that unit CODE was merged into SUCCESSOR_CODE from --on: CODE ends the day before, and its
    ratings are reported under SUCCESSOR_CODE."""
    unit = _unit(code)
    try:
        operations.record_merger(unit, _unit(successor_code), on.date(), actor=None)
    except operations.UnitError as exc:
        raise click.ClickException(str(exc)) from None
    _commit(f"{code} merged into {successor_code} from {on:%Y-%m-%d} (it ends on {unit.valid_to:%Y-%m-%d}).")
