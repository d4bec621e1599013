"""The load and fault benchmarks, run for a few seconds as real processes (gunicorn on 127.0.0.1): every
acknowledged rating is stored exactly once. Speed is never asserted here (that is what the
benchmarks print); only what must hold at any speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def run_benchmark(script: str, database: str, *args: str) -> dict:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--database", database, "--json", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    assert len(results) == 1, completed.stdout
    result = results[0]
    if "skipped" in result:
        pytest.skip(result["skipped"])
    return result


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_submit_load_stores_every_acknowledged_rating_once(database):
    result = run_benchmark("submit_load.py", database, "--seconds", "3", "--connections", "8", "--kiosks", "20")
    assert result["acknowledged"] > 0
    assert result["kiosk"]["requests"] > 0 and result["phone"]["requests"] > 0 and result["noop"]["requests"] > 0
    assert result["lost"] == 0
    assert result["duplicated"] == 0
    assert result["acknowledged"] == result["stored"]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_fault_kill_loses_and_duplicates_nothing(database):
    result = run_benchmark("fault_kill.py", database, "--seconds", "3", "--connections", "8", "--kiosks", "20")
    faults = "\n".join(result["faults"])
    assert faults.count("kill -9 worker") == 2 and "kill -9 master" in faults and "started again" in faults
    if database == "postgresql":
        assert "database connections (pg_terminate_backend)" in faults
    assert result["acknowledged"] > 0
    assert result["lost"] == 0
    assert result["duplicated"] == 0
    assert result["stored_unknown"] == 0
    assert result["refused"] == {}


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_ingest_stores_every_acknowledged_dossier_and_rating_once(database):
    result = run_benchmark("ingest.py", database, "--seconds", "2", "--connections", "4", "--batch", "20")
    assert result["transactions"]["requests"] > 0 and result["ratings"]["requests"] > 0
    assert result["noop"]["requests"] > 0
    assert result["transactions"]["dossiers_per_second"] == pytest.approx(result["transactions"]["per_second"] * 20)
    assert result["lost"] == 0 and result["duplicated"] == 0
    assert result["acknowledged"] == result["stored"]


def test_rating_cpu_stores_each_rating_it_times():
    """The in-process CPU benchmark runs, and each timed POST stored a rating (else it stops)."""
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "rating_cpu.py"), "--requests", "20", "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["requests"] == 20 and result["stored"] == 20 + min(50, 20)
    assert 0 < result["commit_cpu_ms"] < result["rating_cpu_ms"] and 0 < result["ratio"] < 1
