"""Shared by ``submit_load.py`` and ``fault_kill.py``: a private database with one office, its counter
and many kiosks; the app served by gunicorn on 127.0.0.1; kiosk and phone clients that rate like the
real pages do (form posts carrying the page's CSRF token and a fresh idempotency key); and the count
of what the database really holds afterwards.

Everything here targets 127.0.0.1 only, is bounded in time, and stops what it started by PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

POSTGRES_URL = os.environ.get("SURVEY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SURVEY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SECRET_KEY = "benchmark-" + uuid.uuid4().hex

#: How the app is served. ``{port}``, ``{workers}``, ``{threads}`` and ``{python}`` are filled in.
#: Switch to ``survey serve`` with --command once it exists, e.g.
#: ``--command "{python} -m survey.cli serve --host 127.0.0.1 --port {port} --workers {workers} --threads {threads}"``
DEFAULT_COMMAND = (
    "{python} -m gunicorn --bind 127.0.0.1:{port} --workers {workers} --threads {threads} "
    "--graceful-timeout 5 --log-level warning survey:create_app()"
)

FIELD = re.compile(r'name="(question_\d+)"')
HIDDEN = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]*)"')


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ database


@dataclass
class Database:
    """A private database for one run: a SQLite file in a temporary folder, or a PostgreSQL schema."""

    kind: str
    url: str
    schema: str | None = None

    def drop(self) -> None:
        if self.schema is None:
            return
        from sqlalchemy import create_engine, text

        engine = create_engine(POSTGRES_URL)
        with engine.begin() as conn:
            conn.execute(text(f'drop schema if exists "{self.schema}" cascade'))
        engine.dispose()


def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it answers."""
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "no PostgreSQL here"
        return f"PostgreSQL not reachable at {POSTGRES_URL} ({type(exc).__name__})"
    return None


def redis_unreachable() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001
        return f"Redis not reachable at {REDIS_URL} ({type(exc).__name__})"
    return None


@contextmanager
def private_database(kind: str, folder: Path) -> Iterator[Database]:
    if kind == "sqlite":
        yield Database("sqlite", f"sqlite:///{folder / 'bench.sqlite'}")
        return
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in POSTGRES_URL else "?"
    # application_name lets fault_kill find (and cut) exactly this run's connections.
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}&application_name={schema}"
    database = Database("postgresql", url, schema)
    try:
        yield database
    finally:
        database.drop()


@dataclass
class Fixture:
    office_code: str
    counter_code: str
    kiosk_tokens: list[str]


def prepare(database: Database, instance: Path, kiosks: int) -> Fixture:
    """Migrate, install the questionnaires, and register one office, its counter and ``kiosks`` kiosks."""
    os.environ["SURVEY_INSTANCE_PATH"] = str(instance)
    from survey import create_app
    from survey.cli import init_database
    from survey.extensions import db
    from survey.models import Kiosk, Unit, UnitLevel

    app = create_app({"SQLALCHEMY_DATABASE_URI": database.url, "SECRET_KEY": SECRET_KEY})
    with app.app_context(), contextlib.redirect_stderr(io.StringIO()):  # Alembic's INFO lines
        init_database()
    with app.app_context():
        province = Unit(code="BENCH", level=UnitLevel.PROVINCE, name_vi="Tỉnh thử", name_en="Bench province")
        office = Unit(code="BENCH-TTHCC", level=UnitLevel.OFFICE, parent=province,
                      name_vi="Trung tâm Phục vụ hành chính công", name_en="Service centre")
        counter = Unit(code="BENCH-TTHCC-Q01", level=UnitLevel.COUNTER, parent=office,
                       name_vi="Quầy 1", name_en="Counter 1")
        db.session.add_all([province, office, counter])
        tokens = []
        for i in range(kiosks):
            kiosk = Kiosk(office=office, counter=counter, label=f"Bench kiosk {i}", token_hash="")
            tokens.append(kiosk.issue_token())
            db.session.add(kiosk)
        db.session.commit()
        fixture = Fixture(office.code, counter.code, tokens)
        if database.kind == "sqlite":
            # Several worker processes write one file: WAL lets readers and the writer overlap.
            # The setting is stored in the file; the app's own connect hook sets it too where present.
            db.session.execute(db.text("pragma journal_mode=wal"))
            db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return fixture


