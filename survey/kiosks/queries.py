"""Reads for kiosks and posters outside a signed-in manager's scope (the command line)."""

from __future__ import annotations

from sqlalchemy import select

from survey.extensions import db
from survey.models import Unit


def find_unit(code: str) -> Unit | None:
    """The unit with this code, whatever its level or state (the caller says what it accepts)."""
    return db.session.scalar(select(Unit).where(Unit.code == code))
