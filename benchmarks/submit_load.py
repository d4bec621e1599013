"""How fast can the app take ratings, against the fastest request the same server can answer?

The app runs under gunicorn on 127.0.0.1 (2 workers by default) on a private database: a SQLite file
and, when it answers, a private PostgreSQL schema. An asyncio client (aiohttp) keeps ``--connections``
devices busy: half are kiosk tablets (each cycling through its own share of ``--kiosks`` registered
kiosks), half are phones at a counter's QR code (each with its own session, CSRF token from a GET as a
browser does). Every tap carries a fresh idempotency key and is exactly what the pages send: a kiosk
tap is the page script's JSON ``POST /api/v1/ratings`` with the kiosk's credential (``--kiosk-form``:
the form POST of a kiosk page without JavaScript), a phone tap the phone page's form POST. The POST is
what is timed (the page views are not). A 303 (form) or 201/200 (API) naming the key is an
acknowledgement.

Measured side by side in one run, in alternating slices of at most 5 s (so a change in the shared
machine's load hits both alike):

(a) ratings: kiosk and phone POSTs, each storing a rating;
(b) the floor: ``GET /healthz`` on the same server, which does no database work.

Printed: ratings/s, p50/p99 latency (per channel and together), the ratio (a)/(b) of requests per
second, the server's CPU per request (from /proc, less sensitive to the machine's other load), and
``acknowledged == stored``: every key the clients saw acknowledged is counted in the database
afterwards (must hold exactly). Targets on 2 cores: ratio >= 0.5, p99 < 100 ms, nothing lost.

For the load: the kiosk burst rule is set to 0 s (``KIOSK_MIN_INTERVAL_SECONDS``; the burst
``UPDATE`` still runs for every kiosk rating) and the phone limit per address to 1,000,000/hour,
because all the load comes from one address and a few hundred kiosks.

    .venv/bin/python benchmarks/submit_load.py                                # 30 s, SQLite and PostgreSQL
    .venv/bin/python benchmarks/submit_load.py --seconds 3 --database sqlite --json
    .venv/bin/python benchmarks/submit_load.py --command "{python} -m survey.cli serve --port {port} ..."
"""

from __future__ import annotations

import argparse
import asyncio
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import (  # noqa: E402
    run_databases,
    DEFAULT_COMMAND, Server, Tally, log, new_key, open_devices, prepare, private_database,
    redis_unreachable, REDIS_URL, server_env, stored_keys, summary,
)

TARGETS = {"ratio": 0.5, "p99_ms": 100.0}
SLICE_SECONDS = 5.0


async def drive(devices, tally: Tally, kind: str, seconds: float) -> None:
    """Every device sends requests of ``kind`` back to back until the time is up."""
    deadline = time.monotonic() + seconds

    async def loop(device):
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                if kind == "noop":
                    status = await device.noop()
                    ok = status == 200
                else:
                    key = new_key()
                    status = await device.rate(key, device.next_path())
                    ok = status == 303
                    if ok:
                        tally.acknowledged[key] = device.channel
            except Exception as exc:  # noqa: BLE001 - a failed request is counted, not fatal
                status, ok = type(exc).__name__, False
            elapsed = time.perf_counter() - started
            label = "noop" if kind == "noop" else device.channel
            tally.outcomes[f"{label} {status}"] += 1
            if ok:
                tally.record(label, elapsed)
            else:
                await asyncio.sleep(0.01)

    await asyncio.gather(*(loop(device) for device in devices))


async def measure(server: Server, fixture, connections: int, seconds: float, *, kiosk_form: bool = False) -> dict:
    devices = await open_devices(server.base_url, fixture, connections, kiosk_form=kiosk_form)
    tally = Tally()
    try:
        await drive(devices, tally, "ratings", 1.0)  # warm-up: caches, connections, first imports
        await drive(devices, tally, "noop", 0.5)
        tally.measuring = True
        slices = max(1, math.ceil(seconds / SLICE_SECONDS))
        each = seconds / slices
        spent = {"ratings": 0.0, "noop": 0.0}
        cpu = {"ratings": 0.0, "noop": 0.0}
        client_cpu = 0.0
        for i in range(slices):
            order = ("ratings", "noop") if i % 2 == 0 else ("noop", "ratings")
            for kind in order:
                cpu_before, wall_before = server.cpu_seconds(), time.monotonic()
                own_before = resource.getrusage(resource.RUSAGE_SELF)
                await drive(devices, tally, kind, each)
                own_after = resource.getrusage(resource.RUSAGE_SELF)
                spent[kind] += time.monotonic() - wall_before
                cpu[kind] += server.cpu_seconds() - cpu_before
                client_cpu += (own_after.ru_utime - own_before.ru_utime) + (own_after.ru_stime - own_before.ru_stime)
        tally.measuring = False
    finally:
        for device in devices:
            await device.close()
    latencies = tally.latencies
    ratings = latencies.get("kiosk", []) + latencies.get("phone", [])
    result = {
        "kiosk": summary(latencies.get("kiosk", []), spent["ratings"]),
        "phone": summary(latencies.get("phone", []), spent["ratings"]),
        "ratings": summary(ratings, spent["ratings"]),
        "noop": summary(latencies.get("noop", []), spent["noop"]),
        "server_cpu_ms_per_rating": 1000 * cpu["ratings"] / max(1, len(ratings)),
        "server_cpu_ms_per_noop": 1000 * cpu["noop"] / max(1, len(latencies.get("noop", []))),
        "client_cpu_share": client_cpu / (spent["ratings"] + spent["noop"]),
        "outcomes": dict(sorted(tally.outcomes.items())),
    }
    result["ratio"] = result["ratings"]["per_second"] / result["noop"]["per_second"]
    result["cpu_ratio"] = result["server_cpu_ms_per_noop"] / max(1e-9, result["server_cpu_ms_per_rating"])
    result["acknowledged_keys"] = tally.acknowledged
    return result