def stored_keys(database: Database) -> list[str]:
    """Every idempotency key in the ratings table (duplicates kept, to count them)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database.url)
    with engine.connect() as conn:
        keys = [row[0] for row in conn.execute(text("select idempotency_key from ratings"))]
        answers = conn.execute(text(
            "select count(*) from (select rating_id, question_id from answers "
            "group by rating_id, question_id having count(*) > 1) as twice"
        )).scalar_one()
    engine.dispose()
    return keys + ["<duplicate answer>"] * answers


def cut_connections(database: Database) -> int:
    """Terminate every PostgreSQL backend of this run's schema (what a database restart does)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        cut = conn.execute(
            text("select count(pg_terminate_backend(pid)) from pg_stat_activity "
                 "where application_name = :name and pid <> pg_backend_pid()"),
            {"name": database.schema},
        ).scalar_one()
    engine.dispose()
    return int(cut)


# -------------------------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Server:
    """The app under gunicorn (or ``--command``) on 127.0.0.1, started and stopped by PID."""

    command: str
    env: dict[str, str]
    workers: int
    threads: int
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    #: Every PID this server ever had (master and workers), so none is left behind.
    known_pids: set[int] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        argv = shlex.split(self.command.format(
            python=shlex.quote(sys.executable), port=self.port, workers=self.workers, threads=self.threads
        ))
        self.log_path = self.log_path or Path(tempfile.mkstemp(prefix="survey-bench-", suffix=".log")[1])
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log_file, stderr=log_file,
                                            start_new_session=True)
        self.known_pids.add(self.process.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_tail()}")
            if self._answers() and len(self.workers_pids()) >= self.workers:
                return
            time.sleep(0.1)
        raise RuntimeError(f"server did not answer within {timeout} s:\n{self.log_tail()}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                return s.recv(64).split(b"\r\n", 1)[0].endswith(b" 200 OK")
        except OSError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def tree(self) -> list[int]:
        """The server's live processes: the started process and all its descendants."""
        if self.process is None:
            return []
        children = _children()
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            if alive(pid):
                found.append(pid)
            todo.extend(children.get(pid, []))
        self.known_pids.update(found)
        return found

    def workers_pids(self) -> list[int]:
        children = _children()
        return [pid for pid in self.tree() if not any(alive(c) for c in children.get(pid, []))
                and pid != self.master_pid()]

    def master_pid(self) -> int | None:
        """The gunicorn arbiter: the process whose children are the workers."""
        if self.process is None:
            return None
        children = _children()
        pid = self.process.pid
        # Follow a wrapper (e.g. a CLI that starts gunicorn as a child) down to the arbiter.
        while True:
            live = [c for c in children.get(pid, []) if alive(c)]
            if len(live) == 1 and any(alive(g) for g in children.get(live[0], [])):
                pid = live[0]
                continue
            return pid

    def cpu_seconds(self) -> float:
        return sum(_cpu_ticks(pid) for pid in self.tree()) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """SIGTERM the master, then SIGKILL whatever of ours is still alive (by PID)."""
        self.tree()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for pid in sorted(self.known_pids):
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def server_env(database: Database, instance: Path, *, redis_url: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SURVEY_")}
    env.update({
        "SURVEY_DATABASE_URL": database.url,
        "SURVEY_SECRET_KEY": SECRET_KEY,
        "SURVEY_INSTANCE_PATH": str(instance),
        # All load comes from one address and a few hundred kiosks: the per-address phone limit and
        # the 5 s kiosk burst rule would refuse it. The burst UPDATE still runs for every kiosk rating.
        "SURVEY_KIOSK_MIN_INTERVAL_SECONDS": "0",
        "SURVEY_PHONE_RATE_LIMIT": "1000000 per hour",
        "PYTHONPATH": str(ROOT),
    })
    if redis_url:
        env["SURVEY_RATELIMIT_STORAGE_URL"] = redis_url
        env["SURVEY_RATELIMIT_KEY_PREFIX"] = f"bench-{uuid.uuid4().hex}"
    return env


# ------------------------------------------------------------------------------------------- clients


@dataclass
class Tally:
    """What the clients saw: acknowledged keys, latencies per kind, and every other outcome."""

    acknowledged: dict[str, str] = field(default_factory=dict)  # key -> channel
    latencies: dict[str, list[float]] = field(default_factory=dict)
    outcomes: Counter = field(default_factory=Counter)
    measuring: bool = False

    def record(self, kind: str, seconds: float) -> None:
        if self.measuring:
            self.latencies.setdefault(kind, []).append(seconds)


#: What :meth:`Device.rate` returns for a tap the server stored and acknowledged.
ACKNOWLEDGED = 303


class Device:
    """A kiosk client (cycling through its own share of the registered kiosks) or one phone: its own
    cookies and connection, like a real device."""

    def __init__(self, base_url: str, paths: list[str], channel: str, *, kiosk_form: bool = False):
        import aiohttp

        self.paths, self.channel = paths, channel
        #: A kiosk sends its taps as the page's script does (JSON to POST /api/v1/ratings with its own
        #: credential); ``kiosk_form`` sends the form POST of a page without JavaScript instead.
        self.kiosk_api = channel == "kiosk" and not kiosk_form
        self.session = aiohttp.ClientSession(
            base_url, cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(limit=1),
            timeout=aiohttp.ClientTimeout(total=15, connect=5),
        )
        self.csrf: dict[str, str] = {}
        self.field: str | None = None
        self.turn = 0

    async def open_pages(self) -> None:
        """GET each rating page, as the browser does before the first tap: CSRF token and field name."""
        for path in self.paths:
            async with self.session.get(path) as response:
                html = await response.text()
                if response.status != 200:
                    raise RuntimeError(f"GET {path}: {response.status}")
            self.csrf[path] = HIDDEN.search(html).group(1)
            self.field = FIELD.search(html).group(1)

    def next_path(self) -> str:
        self.turn += 1
        return self.paths[self.turn % len(self.paths)]

    async def rate(self, key: str, path: str) -> int:
        """POST one tap with ``key``; the status code, :data:`ACKNOWLEDGED` (303) when the tap is stored
        and acknowledged: a 303 naming the key (form), or a 201/200 naming it (the kiosk's API tap)."""
        value = random.randint(1, 5)
        if self.kiosk_api:
            token = path.rsplit("/", 1)[1]
            body = {"idempotency_key": key, "answers": {"overall": value}, "locale": "vi"}
            async with self.session.post("/api/v1/ratings", json=body,
                                         headers={"Authorization": f"Kiosk {token}"}) as response:
                answer = await response.read()
                if response.status in (200, 201):
                    return ACKNOWLEDGED if key.encode() in answer else -response.status
                return response.status
        data = {"csrf_token": self.csrf[path], "idempotency_key": key, self.field: str(value)}
        async with self.session.post(path, data=data, allow_redirects=False) as response:
            await response.read()
            if response.status == 303 and key not in response.headers.get("Location", ""):
                return -303  # a redirect that does not name our rating is not an acknowledgement
            return response.status

    async def noop(self) -> int:
        async with self.session.get("/healthz") as response:
            await response.read()
            return response.status

    async def close(self) -> None:
        await self.session.close()


async def open_devices(base_url: str, fixture: Fixture, count: int, *, kiosk_form: bool = False) -> list[Device]:
    """Half kiosk clients (disjoint shares of the registered kiosks), half phones at the counter."""
    kiosk_clients = (count + 1) // 2
    devices = []
    for i in range(count):
        if i % 2 == 0:
            share = fixture.kiosk_tokens[i // 2::kiosk_clients] or fixture.kiosk_tokens[:1]
            devices.append(Device(base_url, [f"/kiosk/{token}" for token in share], "kiosk", kiosk_form=kiosk_form))
        else:
            devices.append(Device(base_url, [f"/r/{fixture.counter_code}"], "phone"))
    await asyncio.gather(*(device.open_pages() for device in devices))
    return devices


def new_key() -> str:
    return uuid.uuid4().hex


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: list[float], seconds: float) -> dict:
    return {
        "requests": len(values),
        "per_second": len(values) / seconds if seconds else float("nan"),
        "p50_ms": 1000 * percentile(values, 0.50),
        "p99_ms": 1000 * percentile(values, 0.99),
    }


def run(coroutine):
    return asyncio.run(coroutine)


def run_databases(args, run_one, print_result) -> int:
    """Run ``run_one(kind, args)`` for each database in ``--database`` (PostgreSQL skipped with its
    reason when it does not answer), print each result (or one JSON object per database with
    ``--json``); exit status 1 when any rating was lost or duplicated."""
    import json

    results = []
    for kind in [k.strip() for k in args.database.split(",") if k.strip()]:
        if kind == "postgresql" and (reason := postgres_unreachable()):
            log(f"[postgresql] skipped: {reason}")
            results.append({"database": kind, "skipped": reason})
            continue
        results.append(run_one(kind, args))
    for result in results:
        if args.json:
            print(json.dumps(result))
        elif "skipped" not in result:
            print_result(result)
    return 0 if all(r.get("lost", 0) == 0 and r.get("duplicated", 0) == 0 for r in results) else 1
