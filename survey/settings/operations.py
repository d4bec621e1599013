"""Changing an administrator's setting: written with its audit entry. Flushes; the caller commits."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select, update

from survey.audit.log import record
from survey.extensions import db
from survey.manager.masking import mask_personal_data
from survey.models import Rating, Setting, User
from survey.models._common import utcnow
from survey.settings.queries import DEFAULTS, setting


def change_setting(name: str, value, actor: User, *, now: datetime | None = None) -> bool:
    """Set ``name`` to ``value``; returns False (and records nothing) when it had that value already."""
    if name not in DEFAULTS or type(value) is not type(DEFAULTS[name]):
        raise ValueError(f"unknown setting or wrong type: {name}={value!r}")
    before = setting(name)
    if before == value:
        return False
    row = db.session.scalar(select(Setting).where(Setting.name == name))
    if row is None:
        row = Setting(name=name)
        db.session.add(row)
    row.value, row.changed_at, row.changed_by_id = json.dumps(value), now or utcnow(), actor.id
    db.session.flush()
    masked = mask_stored_comments() if name == "keep_unmasked_comments" and not value else 0
    record(actor, "setting_changed", row, data={"setting": name, "before": before, "after": value,
                                                 **({"comments_masked": masked} if masked else {})})
    db.session.flush()
    return True


#: Comments read at a time when originals are masked in place.
MASK_BATCH_SIZE = 1000


def mask_stored_comments() -> int:
    """Mask the personal data of every stored comment in place (originals are no longer kept); returns
    how many comments changed."""
    changed, after = 0, 0
    while True:
        rows = db.session.execute(
            select(Rating.id, Rating.comment).where(Rating.comment.is_not(None), Rating.id > after)
            .order_by(Rating.id).limit(MASK_BATCH_SIZE)).all()
        if not rows:
            return changed
        for rating_id, comment in rows:
            masked = mask_personal_data(comment)
            if masked != comment:
                db.session.execute(update(Rating).where(Rating.id == rating_id).values(comment=masked)
                                   .execution_options(synchronize_session=False))
                changed += 1
        after = rows[-1][0]
