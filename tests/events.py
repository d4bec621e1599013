"""The ``security_events`` fixture: the JSON lines the ``survey.security`` logger emits in a test."""

from __future__ import annotations

import json
import logging

import pytest


class SecurityEvents(logging.Handler):
    """Collects the ``survey.security`` records of one test (that logger does not propagate to the
    root logger, where pytest's caplog listens, so it gets its own collector)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def all(self) -> list[dict]:
        """Each emitted line parsed back from JSON (what an operator's log collector reads)."""
        return [json.loads(record.getMessage()) for record in self.records]

    def named(self, event: str) -> list[dict]:
        return [e for e in self.all if e["event"] == event]

    def clear(self) -> None:
        self.records.clear()


@pytest.fixture
def security_events():
    logger = logging.getLogger("survey.security")
    collector = SecurityEvents()
    logger.addHandler(collector)
    try:
        yield collector
    finally:
        logger.removeHandler(collector)
