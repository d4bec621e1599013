"""How fast do one-stop systems get data in through the API, against the fastest request the same server answers?

The app runs under gunicorn on 127.0.0.1 (2 workers by default) on a private database: a SQLite file
and, when it answers, a private PostgreSQL schema (as ``submit_load.py``). An asyncio client (aiohttp)
keeps ``--connections`` callers busy with an API key for the office's province, measured side by side
in alternating slices of at most 5 s:

(a) transactions: ``POST /api/v1/transactions?qr=none`` with batches of ``--batch`` (100) new dossiers;
(b) ratings: ``POST /api/v1/ratings``, one rating each with a fresh idempotency key;
(c) the floor: ``GET /healthz`` on the same server, which does no database work.

Printed: transactions/s (dossiers, not requests) and ratings/s, p50/p99 of a request, each against the
floor's requests/s, and ``acknowledged == stored`` for both (every dossier of a 200 batch answer
and every 201 rating is counted in the database afterwards; must hold exactly).

    .venv/bin/python benchmarks/ingest.py                                # 15 s each, SQLite and PostgreSQL
    .venv/bin/python benchmarks/ingest.py --seconds 3 --database sqlite --json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import (  # noqa: E402
    DEFAULT_COMMAND, REDIS_URL, SECRET_KEY, Server, Tally, log, new_key, prepare, private_database, redis_unreachable,
    run_databases, server_env, summary,
)

SLICE_SECONDS = 5.0
_dossiers = itertools.count()


def dossier_code() -> str:
    """A new valid Circular 01/2018 code: V1V2V3 and the sequence number count up (10 million codes)."""
    i = next(_dossiers)
    return f"{i // 10000 % 1000:03d}.00.16.H26-260301-{i % 10000:04d}"


def add_api_key(database, instance: Path) -> str:
    import os

    os.environ["SURVEY_INSTANCE_PATH"] = str(instance)
    from survey import create_app
    from survey.api.keys import create_api_key
    from survey.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database.url, "SECRET_KEY": SECRET_KEY})
    with app.app_context():
        _, key = create_api_key("benchmark", ["BENCH"])
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return key


class Caller:
    def __init__(self, base_url: str, key: str, office_code: str, batch: int):
        import aiohttp

        self.session = aiohttp.ClientSession(
            base_url, connector=aiohttp.TCPConnector(limit=1), timeout=aiohttp.ClientTimeout(total=30, connect=5),
            headers={"Authorization": f"Bearer {key}"},
        )
        self.office_code, self.batch = office_code, batch

    async def transactions(self) -> tuple[int, list[str]]:
        items = [{"dossier_code": dossier_code(), "office_code": self.office_code, "procedure_code": "1.005169",
                  "received_at": "2026-03-01T08:00:00+07:00", "due_at": "2026-03-06T17:00:00+07:00"}
                 for _ in range(self.batch)]
        async with self.session.post("/api/v1/transactions?qr=none", json=items) as response:
            body = await response.json(content_type=None)
            stored = [row["dossier_code"] for row in body.get("stored", [])] if response.status == 200 else []
            return response.status, stored

    async def rating(self, key: str) -> int:
        body = {"idempotency_key": key, "office_code": self.office_code, "channel": "kiosk",
                "answers": {"overall": random.randint(1, 5)}}
        async with self.session.post("/api/v1/ratings", json=body) as response:
            await response.read()
            return response.status

    async def noop(self) -> int:
        async with self.session.get("/healthz") as response:
            await response.read()
            return response.status

    async def close(self) -> None:
        await self.session.close()


async def drive(callers, tally: Tally, dossiers: list[str], kind: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds

    async def loop(caller: Caller):
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                if kind == "transactions":
                    status, stored = await caller.transactions()
                    ok = status == 200 and len(stored) == caller.batch
                    dossiers.extend(stored)
                elif kind == "ratings":
                    key = new_key()
                    status = await caller.rating(key)
                    ok = status == 201
                    if ok:
                        tally.acknowledged[key] = "api"
                else:
                    status = await caller.noop()
                    ok = status == 200
            except Exception as exc:  # noqa: BLE001 - a failed request is counted, not fatal
                status, ok = type(exc).__name__, False
            tally.outcomes[f"{kind} {status}"] += 1
            if ok:
                tally.record(kind, time.perf_counter() - started)
            else:
                await asyncio.sleep(0.01)

    await asyncio.gather(*(loop(caller) for caller in callers))


async def measure(server: Server, key: str, office_code: str, args) -> dict:
    callers = [Caller(server.base_url, key, office_code, args.batch) for _ in range(args.connections)]
    tally, dossiers = Tally(), []
    kinds = ("transactions", "ratings", "noop")
    try:
        for kind in kinds:  # warm-up: caches, connections, first imports
            await drive(callers, tally, dossiers, kind, 0.5)
        tally.measuring = True
        slices = max(1, math.ceil(args.seconds / SLICE_SECONDS))
        spent = dict.fromkeys(kinds, 0.0)
        for i in range(slices):
            for kind in kinds[i % 3:] + kinds[:i % 3]:  # rotate the order so the machine's load hits all alike
                started = time.monotonic()
                await drive(callers, tally, dossiers, kind, args.seconds / slices)
                spent[kind] += time.monotonic() - started
        tally.measuring = False
    finally:
        for caller in callers:
            await caller.close()
    result = {kind: summary(tally.latencies.get(kind, []), spent[kind]) for kind in kinds}
    result["transactions"]["dossiers_per_second"] = result["transactions"]["per_second"] * args.batch
    noop = result["noop"]["per_second"]
    result["transactions_ratio"] = result["transactions"]["dossiers_per_second"] / noop
    result["ratings_ratio"] = result["ratings"]["per_second"] / noop
    result["outcomes"] = dict(sorted(tally.outcomes.items()))
    result["acknowledged_ratings"] = list(tally.acknowledged)
    result["acknowledged_dossiers"] = dossiers
    return result


def stored(database) -> tuple[list[str], list[str]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database.url)
    with engine.connect() as conn:
        ratings = [row[0] for row in conn.execute(text("select idempotency_key from ratings"))]
        dossiers = [row[0] for row in conn.execute(text("select dossier_code from transactions"))]
    engine.dispose()
    return ratings, dossiers


def run_one(kind: str, args) -> dict:
    with (tempfile.TemporaryDirectory(prefix="survey-bench-") as folder,
          private_database(kind, Path(folder)) as database):
        instance = Path(folder) / "instance"
        fixture = prepare(database, instance, 1)
        key = add_api_key(database, instance)
        redis_url = None if args.no_redis or redis_unreachable() else REDIS_URL
        server = Server(args.command, server_env(database, instance, redis_url=redis_url), args.workers, args.threads)
        try:
            server.start()
            log(f"[{kind}] serving on {server.base_url}; {args.seconds:g} s of each load")
            result = asyncio.run(measure(server, key, fixture.office_code, args))
        finally:
            server.stop()
        ratings_ack, dossiers_ack = result.pop("acknowledged_ratings"), result.pop("acknowledged_dossiers")
        ratings, dossiers = stored(database)
        rating_set, dossier_set = set(ratings), set(dossiers)
        lost = sum(k not in rating_set for k in ratings_ack) + sum(d not in dossier_set for d in dossiers_ack)
        result.update({
            "database": kind, "workers": args.workers, "threads": args.threads, "connections": args.connections,
            "batch": args.batch, "acknowledged": len(ratings_ack) + len(dossiers_ack),
            "stored": len(ratings) + len(dossiers), "lost": lost,
            "duplicated": (len(ratings) - len(set(ratings))) + (len(dossiers) - len(set(dossiers))),
        })
        return result


def print_result(r: dict) -> None:
    def line(label, s, unit="req"):
        return (f"  {label:<34}{s['per_second']:>8.1f} {unit}/s   p50 {s['p50_ms']:7.1f} ms   "
                f"p99 {s['p99_ms']:7.1f} ms   n={s['requests']}")

    print(f"\n{r['database']}: {r['workers']} workers x {r['threads']} threads, {r['connections']} connections")
    print(line(f"(a) transactions, batches of {r['batch']}", r["transactions"], "batch"))
    print(f"      = {r['transactions']['dossiers_per_second']:.0f} dossiers/s   "
          f"(ratio to the floor's requests/s: {r['transactions_ratio']:.2f})")
    print(line("(b) ratings, POST /api/v1/ratings", r["ratings"]))
    print(f"      ratio to the floor: {r['ratings_ratio']:.2f}")
    print(line("(c) floor GET /healthz", r["noop"]))
    verdict = "yes" if r["lost"] == 0 and r["duplicated"] == 0 else "NO"
    print(f"  acknowledged == stored: {verdict} (acknowledged {r['acknowledged']}, stored {r['stored']}, "
          f"lost {r['lost']}, duplicated {r['duplicated']})")
    others = {k: v for k, v in r["outcomes"].items() if not k.endswith((" 200", " 201"))}
    if others:
        print(f"  other outcomes: {others}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds of each kind of load")
    parser.add_argument("--database", default="sqlite,postgresql", help="sqlite, postgresql or both (comma)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--connections", type=int, default=8, help="callers sending at once")
    parser.add_argument("--batch", type=int, default=100, help="dossiers per transactions request")
    parser.add_argument("--command", default=DEFAULT_COMMAND,
                        help="server command; {python} {port} {workers} {threads}")
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON object per database")
    args = parser.parse_args(argv)
    return run_databases(args, run_one, print_result)


if __name__ == "__main__":
    sys.exit(main())
