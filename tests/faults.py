"""Faults made for real in tests: no mock stands in for the database."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from survey.extensions import db


@contextmanager
def database_away(app):
    """The SQLite file is gone for a while (a disk unmounted, a restore in progress): new connections
    fail, and the file comes back afterwards."""
    with app.app_context():
        path = Path(db.engine.url.database)
        db.engine.dispose()
    away = path.with_name(path.name + ".away")
    path.rename(away)
    try:
        yield
    finally:
        with app.app_context():
            db.engine.dispose()
        for leftover in path.parent.glob(path.name + "*"):  # the empty file SQLite opened meanwhile
            if leftover != away:
                leftover.unlink()
        away.rename(path)
