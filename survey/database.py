"""Database connections that hold up under a threaded server.

SQLite (the default) gets, on every new connection, write-ahead logging (readers no longer block
the writer nor the writer the readers) and a busy timeout of ``SQLITE_BUSY_TIMEOUT_MS``: a writer
waits for the lock instead of failing with "database is locked". PostgreSQL needs nothing here.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from survey.extensions import db


def configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """Set WAL mode and the busy timeout on every connection ``engine`` opens (a ``connect`` event)."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            # WAL is stored in the file, so this is a no-op after the first connection (":memory:" stays "memory").
            cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()


def init_app(app: Flask) -> None:
    timeout = int(app.config["SQLITE_BUSY_TIMEOUT_MS"])
    with app.app_context():
        for engine in db.engines.values():
            configure_sqlite(engine, timeout)
