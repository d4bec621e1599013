"""The ``survey`` command: the Flask CLI bound to :func:`survey.create_app`, plus the platform's commands."""

from __future__ import annotations

import secrets


import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from flask_migrate import upgrade
from sqlalchemy import select

from survey.extensions import db


def main() -> None:
    from survey import create_app

    FlaskGroup(create_app=create_app, help="Citizen satisfaction platform (Flask CLI).").main()


def init_database() -> None:
    """Bring the schema to the newest migration and install the questionnaire templates."""
    from survey.questionnaires import install_questionnaire_templates

    upgrade(directory=current_app.extensions["migrate"].directory)
    install_questionnaire_templates()
    db.session.commit()


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create or upgrade the database and install the questionnaire templates."""
    init_database()
    click.echo(f"Database ready: {db.engine.url.render_as_string(hide_password=True)}")


@click.command("seed-demo")
@click.option("--ratings", default=20000, show_default=True, help="Number of demo ratings.")
@click.option("--seed", default=2026, show_default=True, help="Random seed (same seed, same data).")
@click.option("--end-date", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Last day of the 12 months of ratings (default: today in Vietnam).")
@with_appcontext
def seed_demo_command(ratings: int, seed: int, end_date):
    """Fill an empty database with demo provinces, offices, kiosks and ratings."""
    from survey.demo import seed_demo

    init_database()
    try:
        result = seed_demo(ratings=ratings, seed=seed, end_date=end_date.date() if end_date else None)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(
        f"Demo data: {result.provinces} provinces, {result.offices} offices, {result.counters} counters, "
        f"{result.kiosks} kiosks, {result.ratings} ratings."
    )
    for office_code, token in list(result.kiosk_tokens.items())[:3]:
        click.echo(f"Kiosk for {office_code}: /kiosk/{token}")


def demo_addresses(base: str, kiosk_token: str, password: str) -> list[tuple[str, str]]:
    from survey.demo import DEMO_MANAGER_EMAIL

    return [
        ("Kiosk (tablet)", f"{base}/kiosk/{kiosk_token}"),
        ("Phone (counter QR)", f"{base}/r/HN-TTHCC-Q01"),
        ("Public results", f"{base}/results"),
        ("Manager sign-in", f"{base}/manager/sign-in   (email {DEMO_MANAGER_EMAIL}, password {password})"),
    ]


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--ratings", default=20000, show_default=True, help="Demo ratings on first start.")
@click.option("--no-serve", is_flag=True, help="Prepare and print the addresses, but do not start the server.")
@with_appcontext
def demo_command(host: str, port: int, ratings: int, no_serve: bool):
    """Prepare the database with demo data (first time only), print the addresses, and serve."""
    from survey.demo import ensure_demo_manager, reissue_demo_kiosk_token, seed_demo
    from survey.models import Unit

    app: Flask = current_app._get_current_object()
    init_database()
    if db.session.scalar(select(Unit.id).limit(1)) is None:
        click.echo(f"Creating demo data ({ratings} ratings)…")
        seed_demo(ratings=ratings)
    password = secrets.token_urlsafe(9)
    ensure_demo_manager(password)
    token = reissue_demo_kiosk_token()
    db.session.commit()
    base = f"http://{host}:{port}"
    click.echo(f"\nDatabase: {db.engine.url.render_as_string(hide_password=True)}")
    for label, address in demo_addresses(base, token, password):
        click.echo(f"{label + ':':<20} {address}")
    click.echo("")
    if not no_serve:
        # Flask ignores app.run() inside a CLI command; serve the way ``flask run`` does.
        from werkzeug.serving import run_simple

        run_simple(host, port, app, use_reloader=False, use_debugger=False, threaded=True)


@click.command("register-kiosk")
@click.argument("office_code")
@click.option("--counter", "counter_code", default=None, help="Counter code the kiosk stands at.")
@click.option("--label", default="Kiosk", show_default=True)
@with_appcontext
def register_kiosk_command(office_code: str, counter_code: str | None, label: str):
    """Register a kiosk tablet for an office and print its secret address (shown only once)."""
    from survey.models import Kiosk, Unit, UnitLevel

    office = db.session.scalar(select(Unit).where(Unit.code == office_code, Unit.level == UnitLevel.OFFICE))
    if office is None:
        raise click.ClickException(f"No office with code {office_code!r}.")
    counter = None
    if counter_code:
        counter = db.session.scalar(select(Unit).where(Unit.code == counter_code, Unit.parent_id == office.id))
        if counter is None:
            raise click.ClickException(f"No counter {counter_code!r} in office {office_code!r}.")
    kiosk = Kiosk(office=office, counter=counter, label=label, token_hash="")
    token = kiosk.issue_token()
    db.session.add(kiosk)
    db.session.commit()
    click.echo(f"/kiosk/{token}")


@click.command("analyze")
@click.option("--period", required=True, help="2026-Q3, 2026-07 or 2026; compared with the period before.")
@click.option("--level", type=click.Choice(["province", "commune", "office"]), default="province", show_default=True)
@click.option("--questionnaire", default="default", show_default=True,
              help="Questionnaire code: indices on different scales are never mixed.")
@click.option("--format", "output_format", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--min-n", default=30, show_default=True, help="Smallest sample whose index is published.")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to this file instead of standard output.")
@with_appcontext
def analyze_command(period: str, level: str, questionnaire: str, output_format: str, min_n: int, output):
    """Satisfaction indices with intervals and fair comparison, per unit, for the live database."""
    import analysis
    from survey.aggregation import month_range, overall_scale, rating_counts, transactions_served
    from survey.models import UnitLevel

    try:
        current = analysis.parse_period(period)
        label, previous = analysis.period_label(current), analysis.period_before(current)
        low, high, satisfied_from = overall_scale(questionnaire)
    except (ValueError, LookupError) as exc:
        raise click.ClickException(str(exc)) from None
    months = month_range(analysis.parse_period(previous), current)
    unit_level = UnitLevel(level)
    counts = rating_counts(questionnaire, months, unit_level)
    served = transactions_served(months, unit_level)
    if counts.empty:
        raise click.ClickException(f"No {questionnaire!r} ratings in {previous} or {label}.")
    table = analysis.satisfaction_table(
        counts, by=["unit", "name"], period=label, previous_period=previous,
        satisfied_from=satisfied_from, scale=(low, high), transactions=served, min_n=min_n,
    )
    table.insert(0, "period", label)
    table.insert(1, "level", level)
    if output_format == "csv":
        text = table.to_csv(index=False, float_format="%.6g")
    else:
        import json

        meta = {key: value for key, value in table.attrs.items() if isinstance(value, (str, int, float, bool))}
        records = json.loads(table.to_json(orient="records", double_precision=6))
        text = json.dumps({"period": label, "previous_period": previous, "level": level,
                           "questionnaire": questionnaire, "settings": meta, "units": records},
                          ensure_ascii=False, indent=1) + "\n"
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
        click.echo(f"{len(table)} units written to {output}", err=True)
    else:
        click.echo(text, nl=False)


def init_app(app: Flask) -> None:
    for command in (init_db_command, seed_demo_command, demo_command, register_kiosk_command, analyze_command):
        app.cli.add_command(command)


__all__ = ["init_app", "init_database", "main"]