def run_one(kind: str, args) -> dict:
    with tempfile.TemporaryDirectory(prefix="survey-bench-") as folder, private_database(kind, Path(folder)) as database:
        instance = Path(folder) / "instance"
        fixture = prepare(database, instance, args.kiosks)
        redis_url = None if args.no_redis or redis_unreachable() else REDIS_URL
        server = Server(args.command, server_env(database, instance, redis_url=redis_url), args.workers, args.threads)
        try:
            server.start()
            log(f"[{kind}] serving on {server.base_url} (pids {server.tree()}); {args.seconds:g} s of load")
            result = asyncio.run(measure(server, fixture, args.connections, args.seconds, kiosk_form=args.kiosk_form))
        finally:
            server.stop()
        acknowledged = result.pop("acknowledged_keys")
        keys = stored_keys(database)
        stored = set(keys)
        result.update({
            "database": kind,
            "workers": args.workers,
            "threads": args.threads,
            "connections": args.connections,
            "kiosk_taps": "form" if args.kiosk_form else "api",
            "rate_limit_storage": "redis" if redis_url else "memory",
            "acknowledged": len(acknowledged),
            "stored": len(keys),
            "lost": sum(1 for key in acknowledged if key not in stored),
            "duplicated": len(keys) - len(stored),
            "stored_unacknowledged": len(stored - set(acknowledged)),
        })
        return result


def print_result(r: dict) -> None:
    def line(label, s):
        return f"  {label:<22}{s['per_second']:>9.1f}/s   p50 {s['p50_ms']:7.1f} ms   p99 {s['p99_ms']:7.1f} ms   n={s['requests']}"

    print(f"\n{r['database']}: {r['workers']} workers x {r['threads']} threads, {r['connections']} connections, "
          f"rate limits in {r['rate_limit_storage']}")
    print(line("(a) ratings", r["ratings"]))
    print(line("    kiosk", r["kiosk"]))
    print(line("    phone", r["phone"]))
    print(line("(b) floor GET /healthz", r["noop"]))
    ok_ratio = "ok" if r["ratio"] >= TARGETS["ratio"] else "BELOW TARGET"
    ok_p99 = "ok" if r["ratings"]["p99_ms"] < TARGETS["p99_ms"] else "ABOVE TARGET"
    print(f"  ratio (a)/(b)         {r['ratio']:.2f}   (target >= {TARGETS['ratio']}: {ok_ratio})")
    print(f"  p99 of ratings        {r['ratings']['p99_ms']:.1f} ms   (target < {TARGETS['p99_ms']:g} ms: {ok_p99})")
    print(f"  server CPU            {r['server_cpu_ms_per_rating']:.2f} ms/rating, {r['server_cpu_ms_per_noop']:.2f} ms/no-op"
          f" (ratio {r['cpu_ratio']:.2f}); the load client used {100 * r['client_cpu_share']:.0f} % of a core")
    verdict = "yes" if r["lost"] == 0 and r["duplicated"] == 0 else "NO"
    print(f"  acknowledged == stored: {verdict} (acknowledged {r['acknowledged']}, stored {r['stored']}, "
          f"lost {r['lost']}, duplicated {r['duplicated']}, stored after a client timeout {r['stored_unacknowledged']})")
    others = {k: v for k, v in r["outcomes"].items() if not k.endswith((" 200", " 303"))}
    if others:
        print(f"  other outcomes: {others}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds of each kind of load")
    parser.add_argument("--database", default="sqlite,postgresql", help="sqlite, postgresql or both (comma)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (>1: gthread)")
    parser.add_argument("--connections", type=int, default=16, help="devices sending at once")
    parser.add_argument("--kiosks", type=int, default=200, help="registered kiosks the kiosk clients share")
    parser.add_argument("--command", default=DEFAULT_COMMAND, help="server command; {python} {port} {workers} {threads}")
    parser.add_argument("--no-redis", action="store_true", help="per-process rate-limit counting even if Redis answers")
    parser.add_argument("--kiosk-form", action="store_true",
                        help="kiosks send the no-JavaScript form POST instead of the script's API tap")
    parser.add_argument("--json", action="store_true", help="print one JSON object per database instead of the table")
    args = parser.parse_args(argv)

    return run_databases(args, run_one, print_result)


if __name__ == "__main__":
    sys.exit(main())
