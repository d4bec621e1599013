"""Is every acknowledged rating stored exactly once when processes die and the database drops out?

The app runs under gunicorn on 127.0.0.1 (2 workers) on a private database: a SQLite file and, when
it answers, a private PostgreSQL schema. Kiosk and phone clients (as in ``submit_load.py``) rate
without pause; each rating keeps its idempotency key and is sent again after any failure
(connection refused or reset, timeout, 5xx) until it is acknowledged (a 303 naming the key), as the
kiosk page and a phone browser do. Meanwhile, at fixed points of ``--seconds`` of load:

  20 %  ``kill -9`` one worker (the master starts another), and again at 70 %;
  40 %  ``kill -9`` the master; its orphaned workers get a second to exit and are killed by PID
        if they linger (as a supervisor does), then the server is started again on the same port;
  60 %  PostgreSQL: every connection of this run's schema is cut (``pg_terminate_backend``), as a
        database restart or failover does; again at 80 %. (SQLite has no connections to cut.)

Afterwards every key is looked up in the database. Printed: ratings attempted, acknowledged and
stored; **lost** (acknowledged but not stored) and **duplicated** (a rating or an answer stored
twice); both must be 0. Everything targets 127.0.0.1, is bounded in time (load, then at most
``--grace`` seconds for the last retries) and stops what it started by PID.

    .venv/bin/python benchmarks/fault_kill.py                        # 20 s, SQLite and PostgreSQL
    .venv/bin/python benchmarks/fault_kill.py --seconds 3 --database sqlite --json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import (  # noqa: E402
    run_databases,
    DEFAULT_COMMAND, REDIS_URL, Server, alive, cut_connections, log, new_key, open_devices,
    prepare, private_database, redis_unreachable, server_env, stored_keys,
)

MAX_ATTEMPTS = 500


@dataclass
class Run:
    attempted: set[str] = field(default_factory=set)
    acknowledged: set[str] = field(default_factory=set)
    gave_up: set[str] = field(default_factory=set)
    refused: dict[str, int] = field(default_factory=dict)
    retries: Counter = field(default_factory=Counter)
    faults: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    faults_done: bool = False

    def note(self, text: str) -> None:
        entry = f"{time.monotonic() - self.started:5.1f} s  {text}"
        self.faults.append(entry)
        log(f"  {entry}")


async def citizen(device, run: Run, load_until: float, grace: float) -> None:
    """Rate, and send the same rating again after any failure until it is acknowledged. The load
    lasts ``load_until`` and at least until every fault has happened; then ``grace`` seconds at most
    for the last retries."""
    while time.monotonic() < load_until or not run.faults_done:
        retry_until = max(load_until, time.monotonic()) + grace
        key, path = new_key(), device.next_path()
        run.attempted.add(key)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                status = await device.rate(key, path)
            except Exception as exc:  # noqa: BLE001 - refused, reset, timed out: all mean "send again"
                status = type(exc).__name__
            if status == 303:
                run.acknowledged.add(key)
                break
            run.retries[str(status)] += 1
            if isinstance(status, int) and 400 <= status < 500 and status not in (408, 429):
                run.refused[key] = status  # the server said no for good: a client bug, reported
                break
            if time.monotonic() > retry_until or attempt == MAX_ATTEMPTS:
                run.gave_up.add(key)
                break
            await asyncio.sleep(0.05 + 0.15 * random.random())


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def restart_after_master_kill(server: Server, run: Run) -> None:
    master, workers = server.master_pid(), server.workers_pids()
    kill(master)
    run.note(f"kill -9 master {master} (workers {workers})")
    # Orphaned workers serve on while connections keep arriving (gunicorn checks its parent only
    # when idle) and hold the listening socket; a supervisor stops them before starting again.
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.05)
    lingering = [pid for pid in workers if alive(pid)]
    for pid in lingering:
        kill(pid)
    if server.process is not None:
        server.process.wait(timeout=10)
    for pid in lingering:
        while alive(pid):
            time.sleep(0.01)
    down = time.monotonic()
    server.start()
    run.note(f"server started again: pids {server.tree()}, {time.monotonic() - down:.1f} s after the old one was gone"
             + (f" (killed its lingering workers {lingering})" if lingering else ""))


def kill_a_worker(server: Server, run: Run) -> None:
    workers = server.workers_pids()
    if workers:
        kill(workers[0])
        run.note(f"kill -9 worker {workers[0]}")
    else:
        run.note("no worker to kill (server restarting)")


def cut(database, run: Run) -> None:
    if database.kind == "postgresql":
        run.note(f"cut {cut_connections(database)} database connections (pg_terminate_backend)")
    else:
        run.note("SQLite: no database connections to cut")


async def faults(server: Server, database, run: Run, seconds: float) -> None:
    """The faults in order, each at its share of the load time but never before the server is back
    from the previous one, so each hits a loaded, running server."""
    schedule = [(0.2, kill_a_worker, server), (0.4, restart_after_master_kill, server), (0.6, cut, database),
                (0.7, kill_a_worker, server), (0.8, cut, database)]
    for fraction, action, target in schedule:
        await asyncio.sleep(max(1.0, run.started + fraction * seconds - time.monotonic()))
        await asyncio.to_thread(action, target, run)  # the clients keep going meanwhile
    await asyncio.sleep(1.0)
    run.faults_done = True


async def load(server: Server, fixture, database, connections: int, seconds: float, grace: float) -> Run:
    devices = await open_devices(server.base_url, fixture, connections)
    run = Run()
    try:
        await asyncio.gather(
            faults(server, database, run, seconds),
            *(citizen(device, run, run.started + seconds, grace) for device in devices),
        )
    finally:
        for device in devices:
            await device.close()
    return run


def run_one(kind: str, args) -> dict:
    with tempfile.TemporaryDirectory(prefix="survey-fault-") as folder, private_database(kind, Path(folder)) as database:
        instance = Path(folder) / "instance"
        fixture = prepare(database, instance, args.kiosks)
        redis_url = None if args.no_redis or redis_unreachable() else REDIS_URL
        server = Server(args.command, server_env(database, instance, redis_url=redis_url), args.workers, args.threads)
        try:
            server.start()
            log(f"[{kind}] serving on {server.base_url} (pids {server.tree()}); {args.seconds:g} s of load with faults")
            run = asyncio.run(load(server, fixture, database, args.connections, args.seconds, args.grace))
        finally:
            server.stop()
        keys = stored_keys(database)
        stored = set(keys)
        return {
            "database": kind,
            "workers": args.workers,
            "connections": args.connections,
            "seconds": args.seconds,
            "faults": run.faults,
            "attempted": len(run.attempted),
            "acknowledged": len(run.acknowledged),
            "stored": len(keys),
            "lost": len(run.acknowledged - stored),
            "duplicated": len(keys) - len(stored),
            "stored_unknown": len(stored - run.attempted),
            "stored_unacknowledged": len((stored & run.attempted) - run.acknowledged),
            "gave_up": len(run.gave_up),
            "refused": dict(Counter(run.refused.values())),
            "retries": dict(run.retries),
        }


def print_result(r: dict) -> None:
    print(f"\n{r['database']}: {r['workers']} workers, {r['connections']} connections, {r['seconds']:g} s of load")
    for fault in r["faults"]:
        print(f"  {fault}")
    print(f"  ratings attempted {r['attempted']}, acknowledged {r['acknowledged']}, stored {r['stored']}"
          f" (stored though the client gave up at the deadline: {r['stored_unacknowledged']})")
    print(f"  retries after a failure: {sum(r['retries'].values())} {r['retries']}")
    if r["refused"] or r["gave_up"] or r["stored_unknown"]:
        print(f"  refused {r['refused']}, gave up {r['gave_up']}, stored with an unknown key {r['stored_unknown']}")
    verdict = "ok" if r["lost"] == 0 and r["duplicated"] == 0 else "FAILED"
    print(f"  lost {r['lost']}, duplicated {r['duplicated']}: {verdict}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of load (faults at 20/40/60/70/80 %%)")
    parser.add_argument("--grace", type=float, default=30.0, help="at most this long for the last retries")
    parser.add_argument("--database", default="sqlite,postgresql", help="sqlite, postgresql or both (comma)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--kiosks", type=int, default=200)
    parser.add_argument("--command", default=DEFAULT_COMMAND, help="server command; {python} {port} {workers} {threads}")
    parser.add_argument("--no-redis", action="store_true", help="per-process rate-limit counting even if Redis answers")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    return run_databases(args, run_one, print_result)


if __name__ == "__main__":
    sys.exit(main())
