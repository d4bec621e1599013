"""Flag a rating as suspected misuse, or clear the flag, keeping the count tables right.

A flagged rating is never deleted: it leaves the published numbers, and the methodology page
says how many were excluded. When the rating is already in the count tables, the same
transaction takes it out (or puts it back): see :func:`survey.results.counts.adjust_for_flag`.
Functions flush; the caller commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from survey.extensions import db
from survey.models import Rating
from survey.models._common import utcnow
from survey.results.counts import adjust_for_flag

#: Reasons a rating may be flagged for (stable codes, shown translated in the manager pages).
FLAG_REASONS = ("manual", "burst", "duplicate", "test")


def flag_rating(rating: Rating, reason: str, note: str | None = None, *, now: datetime | None = None) -> bool:
    """Flag ``rating``; returns False when it was flagged already (the first reason is kept)."""
    if reason not in FLAG_REASONS:
        raise ValueError(f"unknown flag reason {reason!r}; use one of {FLAG_REASONS}")
    db.session.flush()
    # The UPDATE takes the row's lock before the counts are read, so a refresher counting this
    # rating at the same moment is waited for (PostgreSQL) or excluded (SQLite's single writer).
    changed = db.session.execute(
        update(Rating).where(Rating.id == rating.id, Rating.flag.is_(None))
        .values(flag=reason, flag_note=note, flagged_at=now or utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed:
        adjust_for_flag(rating.id, -1)
    db.session.flush()
    db.session.expire(rating)
    return bool(changed)


def clear_flag(rating: Rating) -> bool:
    """Clear a flag (a misuse suspicion that did not hold); returns False when there was none."""
    changed = db.session.execute(
        update(Rating).where(Rating.id == rating.id, Rating.flag.is_not(None))
        .values(flag=None, flag_note=None, flagged_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed:
        adjust_for_flag(rating.id, +1)
    db.session.flush()
    db.session.expire(rating)
    return bool(changed)
