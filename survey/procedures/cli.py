"""``survey procedures import FILE.csv``: the national procedure catalogue from the command line."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from survey.extensions import db
from survey.procedures.operations import CatalogueFormatError, import_procedures


@click.group("procedures")
def procedures_group():
    """The procedure catalogue."""


@procedures_group.command("import")
@click.argument("path", type=click.File("rb"))
@with_appcontext
def import_command(path):
    """Import procedures from a CSV file (columns code, name_vi[, name_en, field, time_limit_days]).
    Bad rows are listed by line and stored nothing; the good ones are stored. Exits 1 if any row is bad."""
    try:
        report = import_procedures(path.read(), actor=None)
    except CatalogueFormatError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    for error in report.errors:
        click.echo(f"line {error.line}: {error.message}", err=True)
    click.echo(f"{report.rows} rows: {report.created} added, {report.updated} updated, {report.unchanged} unchanged, "
               f"{len(report.errors)} refused.")
    if report.errors:
        raise SystemExit(1)
