"""``survey poster UNIT_CODE``: the printable QR poster of an office or counter, for offices printing in bulk."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app, url_for
from flask.cli import with_appcontext


@click.command("poster")
@click.argument("unit_code")
@click.option("--format", "kind", type=click.Choice(["pdf", "svg"]), default="pdf", show_default=True)
@click.option("--size", type=click.Choice(["a4", "a5"]), default="a4", show_default=True, help="Paper, portrait.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path), default=None,
              help="File to write (default: poster-UNIT_CODE-SIZE.FORMAT in the current folder).")
@click.option("--base-url", default=None,
              help="The address citizens reach the site at (default: the PUBLIC_BASE_URL setting).")
@with_appcontext
def poster_command(unit_code: str, kind: str, size: str, output: Path | None, base_url: str | None):
    """Write the QR poster of an open office or counter: its phone rating address as a code and as text."""
    from survey.kiosks import posters
    from survey.kiosks.queries import find_unit

    base_url = (base_url or current_app.config.get("PUBLIC_BASE_URL") or "").strip()
    if not base_url.startswith(("https://", "http://")):
        raise click.ClickException("Give the site's public address with --base-url (e.g. https://khaosat.tinh.gov.vn) "
                                   "or set PUBLIC_BASE_URL.")
    unit = find_unit(unit_code)
    if unit is None or not posters.has_poster(unit):
        raise click.ClickException(f"No open office or counter with code {unit_code!r}.")
    with current_app.test_request_context(base_url=base_url):
        address = url_for("rating.rate_by_phone", code=unit.code, _external=True)
    output = output or Path(posters.file_name(unit.code, kind, size))
    output.write_bytes(posters.poster(posters.content_for(unit, address), kind=kind, size=size))
    click.echo(f"{output}: {address}")
