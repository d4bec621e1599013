"""Default settings. Overridden by ``instance/config.py``, then by ``SURVEY_*`` environment variables
(``SURVEY_DATABASE_URL`` sets ``DATABASE_URL``; values are read as JSON when they parse, so
``SURVEY_TRUSTED_PROXIES=1`` is a number). :func:`load` applies them and resolves the aliases.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from sqlalchemy.engine import make_url


class ConfigurationError(RuntimeError):
    """A setting that keeps the app from starting safely; the message says what to change."""


#: "production" or "development". Unset: production for any database but SQLite. Production needs a
#: configured secret key (see survey.secrets) and never generates one.
ENV = None
#: Master secret; or SECRET_KEY_FILE, a file whose first line is it (further lines: previous secrets).
SECRET_KEY = None
SECRET_KEY_FILE = None
#: Previous master secrets still accepted for sessions and kiosk pages while a new one rolls out.
SECRET_KEY_FALLBACKS: list[str] = []
#: Redis for everything several processes must share: rate limits and the job queue.
REDIS_URL = None
#: Number of reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted (0: none).
TRUSTED_PROXIES = 0
#: RQ queue name for background jobs (survey.jobs) and their timeout in seconds.
JOBS_QUEUE = "survey"
JOB_TIMEOUT_SECONDS = 600

#: Vietnamese first: the platform serves Vietnamese citizens; English is the second language.
BABEL_DEFAULT_LOCALE = "vi"
BABEL_DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
#: ``None``: every catalog present in ``BABEL_TRANSLATION_DIRECTORIES`` (default locale first), each named in
#: its own language by Babel; ``survey add-language CODE`` adds one. A dict ``{code: name}`` pins the list.
LANGUAGES = None

#: Seconds within which a second, different rating from the same kiosk is refused as a burst.
KIOSK_MIN_INTERVAL_SECONDS = 5
#: Seconds of inactivity on the follow-up questions before the kiosk asks "do you need more time?".
KIOSK_IDLE_SECONDS = 60
#: Seconds the "do you need more time?" warning waits for an answer (WCAG 2.2.1 asks for at least 20).
KIOSK_WARNING_SECONDS = 30
#: Seconds the thank-you screen counts down (visibly, and can be stopped) before the start screen returns.
KIOSK_THANKS_SECONDS = 8
#: Seconds the kiosk shows the chosen face after a tap before it closes the rating and is free again.
KIOSK_CONFIRM_SECONDS = 8
#: Seconds a kiosk's error page waits before it goes back to the kiosk's start page by itself.
KIOSK_ERROR_RETURN_SECONDS = 15
#: Taps a kiosk queued offline are accepted this many days late; older ones are stored but flagged.
KIOSK_QUEUE_MAX_DAYS = 7
#: A kiosk page reports its health (queued offline taps) this often; managers see a kiosk as not
#: seen when it has been silent for KIOSK_SILENT_MINUTES.
KIOSK_HEARTBEAT_SECONDS = 60
KIOSK_SILENT_MINUTES = 10
#: A tablet clock further than this from the server's is shown to managers (taps are corrected anyway).
KIOSK_CLOCK_SKEW_WARN_SECONDS = 300
#: Seconds after the first tap during which "Change my answer" replaces the overall answer.
CHANGE_ANSWER_SECONDS = 120
#: Minutes after the first tap during which the same citizen may still add follow-up answers.
FOLLOW_UP_WINDOW_MINUTES = 30
#: Manager sign-in: attempts per address (all), failures per e-mail and per address before a lockout.
SIGN_IN_RATE_LIMIT = "10 per minute"
SIGN_IN_ACCOUNT_FAILURES = "10 per 15 minutes"
SIGN_IN_ADDRESS_FAILURES = "30 per 15 minutes"
#: Minutes an e-mail or address stays locked after too many failures (the right password is refused too).
SIGN_IN_LOCKOUT_MINUTES = 15
#: A manager's session ends after this many minutes without a request, and this many hours after sign-in.
MANAGER_SESSION_IDLE_MINUTES = 30
MANAGER_SESSION_MAX_HOURS = 12
#: Sessions that can no longer be used are deleted by a periodic job this many days after they ended.
MANAGER_SESSION_KEEP_DAYS = 7
#: Minutes between the password step and the code (or enrolment, or new password) step of a sign-in.
SIGN_IN_SECOND_STEP_MINUTES = 10
#: The name authenticator apps show next to the account.
TOTP_ISSUER = "Survey"
#: Cookies are ``Secure`` whenever the request came over HTTPS; True makes them ``Secure`` always.
SESSION_COOKIE_SECURE = False
#: Strict-Transport-Security max-age sent on HTTPS responses (0: no HSTS header).
HSTS_MAX_AGE_SECONDS = 365 * 24 * 3600
#: Milliseconds a SQLite writer waits for the lock before giving up (then the request gets a 503).
SQLITE_BUSY_TIMEOUT_MS = 15_000
#: Seconds a client is asked to wait (Retry-After) when the database is unreachable.
DATABASE_RETRY_AFTER_SECONDS = 5
#: Largest request body accepted (a rating is a few hundred bytes); larger gets a 413 with a message.
MAX_CONTENT_LENGTH = 64 * 1024
#: Largest body of the views marked ``accepts_large_body`` (a batch of 1,000 transactions is ~300 KiB).
LARGE_BODY_MAX_CONTENT_LENGTH = 1024 * 1024
#: Days a transaction's single-use rating link stays valid after registration (or after the result's return).
RATING_LINK_DAYS = 30
#: The address citizens reach this site at (e.g. "https://khaosat.tinh.gov.vn"), printed on QR posters
#: made with ``survey poster``; posters downloaded from the manager pages use the address of the request.
PUBLIC_BASE_URL = None
#: Longest comment accepted, in characters.
COMMENT_MAX_LENGTH = 1000
#: Days a manager has to answer a complaint case (a negative rating with a comment).
CASE_DEADLINE_DAYS = 5
#: Minutes a background export's file is kept for its download before it is deleted.
EXPORT_KEEP_MINUTES = 60
#: A misuse alert is raised when more ratings of one office than this were flagged in the last 24 hours.
ALERTS_MISUSE_THRESHOLD = 20
#: SMTP server for e-mailed alerts (``SURVEY_SMTP_HOST``…); no e-mail is sent while SMTP_HOST is unset.
SMTP_HOST = None
SMTP_PORT = 25
SMTP_USERNAME = None
SMTP_PASSWORD = None
#: Upgrade the connection with STARTTLS before signing in (needs a server that offers it).
SMTP_STARTTLS = False
SMTP_FROM = "survey@localhost"
SMTP_TIMEOUT_SECONDS = 30

#: Phone ratings from one address: a ceiling against floods only, far above a centre's guest Wi-Fi
#: (everyone on it shares one address). Real citizens are told apart by their device (below).
PHONE_RATE_LIMIT = "1200 per hour"
#: Ratings one phone (its signed device cookie) gives at a human rate; beyond it they are stored but
#: flagged for review (survey.misuse), never refused. Phones without the cookie share one such budget
#: per address.
PHONE_DEVICE_HUMAN_RATE = "10 per hour"
#: Seconds a phone rating page stays valid (its signed token), so a page opened while queuing still works.
PHONE_PAGE_MAX_AGE_SECONDS = 24 * 3600
#: Ratings sent through single-use links from one address (each link works once anyway).
LINK_RATE_LIMIT = "30 per minute"
#: Rate-limit counters: unset means REDIS_URL when configured, else per-process memory.
RATELIMIT_STORAGE_URI = None
RATELIMIT_HEADERS_ENABLED = True

SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True

#: Seconds after which the results service refreshes the count tables before computing live results.
COUNTS_MAX_AGE_SECONDS = 30
#: Extra seconds after the follow-up window before a rating's follow-up answers are counted (workers' clocks differ).
COUNT_GRACE_SECONDS = 120
#: Seconds live (provisional) results are reused before they are computed again.
RESULTS_CACHE_SECONDS = 60
#: Kinds of open period the periodic job computes for every level and questionnaire (month, quarter, year).
RESULTS_PROVISIONAL_PERIODS = ("M", "Q", "Y")
#: Seconds after which the job's stored provisional results are no longer served (no worker is running):
#: pages then compute in the request, as a deployment without a worker always does.
RESULTS_PROVISIONAL_MAX_AGE_SECONDS = 3600


def load(app: Flask, test_config: dict | None = None) -> None:
    """Defaults, then ``instance/config.py`` and ``SURVEY_*`` variables (or the test configuration)."""
    app.config.from_object(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'survey.sqlite'}"
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("SURVEY")
    else:
        app.config.update(test_config)
    config = app.config
    if config.get("DATABASE_URL"):
        config["SQLALCHEMY_DATABASE_URI"] = config["DATABASE_URL"]
    if config.get("RATELIMIT_STORAGE_URL"):
        config["RATELIMIT_STORAGE_URI"] = config["RATELIMIT_STORAGE_URL"]
    if not config.get("RATELIMIT_STORAGE_URI"):
        config["RATELIMIT_STORAGE_URI"] = config.get("REDIS_URL") or "memory://"
    if config["ENV"] is None:
        sqlite = make_url(config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "sqlite"
        config["ENV"] = "development" if sqlite else "production"
    if config["ENV"] not in ("production", "development"):
        raise ConfigurationError(f"ENV must be 'production' or 'development', not {config['ENV']!r}.")
    try:
        config["TRUSTED_PROXIES"] = int(config["TRUSTED_PROXIES"] or 0)
    except (TypeError, ValueError):
        raise ConfigurationError(f"TRUSTED_PROXIES must be a number, not {config['TRUSTED_PROXIES']!r}.") from None
    if config["TRUSTED_PROXIES"] < 0:
        raise ConfigurationError("TRUSTED_PROXIES cannot be negative.")


def shared_rate_limits(app: Flask) -> bool:
    """Whether rate-limit counters live where every process sees them (not in one process's memory)."""
    return not str(app.config["RATELIMIT_STORAGE_URI"]).startswith("memory")


def create_private_sqlite_file(database_uri: str) -> None:
    """Create a SQLite database file readable by its owner only (SQLite gives its journal and WAL
    files the same mode); an existing file is left as it is."""
    url = make_url(database_uri)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:") or url.database.startswith("file:"):
        return
    path = Path(url.database)
    if path.exists() or not path.parent.is_dir():
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
