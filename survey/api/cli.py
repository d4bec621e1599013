"""``survey api-keys create|list|revoke``: keys for the one-stop systems that call the API."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from survey.extensions import db


@click.group("api-keys")
def api_keys_group():
    """API keys of the one-stop systems (each scoped to units; only hashes are stored)."""


@api_keys_group.command("create")
@click.option("--unit", "units", multiple=True, required=True,
              help="Unit code the key may use (and everything below it); repeat for several.")
@click.option("--name", default="One-stop system", show_default=True, help="Who uses the key.")
@with_appcontext
def create_command(units: tuple[str, ...], name: str):
    """Create a key and print it (shown only this once)."""
    from survey.api.keys import ApiKeyError, create_api_key

    try:
        api_key, key = create_api_key(name, list(units))
    except ApiKeyError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"API key {api_key.id} for {', '.join(sorted(units))} ({name}); it is shown only now:")
    click.echo(key)


@api_keys_group.command("list")
@with_appcontext
def list_command():
    """List the keys: id, start of the key, units, state."""
    from survey.api.keys import list_api_keys

    keys = list_api_keys()
    if not keys:
        click.echo("No API keys.")
    for api_key in keys:
        state = f"revoked {api_key.revoked_at:%Y-%m-%d %H:%M} UTC" if api_key.revoked_at else "active"
        used = f"last used {api_key.last_used_at:%Y-%m-%d %H:%M} UTC" if api_key.last_used_at else "never used"
        units = ",".join(sorted(u.code for u in api_key.units))
        click.echo(f"{api_key.id}\t{api_key.key_start}…\t{units}\t{state}\t{used}\t{api_key.name}")


@api_keys_group.command("revoke")
@click.argument("key_id", type=int)
@with_appcontext
def revoke_command(key_id: int):
    """Revoke a key: every request with it is refused from now on."""
    from survey.api.keys import ApiKeyError, revoke_api_key

    try:
        revoked = revoke_api_key(key_id)
    except ApiKeyError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"API key {key_id} revoked." if revoked else f"API key {key_id} was revoked already.")
