"""The ``survey`` command: the Flask CLI bound to :func:`survey.create_app`, plus the platform's commands."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from flask_migrate import upgrade
from sqlalchemy import select

from survey.config import ConfigurationError
from survey.extensions import db


def main() -> None:
    group = FlaskGroup(create_app=_cli_create_app, help="Citizen satisfaction platform (Flask CLI).")
    # These build their app themselves, after applying their options (or need none at all).
    for command in (serve_command, worker_command, compile_catalogs_command, add_language_command):
        group.add_command(command)
    group.main()


def _cli_create_app() -> Flask:
    """The app for a command; unsafe settings end the command with their message, not a traceback."""
    from flask.cli import NoAppException

    from survey import create_app

    try:
        return create_app()
    except ConfigurationError as exc:
        raise NoAppException(str(exc)) from None


def _create_app_or_exit() -> Flask:
    from survey import create_app

    try:
        return create_app()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None


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
        ("Public results", f"{base}/"),
        ("Manager sign-in", f"{base}/manager/sign-in   (email {DEMO_MANAGER_EMAIL}, password {password})"),
    ]


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or a clear error when the port is taken. The demo binds
    first and touches the database after, so a second demo never disturbs a running one."""
    from werkzeug.serving import get_sockaddr, select_address_family

    family = select_address_family(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug does: restart right after a stop
    try:
        sock.bind(get_sockaddr(host, port, family))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise click.ClickException(
            f"Cannot listen on {host}:{port} ({exc.strerror}). Is a demo already running there? "
            "Stop it, or choose another port with --port."
        ) from None
    return sock


def refuse_busy_port(host: str, port: int) -> None:
    """Without serving, only make sure no server (a running demo) answers on the port."""
    from survey.serving import is_wildcard

    try:
        with socket.create_connection(("127.0.0.1" if is_wildcard(host) else host, port), timeout=1):
            pass
    except OSError:
        return
    raise click.ClickException(
        f"Something already answers on {host}:{port}. Is a demo running there? Its kiosk address and password "
        "stay valid; stop it first, or choose another port with --port."
    )


def print_qr_code(label: str, address: str) -> None:
    import segno

    click.echo(f"QR code for {label}:")
    segno.make(address, error="m").terminal(out=sys.stdout, compact=True, border=2)


def print_demo_addresses(host: str, port: int, token: str, password: str) -> None:
    """The four addresses; on all interfaces with this machine's LAN address and QR codes to scan."""
    import ipaddress

    from survey.serving import is_wildcard, lan_address

    shown = host
    if is_wildcard(host):
        shown = lan_address() or "127.0.0.1"
        if shown == "127.0.0.1":
            click.echo("No network address found: only this machine can open the demo.")
    if ":" in shown:
        shown = f"[{shown.strip('[]')}]"
    addresses = demo_addresses(f"http://{shown}:{port}", token, password)
    for label, address in addresses:
        click.echo(f"{label + ':':<20} {address}")
    click.echo("")
    try:
        local_only = shown == "localhost" or ipaddress.ip_address(shown.strip("[]")).is_loopback
    except ValueError:
        local_only = False
    if not local_only:
        # A tablet or phone on the same network scans these instead of typing the long addresses.
        for label, address in addresses[:2]:
            print_qr_code(label, address)
        sys.stdout.flush()


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 for tablets and phones on the same network.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one).")
@click.option("--ratings", default=20000, show_default=True, help="Demo ratings on first start.")
@click.option("--no-serve", is_flag=True, help="Prepare and print the addresses, but do not start the server.")
@with_appcontext
def demo_command(host: str, port: int, ratings: int, no_serve: bool):
    """Prepare the database with demo data (first time only), print the addresses, and serve."""
    from survey.demo import ensure_demo_manager, reissue_demo_kiosk_token, seed_demo
    from survey.models import Unit

    app: Flask = current_app._get_current_object()
    # Before the database is touched: a second demo must not reissue a running demo's kiosk and password.
    sock = None
    if no_serve:
        refuse_busy_port(host, port)
    else:
        sock = listen(host, port)
        port = sock.getsockname()[1]
    try:
        init_database()
        if db.session.scalar(select(Unit.id).limit(1)) is None:
            click.echo(f"Creating demo data ({ratings} ratings)…")
            seed_demo(ratings=ratings)
        password = secrets.token_urlsafe(9)
        ensure_demo_manager(password)
        token = reissue_demo_kiosk_token()
        db.session.commit()
        click.echo(f"\nDatabase: {db.engine.url.render_as_string(hide_password=True)}")
        print_demo_addresses(host, port, token, password)
        if no_serve:
            return
        from werkzeug.serving import make_server

        from survey.redaction import SecretPathFilter

        logging.getLogger("werkzeug").addFilter(SecretPathFilter())  # no kiosk token in the request log
        # Flask ignores app.run() inside a CLI command; serve on the socket bound above.
        server = make_server(host, port, app, threaded=True, fd=sock.fileno())
    finally:
        if sock is not None:
            sock.close()
    click.echo(f"Serving on {host}:{port}; press Ctrl+C to stop.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@click.command("register-kiosk")
@click.argument("office_code")
@click.option("--counter", "counter_code", default=None, help="Counter code the kiosk stands at.")
@click.option("--label", default="Kiosk", show_default=True)
@with_appcontext
def register_kiosk_command(office_code: str, counter_code: str | None, label: str):
    """Register a kiosk tablet for an office and print its secret address (shown only once)."""
    from survey.kiosks.operations import KioskError, register_kiosk
    from survey.models import Unit, UnitLevel

    office = db.session.scalar(select(Unit).where(Unit.code == office_code, Unit.level == UnitLevel.OFFICE))
    if office is None:
        raise click.ClickException(f"No office with code {office_code!r}.")
    counter = None
    if counter_code:
        counter = db.session.scalar(select(Unit).where(Unit.code == counter_code, Unit.parent_id == office.id))
        if counter is None:
            raise click.ClickException(f"No counter {counter_code!r} in office {office_code!r}.")
    try:
        _, token = register_kiosk(office, counter, label, actor=None)
    except KioskError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"/kiosk/{token}")


