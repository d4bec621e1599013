"""Flag a rating as suspected misuse, or clear the flag, keeping the count tables right.

A flagged rating is never deleted: it leaves the published numbers, and the methodology page
says how many were excluded. When the rating is already in the count tables, the same
transaction takes it out (or puts it back): see :func:`survey.results.counts.adjust_for_flag`.
Functions flush; the caller commits.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from survey.audit.log import record
from survey.extensions import db
from survey.models import FlagReview, Rating
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


# --------------------------------------------------------------------------- review by a person (audited)


class ReviewError(Exception):
    """A review the rating's state does not allow (shown to the person, HTTP 409)."""

    def __init__(self, code: str, message):
        super().__init__(code)
        self.code, self.message = code, message


def is_confirmed(rating: Rating) -> bool:
    """Whether the rating's current flag was confirmed by a reviewer (after it was set)."""
    if rating.flag is None:
        return False
    return db.session.scalar(
        select(FlagReview.id).where(FlagReview.rating_id == rating.id, FlagReview.decision == "confirmed",
                                    FlagReview.created_at >= rating.flagged_at).limit(1)
    ) is not None


def confirm_flag(rating: Rating, actor, *, now: datetime | None = None) -> None:
    """A reviewer confirms the flag: the rating stays out of the figures (nothing to recount)."""
    if rating.flag is None:
        raise ReviewError("not_flagged", _l("This rating is not flagged."))
    if is_confirmed(rating):
        raise ReviewError("confirmed", _l("This flag was already confirmed."))
    db.session.add(FlagReview(rating_id=rating.id, reviewer_id=actor.id, decision="confirmed", flag=rating.flag,
                              created_at=now or utcnow()))
    record(actor, "flag_confirmed", rating, unit=rating.office, data={"flag": rating.flag})
    db.session.flush()


def review_clear(rating: Rating, actor, *, now: datetime | None = None) -> None:
    """A reviewer clears the flag: the rating is counted again, in the same transaction."""
    reason, office = rating.flag, rating.office
    if reason is None:
        raise ReviewError("not_flagged", _l("This rating is not flagged."))
    clear_flag(rating)
    db.session.add(FlagReview(rating_id=rating.id, reviewer_id=actor.id, decision="cleared", flag=reason,
                              created_at=now or utcnow()))
    record(actor, "flag_cleared", rating, unit=office, data={"flag": reason})
    db.session.flush()
