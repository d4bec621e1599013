"""Where the ingest ratio's ceiling is: process CPU of one kiosk rating against the app's no-op, in one
process, without the network or a load generator (so the machine's other load barely moves it).

The app runs on a private SQLite file in WAL mode (the embedded default) through Flask's test client.
Measured side by side: ``--requests`` kiosk rating POSTs (each a new idempotency key, the burst rule off)
and as many ``GET /healthz``; and, within the ratings, the CPU of the database commit alone. Printed:
milliseconds of process CPU per request, the ratio no-op/rating (what ``submit_load.py`` calls the
ratio, before the network and gunicorn add their share to both), and the ratio's ceiling with one
commit per rating: (no-op) / (no-op + commit).

    .venv/bin/python benchmarks/rating_cpu.py                  # 500 requests of each
    .venv/bin/python benchmarks/rating_cpu.py --requests 2000 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from sqlalchemy import func, select

    from survey.cli import init_database
    from survey.extensions import db
    from survey.models import Rating
    from tests.conftest import hidden_fields, make_app, make_place, overall_field

    folder = tempfile.mkdtemp(prefix="rating-cpu-")
    app = make_app(f"sqlite:///{folder}/bench.sqlite", KIOSK_MIN_INTERVAL_SECONDS=0, TESTING=False)
    with app.app_context():
        init_database()
        place = make_place()
        engine = db.engine
    client = app.test_client()
    url = f"/kiosk/{place.kiosk_token}"
    fields = {**hidden_fields(client.get(url).get_data(as_text=True))}
    fields[overall_field(client.get(url).get_data(as_text=True))] = "4"

    # The DBAPI commit's own CPU: the dialect's do_commit, timed around the original.
    commit_cpu = [0.0]
    counting = [False]
    original_commit = engine.dialect.do_commit

    def timed_commit(dbapi_connection):
        started = time.process_time()
        try:
            return original_commit(dbapi_connection)
        finally:
            if counting[0]:
                commit_cpu[0] += time.process_time() - started

    engine.dialect.do_commit = timed_commit

    def rating() -> None:
        response = client.post(url, data={**fields, "idempotency_key": uuid.uuid4().hex})
        if response.status_code not in (302, 303):
            raise SystemExit(f"rating refused: {response.status_code}")

    def no_op() -> None:
        if client.get("/healthz").status_code != 200:
            raise SystemExit("/healthz failed")

    cpu = {}
    for name, request in (("rating", rating), ("no_op", no_op)):
        for _ in range(min(50, args.requests)):  # warm: caches, pools, compiled statements
            request()
        counting[0] = name == "rating"
        started = time.process_time()
        for _ in range(args.requests):
            request()
        cpu[name] = (time.process_time() - started) / args.requests * 1000
        counting[0] = False
    with app.app_context():
        stored = db.session.scalar(select(func.count()).select_from(Rating))
    result = {
        "requests": args.requests,
        "stored": stored,
        "rating_cpu_ms": round(cpu["rating"], 3),
        "no_op_cpu_ms": round(cpu["no_op"], 3),
        "ratio": round(cpu["no_op"] / cpu["rating"], 3),
        "commit_cpu_ms": round(commit_cpu[0] / args.requests * 1000, 3),
    }
    result["ratio_ceiling_one_commit_per_rating"] = round(
        result["no_op_cpu_ms"] / (result["no_op_cpu_ms"] + result["commit_cpu_ms"]), 3)
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