@click.command("create-user")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(["national-admin", "province-admin", "office-manager"]),
              help="national-admin: everything; province-admin: a province; office-manager: an office or commune.")
@click.option("--unit", "unit_code", default=None, help="Code of the unit the account is bound to.")
@click.option("--name", default=None, help="The person's name (default: the e-mail's local part).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of generating one.")
@with_appcontext
def create_user_command(email: str, role: str, unit_code: str | None, name: str | None, password_stdin: bool):
    """Create a manager account and print its one-time password (only its hash is stored; it must be
    changed at the first sign-in, where administrators also set up two-factor sign-in)."""
    from survey.manager.operations import AccountError, create_user

    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        user, password = create_user(email, role, unit_code, name=name, password=password, one_time=True)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    scope = user.scope_unit.code if user.scope_unit else "the whole platform"
    click.echo(f"Created {user.email} ({role}, {scope}).")
    if not password_stdin:
        click.echo(f"One-time password (shown only now): {password}")
    click.echo("At the first sign-in the person must choose a new password.")
    if user.two_factor_required:
        click.echo("An administrator signs in with two factors: they will set up an authenticator app "
                   "(TOTP) at their first sign-in.")


@click.command("serve")
@click.option("--bind", "-b", multiple=True, default=["127.0.0.1:8000"], show_default=True, envvar="SURVEY_BIND",
              show_envvar=True, help="HOST:PORT (or unix:PATH) to listen on; repeat for several.")
@click.option("--workers", "-w", type=click.IntRange(1), default=None, envvar="SURVEY_WORKERS", show_envvar=True,
              help="Worker processes. Default: 2 × CPUs + 1 with Redis; 1 without (more needs Redis).")
@click.option("--threads", type=click.IntRange(1), default=4, show_default=True, envvar="SURVEY_THREADS",
              show_envvar=True, help="Threads per worker (gthread workers when more than 1).")
@click.option("--timeout", type=click.IntRange(1), default=30, show_default=True, envvar="SURVEY_TIMEOUT",
              show_envvar=True, help="Seconds a request may take before its worker is restarted.")
@click.option("--trusted-proxies", type=click.IntRange(0), default=None, envvar="SURVEY_TRUSTED_PROXIES",
              show_envvar=True, help="Reverse proxies in front whose X-Forwarded-For/-Proto are trusted [default: 0].")
@click.option("--redis-url", default=None, envvar="SURVEY_REDIS_URL", show_envvar=True,
              help="Redis for rate limits and background jobs shared by every worker and node.")
@click.option("--access-log", default="-", show_default=True, envvar="SURVEY_ACCESS_LOG", show_envvar=True,
              help="Access log file ('-': standard output, 'off': none); kiosk and link tokens are redacted.")
@click.option("--access-log-format", default=None, envvar="SURVEY_ACCESS_LOG_FORMAT", show_envvar=True,
              help="gunicorn access log format [default: gunicorn's combined format].")
