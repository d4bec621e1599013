"""How fast `survey seed-demo` fills a database, and whether its memory stays flat.

Measured side by side in one run, each `survey seed-demo` in its own process on a fresh database:

  (a)  seed N ratings: wall time and peak resident memory (RSS) of the process
  (a') seed N/10 ratings: peak RSS, to show memory does not grow with N
  (b)  floor: the database copying the same ratings and answers into fresh, indexed tables with
       INSERT ... SELECT (no Python at all): what writing those rows costs the database itself

and prints (a)/(b), the seconds per million ratings and RSS(a)/RSS(a').

    .venv/bin/python benchmarks/seed_demo.py                      # 1,000,000 ratings on SQLite
    .venv/bin/python benchmarks/seed_demo.py --ratings 10000000
    .venv/bin/python benchmarks/seed_demo.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
SURVEY = [sys.executable, "-c", "from survey.cli import main; main()"]
SECRET = "benchmark-secret-benchmark-secret-benchmark"


def survey(args: list[str], env: dict) -> tuple[float, float]:
    """Run `survey ARGS`; return (wall seconds, peak RSS in MiB) of that process."""
    started = time.perf_counter()
    process = subprocess.Popen([*SURVEY, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    out, err = process.communicate()
    if status != 0:
        sys.exit(f"survey {' '.join(args)} failed:\n{out.decode()}\n{err.decode()}")
    return elapsed, usage.ru_maxrss / 1024


class SQLiteTarget:
    name = "SQLite"

    def __init__(self, work: Path):
        self.work = work

    def env(self, label: str) -> dict:
        instance = self.work / label
        return {**os.environ, "SURVEY_INSTANCE_PATH": str(instance), "PYTHONPATH": str(ROOT)}

    def url(self, label: str) -> str:
        return f"sqlite:///{self.work / label / 'survey.sqlite'}"

    def floor(self, source: str, target: str) -> float:
        engine = create_engine(self.url(target))
        with engine.begin() as conn:
            conn.execute(text("PRAGMA cache_size = -65536"))
            conn.execute(text(f"ATTACH DATABASE '{self.work / source / 'survey.sqlite'}' AS source"))
            started = time.perf_counter()
            conn.execute(text("INSERT INTO ratings SELECT * FROM source.ratings"))
            conn.execute(text("INSERT INTO answers SELECT * FROM source.answers"))
            elapsed = time.perf_counter() - started
        engine.dispose()
        return elapsed

    def cleanup(self):
        pass


class PostgresTarget:
    name = "PostgreSQL"

    def __init__(self, work: Path, url: str):
        self.work, self.base = work, url
        self.engine = create_engine(url)
        self.schemas: dict[str, str] = {}

    def schema(self, label: str) -> str:
        if label not in self.schemas:
            self.schemas[label] = f"bench_seed_{uuid.uuid4().hex[:10]}"
            with self.engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{self.schemas[label]}"'))
        return self.schemas[label]

    def url(self, label: str) -> str:
        separator = "&" if "?" in self.base else "?"
        return f"{self.base}{separator}options=-csearch_path%3D{self.schema(label)}"

    def env(self, label: str) -> dict:
        return {**os.environ, "SURVEY_INSTANCE_PATH": str(self.work / label), "PYTHONPATH": str(ROOT),
                "SURVEY_DATABASE_URL": self.url(label), "SURVEY_SECRET_KEY": SECRET}

    def floor(self, source: str, target: str) -> float:
        from survey.extensions import db
        import survey.models  # noqa: F401 - registers the tables

        src, dst = self.schemas[source], self.schemas[target]
        with self.engine.begin() as conn:
            # The rows the ratings point to (units, kiosks, ...) first, untimed: PostgreSQL checks foreign keys.
            for table in db.metadata.sorted_tables:
                if table.name not in ("ratings", "answers"):
                    conn.execute(text(f'INSERT INTO "{dst}".{table.name} SELECT * FROM "{src}".{table.name} '
                                      "ON CONFLICT DO NOTHING"))
            started = time.perf_counter()
            conn.execute(text(f'INSERT INTO "{dst}".ratings SELECT * FROM "{src}".ratings'))
            conn.execute(text(f'INSERT INTO "{dst}".answers SELECT * FROM "{src}".answers'))
            elapsed = time.perf_counter() - started
        return elapsed

    def cleanup(self):
        with self.engine.begin() as conn:
            for schema in self.schemas.values():
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        self.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--postgres", metavar="URL", help="measure on PostgreSQL (private schemas, dropped after)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seed-bench-") as work:
        target = PostgresTarget(Path(work), args.postgres) if args.postgres else SQLiteTarget(Path(work))
        try:
            small = max(args.ratings // 10, 1)
            time_small, rss_small = survey(["seed-demo", "--ratings", str(small)], target.env("small"))
            time_n, rss_n = survey(["seed-demo", "--ratings", str(args.ratings)], target.env("full"))
            survey(["init-db"], target.env("floor"))
            floor = target.floor("full", "floor")
        finally:
            target.cleanup()
    print(f"survey seed-demo on {target.name}, {args.ratings:,} ratings (and {small:,} for memory)")
    print(f"(a)  seed {args.ratings:>12,} ratings: {time_n:8.1f} s   peak RSS {rss_n:7.0f} MiB")
    print(f"(a') seed {small:>12,} ratings: {time_small:8.1f} s   peak RSS {rss_small:7.0f} MiB")
    print(f"(b)  floor: INSERT ... SELECT of the same rows: {floor:8.1f} s")
    print(f"ratio (a)/(b): {time_n / floor:.2f}    seconds per million ratings: {time_n / args.ratings * 1e6:.1f}"
          f"    RSS (a)/(a'): {rss_n / rss_small:.2f}")


if __name__ == "__main__":
    main()
