"""Registering and revoking kiosks. Every caller (the ``register-kiosk`` command, the dashboard) goes
through here, and each change writes its audit entry. Functions flush; the caller commits.

The kiosk's health (:func:`record_kiosk_contact`) is reported by the tablet itself, not changed by a
person, so it writes no audit entry (a heartbeat a minute would drown the log)."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import update

from survey.audit.log import record
from survey.extensions import db
from survey.models import Kiosk, Unit, UnitLevel, User
from survey.models._common import utcnow

#: Longest kiosk label.
LABEL_LENGTH = 100


class KioskError(ValueError):
    """A kiosk that cannot be registered as asked; ``message`` is for people."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def register_kiosk(office: Unit, counter: Unit | None, label: str, *, actor: User | None) -> tuple[Kiosk, str]:
    """A new kiosk for ``office`` (at ``counter``, which must belong to it) and its secret token,
    returned once: only its hash is stored."""
    label = " ".join((label or "").split())
    if office.level != UnitLevel.OFFICE:
        raise KioskError(_l("A kiosk belongs to a one-stop office."))
    if counter is not None and (counter.level != UnitLevel.COUNTER or counter.parent_id != office.id):
        raise KioskError(_l("That counter is not in this office."))
    if not label or len(label) > LABEL_LENGTH:
        raise KioskError(_l("Please give the kiosk a name of at most %(n)d characters.", n=LABEL_LENGTH))
    kiosk = Kiosk(office=office, counter=counter, label=label, token_hash="")
    token = kiosk.issue_token()
    db.session.add(kiosk)
    db.session.flush()
    record(actor, "kiosk_registered", kiosk, unit=office,
           data={"label": label, "counter": counter.code if counter else None})
    return kiosk, token


def revoke_kiosk(kiosk: Kiosk, *, actor: User | None) -> bool:
    """Stop the kiosk's address working from now on; False when it was already revoked."""
    if kiosk.revoked_at is not None:
        return False
    kiosk.revoked_at = utcnow()
    db.session.flush()
    record(actor, "kiosk_revoked", kiosk, unit=kiosk.office, data={"label": kiosk.label})
    return True


def record_kiosk_contact(kiosk_id: int, *, queued_taps: int | None = None, skew: timedelta | None = None,
                         now: datetime | None = None) -> None:
    """The kiosk reached the server: its time, the taps still queued on it (None: not reported) and
    its clock's skew (server time minus tablet time), kept for the managers' kiosk pages."""
    values: dict = {"last_contact_at": now or utcnow()}
    if queued_taps is not None:
        values["queued_taps"] = max(0, queued_taps)
    if skew is not None:
        values["clock_skew_seconds"] = round(skew.total_seconds())
    db.session.execute(update(Kiosk).where(Kiosk.id == kiosk_id).values(**values))


#: Allowed per-kiosk timings in seconds, inclusive. The warning before an idle kiosk resets gives at
#: least 20 s to answer "still there?" (WCAG 2.2.1 Timing Adjustable).
TIMING_BOUNDS = {"confirm": (3, 60), "idle": (30, 600), "warning": (20, 120), "thanks": (3, 60)}


def set_kiosk_timings(kiosk: Kiosk, timings: dict[str, int | None], *, actor: User | None) -> bool:
    """Set the kiosk's own timings (None: back to the config default); False when nothing changed.
    Raises :class:`KioskError` for a value outside :data:`TIMING_BOUNDS`."""
    for name, value in timings.items():
        low, high = TIMING_BOUNDS[name]
        if value is not None and not low <= value <= high:
            raise KioskError(_l("Please give a value from %(low)d to %(high)d seconds.", low=low, high=high))
    before = {name: getattr(kiosk, f"{name}_seconds") for name in timings}
    if before == timings:
        return False
    for name, value in timings.items():
        setattr(kiosk, f"{name}_seconds", value)
    db.session.flush()
    record(actor, "kiosk_timings_changed", kiosk, unit=kiosk.office, data={"before": before, "after": timings})
    return True