def serve_command(bind, workers, threads, timeout, trusted_proxies, redis_url, access_log, access_log_format):
    """Serve the app with gunicorn (production). Settings as for every command: instance/config.py,
    SURVEY_* variables; the options here override them."""
    from survey.config import shared_rate_limits
    from survey.serving import SurveyApplication, default_workers, gunicorn_options

    # The workers build their own app from the environment: options travel there.
    if trusted_proxies is not None:
        os.environ["SURVEY_TRUSTED_PROXIES"] = str(trusted_proxies)
    if redis_url:
        os.environ["SURVEY_REDIS_URL"] = redis_url
    app = _create_app_or_exit()  # refuse bad settings here, once, with a readable message
    shared = shared_rate_limits(app)
    workers = workers or default_workers(shared)
    if workers > 1 and not shared:
        raise click.ClickException(
            f"{workers} worker processes would each count rate limits on their own (a limit of 60 would "
            "let through 60 per worker). Configure Redis (--redis-url or SURVEY_REDIS_URL), or use "
            "--workers 1 with --threads."
        )
    options = gunicorn_options(bind=list(bind), workers=workers, threads=threads, timeout=timeout,
                               access_log=None if access_log == "off" else access_log)
    if access_log_format:
        options["access_log_format"] = access_log_format
    click.echo(f"survey serve: {workers} worker(s) × {threads} thread(s) on {', '.join(bind)}; "
               f"{app.config['ENV']}; rate limits {'shared through Redis' if shared else 'in memory'}; "
               f"{app.config['TRUSTED_PROXIES']} trusted proxies", err=True)
    SurveyApplication(options).run()


@click.command("worker")
@click.option("--with-scheduler", is_flag=True,
              help="Also start the periodic jobs (each period's run is claimed once, however many schedulers run).")
@click.option("--burst", is_flag=True, help="Run the queued jobs, then stop (scripts, tests).")
@click.option("--redis-url", default=None, envvar="SURVEY_REDIS_URL", show_envvar=True,
              help="Redis holding the job queue.")
def worker_command(with_scheduler: bool, burst: bool, redis_url: str | None):
    """Run background jobs from the Redis queue (RQ); without Redis, run the periodic jobs inline."""
    import multiprocessing

    from survey import jobs

    if redis_url:
        os.environ["SURVEY_REDIS_URL"] = redis_url
    app = _create_app_or_exit()
    jobs.bind_worker_app(app)
    if not app.config.get("REDIS_URL"):
        if not with_scheduler:
            raise click.ClickException(
                "No Redis configured (SURVEY_REDIS_URL): jobs run inline in the process that enqueues them, "
                "so there is no queue to work on. Use --with-scheduler to run the periodic jobs here."
            )
        click.echo("No Redis: running the periodic jobs inline (run one such worker only).", err=True)
        jobs.run_scheduler(app)
        return
    from rq import Worker

    scheduler = None
    if with_scheduler:
        # Forked before the worker starts any thread; it stops when this process is gone.
        scheduler = multiprocessing.get_context("fork").Process(
            target=jobs.run_scheduler, args=(app,), name="survey-scheduler", daemon=True
        )
        scheduler.start()
    try:
        worker = Worker([jobs.queue(app)], connection=jobs.redis_connection(app))
        worker.work(burst=burst, logging_level="INFO")
    finally:
        if scheduler is not None:
            scheduler.terminate()
            scheduler.join(5)


@click.command("compile-catalogs")
def compile_catalogs_command():
    """Compile the translations (.po → .mo) in this source checkout; wheels get them from the build."""
    from survey.catalogs import CATALOG_DIR, compile_catalogs

    written = compile_catalogs(CATALOG_DIR, only_stale=False)
    for path in written:
        click.echo(f"compiled {path}")


@click.command("add-language")
@click.argument("code")
@click.option("--directory", type=click.Path(file_okay=False), default=None,
              help="Catalog directory (default: the package's survey/translations).")
def add_language_command(code: str, directory: str | None):
    """Offer a new language: create CODE's catalog from messages.pot (then translate its .po). The
    language switch lists every catalog present; right-to-left comes from Babel's data for CODE."""
    from pathlib import Path

    from survey.catalogs import CATALOG_DIR, add_language, language_name

    try:
        po_path = add_language(code, Path(directory) if directory else CATALOG_DIR)
    except (ValueError, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {po_path} ({language_name(code)}); translate its msgstr entries, then restart")


def init_app(app: Flask) -> None:
    from survey.api.cli import api_keys_group
    from survey.kiosks.cli import poster_command
    from survey.procedures.cli import procedures_group
    from survey.results.cli import analyze_command, results_group
    from survey.transactions.csv_import import transactions_group
    from survey.transactions.evaluation import dossier_scores_group
    from survey.units.cli import units_group

    for command in (init_db_command, seed_demo_command, demo_command, register_kiosk_command, create_user_command,
                    analyze_command, results_group, api_keys_group, dossier_scores_group, transactions_group,
                    poster_command, units_group, procedures_group):
        app.cli.add_command(command)


__all__ = ["init_app", "init_database", "main"]
