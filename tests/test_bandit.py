"""Bandit, the Python security linter, over the code that ships (``survey``, ``forms``, ``analysis``),
with the configuration in ``pyproject.toml`` ``[tool.bandit]``: no finding of medium or high severity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bandit_finds_nothing_of_medium_or_high_severity():
    result = subprocess.run(
        [sys.executable, "-m", "bandit", "-c", "pyproject.toml", "-r", "survey", "forms", "analysis",
         "--severity-level", "medium", "--format", "json", "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.stdout, result.stderr
    report = json.loads(result.stdout)
    assert not report["errors"], report["errors"]
    findings = [f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_severity']}: {r['issue_text']}"
                for r in report["results"]]
    assert not findings, "\n".join(findings)
    assert report["metrics"]["_totals"]["loc"] > 1000  # it really read the code
