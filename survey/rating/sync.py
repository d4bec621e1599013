"""Taps a kiosk queued while it was offline, sent as one batch when the server answers again.

Each tap carries the idempotency key the tablet minted and the tablet's tap time, so a batch sent
twice (a lost answer, a retry) stores every tap once. The tablet's clock may be wrong: the batch also
carries the tablet's time of sending, and the difference to the server's clock corrects every tap
time (never later than now). The kiosk's burst rule is judged on these tap times, within the batch
and against the kiosk's ratings already stored around them: a tap too close to another, or older than
``KIOSK_QUEUE_MAX_DAYS``, is stored but flagged ``burst`` for review, never refused or lost. A tap
whose time is impossible by the tablet's own clock (tapped after the batch was sent: the clock was
changed in between) is stored at the corrected time (never later than now) but flagged ``clock``.
The measured skew is kept on the kiosk (:func:`survey.kiosks.operations.record_kiosk_contact`) for
managers to see.
Functions write; the caller commits.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from survey.extensions import db
from survey.kiosks.operations import record_kiosk_contact
from survey.models import Rating
from survey.models._common import utcnow
from survey.rating.operations import RatingSubmission, SubmissionError, check_idempotency_key, submit_rating

#: Most taps accepted in one batch (a day of a busy counter fits; the tablet sends the rest next).
MAX_BATCH = 500
TAP = re.compile(r"^(?P<key>[A-Za-z0-9_-]{16,64})\.(?P<value>\d{1,2})\.(?P<tapped_at>\d{1,15})$")


@dataclass(frozen=True)
class QueuedTap:
    idempotency_key: str
    value: int
    #: The tablet's clock at the tap, in milliseconds since 1970 (UTC).
    tapped_at_ms: int


def parse_taps(raw: list[str]) -> list[QueuedTap]:
    """``key.value.tapped_at_ms`` strings as the kiosk page sends them."""
    if not raw or len(raw) > MAX_BATCH:
        raise SubmissionError("bad_batch", _bad_batch())
    taps = []
    for text in raw:
        match = TAP.match(text)
        if match is None:
            raise SubmissionError("bad_batch", _bad_batch())
        check_idempotency_key(match["key"])
        taps.append(QueuedTap(match["key"], int(match["value"]), int(match["tapped_at"])))
    return taps


def _bad_batch():
    from flask_babel import lazy_gettext as _l

    return _l("This page is out of date. Please start again.")


def from_ms(ms: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(milliseconds=ms)


def _kiosk_rating_times(kiosk_id: int, start: datetime, end: datetime, except_keys: set[str]) -> list[datetime]:
    """Sorted times of the kiosk's stored ratings between ``start`` and ``end`` (a resent tap excluded)."""
    return list(db.session.scalars(
        select(Rating.created_at).where(Rating.kiosk_id == kiosk_id, Rating.created_at.between(start, end),
                                        Rating.idempotency_key.not_in(except_keys))
        .order_by(Rating.created_at)
    ))


def store_queued_taps(taps: list[QueuedTap], *, kiosk_id: int, sent_at_ms: int, make_submission,
                      now: datetime | None = None) -> list[str]:
    """Store every tap once, at its corrected tap time; returns the keys now stored (new or not).

    ``make_submission(tap) -> RatingSubmission`` builds the submission of one tap (its place,
    questionnaire and answers); the burst flag is added here."""
    now = now or utcnow()
    skew = now - from_ms(sent_at_ms)  # how far the tablet's clock is behind the server's
    record_kiosk_contact(kiosk_id, skew=skew, now=now)
    interval = timedelta(seconds=current_app.config["KIOSK_MIN_INTERVAL_SECONDS"])
    timed = sorted(((min(from_ms(tap.tapped_at_ms) + skew, now), tap) for tap in taps), key=lambda pair: pair[0])
    # The kiosk's ratings already stored around these times count too: a batch cannot slip taps
    # between them (nor repeat one with a new key) without being flagged.
    known = _kiosk_rating_times(kiosk_id, timed[0][0] - interval, timed[-1][0] + interval, {t.idempotency_key for t in taps})
    oldest = now - timedelta(days=current_app.config["KIOSK_QUEUE_MAX_DAYS"])
    stored, previous = [], None
    for tapped_at, tap in timed:
        position = bisect.bisect_left(known, tapped_at)
        near_known = any(abs(known[i] - tapped_at) < interval for i in (position - 1, position) if 0 <= i < len(known))
        burst = (previous is not None and tapped_at - previous < interval) or near_known or tapped_at < oldest
        previous = tapped_at
        sub: RatingSubmission = make_submission(tap)
        # Tapped after the batch was sent (by the tablet's own clock): its clock jumped in between.
        if tap.tapped_at_ms > sent_at_ms + 1000:
            sub = RatingSubmission(**{**sub.__dict__, "flag": "clock",
                                      "flag_note": "tap time implausible after the clock correction"})
        elif burst:
            sub = RatingSubmission(**{**sub.__dict__, "flag": "burst",
                                      "flag_note": "offline taps closer than KIOSK_MIN_INTERVAL_SECONDS"})
        rating, _ = submit_rating(sub, now=tapped_at, check_kiosk_burst=False)
        stored.append(rating.idempotency_key)
    return stored
