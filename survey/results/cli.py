"""``survey results …`` commands and ``survey analyze``: thin wrappers over the results service."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from survey.results.service import LEVELS, ResultsError


def _fail(exc: Exception):
    """Stop with the error's message, in English (the command line's language)."""
    from flask import current_app
    from flask_babel import force_locale

    with current_app.test_request_context(), force_locale("en"):
        message = str(exc)
    raise click.ClickException(message) from None


@click.group("results")
def results_group():
    """Count tables and published results."""


@results_group.command("publish")
@click.option("--period", required=True, help="Closed period: 2026-Q3, 2026-07 or 2026.")
@click.option("--level", type=click.Choice(LEVELS), multiple=True, help="Level(s); default all.")
@click.option("--questionnaire", multiple=True, help="Questionnaire code(s); default all.")
@with_appcontext
def publish_command(period: str, level: tuple[str, ...], questionnaire: tuple[str, ...]):
    """Publish a closed period: a new revision only where the data changed since the last one."""
    from survey.results import snapshots
    from survey.results.counts import refresh_counts
    from survey.results.queries import questionnaire_codes

    refresh_counts()
    for code in questionnaire or questionnaire_codes():
        for lvl in level or LEVELS:
            try:
                outcome = snapshots.publish(period, lvl, code)
            except (ResultsError, ValueError) as exc:
                _fail(exc)
            state = "published" if outcome.created else "unchanged" if outcome.revision else "nothing to publish"
            click.echo(f"{outcome.period} {outcome.level:<8} {outcome.questionnaire:<10} "
                       f"revision {outcome.revision} {state}")


@results_group.command("refresh")
@with_appcontext
def refresh_command():
    """Add every rating not yet counted to the count tables (what the periodic job runs)."""
    from survey.results.counts import refresh_counts

    result = refresh_counts()
    click.echo(f"Counted {result.overall} new ratings and {result.follow_up} follow-ups "
               f"in {result.batches} batch(es), {result.seconds:.2f} s.")


@results_group.command("check")
@click.option("--repair", is_flag=True, help="Replace the count tables with counts rebuilt from the ratings.")
@with_appcontext
def check_command(repair: bool):
    """Rebuild the counts from the ratings and report any difference (exit status 1 if any)."""
    from survey.results.counts import check_counts

    result = check_counts(repair=repair)
    for table, diff in result.differences.items():
        if diff.empty:
            click.echo(f"{table}: OK")
            continue
        click.echo(f"{table}: {len(diff)} row(s) differ")
        click.echo(diff.head(20).to_string(index=False))
    click.echo(f"Ratings not counted yet: {result.uncounted}")
    if result.repaired:
        click.echo("Repaired: the count tables now hold the counts rebuilt from the ratings.")
    elif not result.ok:
        raise SystemExit(1)


@click.command("analyze")
@click.option("--period", required=True, help="2026-Q3, 2026-07 or 2026; compared with the period before.")
@click.option("--level", type=click.Choice(LEVELS), default="province", show_default=True)
@click.option("--questionnaire", default="default", show_default=True,
              help="Questionnaire code: indices on different scales are never mixed.")
@click.option("--format", "output_format", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--min-n", default=30, show_default=True, help="Smallest sample whose index is published.")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to this file instead of standard output.")
@with_appcontext
def analyze_command(period: str, level: str, questionnaire: str, output_format: str, min_n: int, output):
    """The results table of a period, exactly as the open data publishes it (CSV or JSON)."""
    from survey.results import opendata
    from survey.results.service import ResultOptions, results_table

    try:
        results = results_table(period, level, questionnaire, options=ResultOptions(min_n=min_n))
    except (ResultsError, ValueError) as exc:
        _fail(exc)
    if not results.units:
        raise click.ClickException(f"No {questionnaire!r} ratings in {results.period}.")
    if output_format == "csv":
        text = opendata.to_csv(results)
    else:
        text = opendata.dumps(opendata.to_json_document(results))
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
        click.echo(f"{len(results.units)} units written to {output}", err=True)
    else:
        click.echo(text, nl=False)
