"""Dossier codes and the other fields of a registered transaction, checked without the database.

Two dossier-code formats are accepted:

* Circular 01/2018/TT-VPCP Art. 19: ``V1V2V3.Z1Z2.Y1Y2.MX1X2-YYMMDD-XXXX`` — the receiving agency's
  identifier code (e.g. ``000.00.16.H26``), the receiving date, the day's sequence number;
* nationally centralised services from 25 January 2026: ``MX1X2.Y1Y2Y3.Z1Z2-YYMMDD-AAXXXX``.

In both the ``YYMMDD`` part must be a real date.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
UTC = ZoneInfo("UTC")

#: Circular 01/2018 Art. 19: agency identifier (3 alphanumerics . 2 digits . 2 digits . letter + 2 digits).
CIRCULAR_2018 = re.compile(r"^[A-Z0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}-(?P<date>[0-9]{6})-[0-9]{4}$")
#: National format from 25 January 2026: letter + 2 digits . 3 . 2, date, 2 letters/digits + 4 digits.
NATIONAL_2026 = re.compile(r"^[A-Z][0-9]{2}\.[A-Z0-9]{3}\.[A-Z0-9]{2}-(?P<date>[0-9]{6})-[A-Z0-9]{2}[0-9]{4}$")
#: National procedure catalogue codes look like ``1.005169``; local catalogues use other stable codes.
PROCEDURE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: Unit and officer codes: printable, no spaces.
PLAIN_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")


def dossier_code_format(code: str) -> str | None:
    """``"circular-01-2018"``, ``"national-2026"``, or None when ``code`` is neither (or its date is not real)."""
    for name, pattern in (("circular-01-2018", CIRCULAR_2018), ("national-2026", NATIONAL_2026)):
        match = pattern.fullmatch(code)
        if match:
            return name if _real_date(match["date"]) else None
    return None


def _real_date(yymmdd: str) -> bool:
    try:
        date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
    except ValueError:
        return False
    return True


def parse_time(value) -> datetime | None:
    """An ISO 8601 time as naive UTC; a time without an offset is Vietnam time. None if not a time."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TZ)
    if not 2000 <= moment.year <= 2100:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None)
