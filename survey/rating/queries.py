"""Reads for the rating pages: where a rating is given, and which questionnaire it shows there.

Each place is found in ONE statement: the kiosk (by its token's hash) or the counter or office (by
its QR code), joined to its office and counter, with the current questionnaire version resolved up
the unit tree in the same statement (:func:`survey.questionnaires.questionnaire_columns`). The
result is plain frozen values, valid after the transaction ends and never lazily loaded. The
statements are plain Core, built once and run on the session's connection (no ORM layer to cross).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from sqlalchemy import Select, bindparam, func, select

from survey.extensions import db
from survey.models import Kiosk, Procedure, Unit, UnitLevel
from survey.models._common import Bilingual
from survey.questionnaires import questionnaire_columns


#: The kiosk page's timings, each a ``<name>_seconds`` column on kiosks and a ``KIOSK_<NAME>_SECONDS`` default.
KIOSK_TIMINGS = ("confirm", "idle", "warning", "thanks")


@dataclass(frozen=True)
class PlaceUnit(Bilingual):
    """An office or counter as the rating pages need it."""

    id: int
    code: str
    name_vi: str
    name_en: str | None

    def name(self, locale: str | None = None) -> str:
        return self.localized("name", locale)


@dataclass(frozen=True)
class KioskRecord:
    id: int
    #: Keys the kiosk's own CSRF token (see ``forms.citizen.KioskCSRF``).
    token_hash: str
    revoked_at: datetime | None
    #: ``{"confirm": s, "idle": s, "warning": s, "thanks": s}``; None values mean the config default.
    timings: dict[str, int | None] = field(default_factory=dict)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def seconds(self, name: str, config) -> int:
        """The kiosk's own ``name`` timing, or ``KIOSK_<NAME>_SECONDS`` from the config."""
        own = self.timings.get(name)
        return own if own is not None else config[f"KIOSK_{name.upper()}_SECONDS"]


@dataclass(frozen=True)
class PlaceRecord:
    office: PlaceUnit
    counter: PlaceUnit | None
    kiosk: KioskRecord | None
    questionnaire_code: str
    #: The current version for this place; None when no active version of the code exists.
    questionnaire_id: int | None


def _unit_columns(table, prefix: str) -> list:
    return [table.c.id.label(f"{prefix}_id"), table.c.code.label(f"{prefix}_code"),
            table.c.name_vi.label(f"{prefix}_name_vi"), table.c.name_en.label(f"{prefix}_name_en")]


def _unit(row, prefix: str) -> PlaceUnit | None:
    unit_id = row._mapping[f"{prefix}_id"]
    if unit_id is None:
        return None
    m = row._mapping
    return PlaceUnit(unit_id, m[f"{prefix}_code"], m[f"{prefix}_name_vi"], m[f"{prefix}_name_en"])


@cache
def _kiosk_place_statement() -> Select:
    kiosks, units = Kiosk.__table__, Unit.__table__
    office, counter = units.alias("office"), units.alias("counter")
    shown_at = (
        select(func.coalesce(kiosks.c.counter_id, kiosks.c.office_id))
        .where(kiosks.c.token_hash == bindparam("token_hash")).scalar_subquery()
    )
    code, questionnaire_id = questionnaire_columns(units.c.id == shown_at)
    return (
        select(kiosks.c.id.label("kiosk_id"), kiosks.c.token_hash, kiosks.c.revoked_at,
               *(kiosks.c[f"{name}_seconds"] for name in KIOSK_TIMINGS),
               *_unit_columns(office, "office"), *_unit_columns(counter, "counter"),
               code.label("questionnaire_code"), questionnaire_id.label("questionnaire_id"))
        .select_from(kiosks.join(office, office.c.id == kiosks.c.office_id)
                     .outerjoin(counter, counter.c.id == kiosks.c.counter_id))
        .where(kiosks.c.token_hash == bindparam("token_hash"))
    )


@cache
def _code_place_statement() -> Select:
    units = Unit.__table__
    unit, parent = units.alias("unit"), units.alias("parent")
    code, questionnaire_id = questionnaire_columns(units.c.code == bindparam("code"))
    return (
        select(unit.c.level, unit.c.valid_to, *_unit_columns(unit, "unit"), *_unit_columns(parent, "parent"),
               code.label("questionnaire_code"), questionnaire_id.label("questionnaire_id"))
        .select_from(unit.outerjoin(parent, parent.c.id == unit.c.parent_id))
        .where(unit.c.code == bindparam("code"))
    )


def find_kiosk_place(token_hash: str) -> PlaceRecord | None:
    """The kiosk with this token hash (revoked or not), its office and counter, in one statement."""
    row = db.session.connection().execute(_kiosk_place_statement(), {"token_hash": token_hash}).one_or_none()
    if row is None:
        return None
    kiosk = KioskRecord(row.kiosk_id, row.token_hash, row.revoked_at,
                        {name: row._mapping[f"{name}_seconds"] for name in KIOSK_TIMINGS})
    return PlaceRecord(_unit(row, "office"), _unit(row, "counter"), kiosk, row.questionnaire_code,
                       row.questionnaire_id)


def find_open_counter_or_office(code: str) -> PlaceRecord | None:
    """The open counter (with its office) or office behind a QR code, in one statement; None if the
    code names no such unit or one that has closed."""
    row = db.session.connection().execute(_code_place_statement(), {"code": code}).one_or_none()
    if row is None or row.valid_to is not None or row.level not in (UnitLevel.OFFICE, UnitLevel.COUNTER):
        return None
    unit = _unit(row, "unit")
    if row.level == UnitLevel.COUNTER:
        return PlaceRecord(_unit(row, "parent"), unit, None, row.questionnaire_code, row.questionnaire_id)
    return PlaceRecord(unit, None, None, row.questionnaire_code, row.questionnaire_id)


def office_procedures(office_id: int) -> list[Procedure]:
    """The procedures an office offers, for the optional "which procedure?" question."""
    return list(db.session.scalars(
        select(Procedure).where(Procedure.offices.any(Unit.id == office_id)).order_by(Procedure.code)
    ))


def office_complaint_contact(office_id: int) -> str | None:
    """How this office takes complaints (its own setting), shown after a negative rating."""
    return db.session.scalar(select(Unit.complaint_contact).where(Unit.id == office_id))
