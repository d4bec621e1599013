"""Administrative units: province → (commune →) one-stop office → counter, with their history."""

from __future__ import annotations

import enum
from datetime import date

from sqlalchemy import Date, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.extensions import db
from survey.models._common import Bilingual


class UnitLevel(enum.StrEnum):
    PROVINCE = "province"
    COMMUNE = "commune"
    OFFICE = "office"
    COUNTER = "counter"


class Unit(Bilingual, db.Model):
    """One node of the administrative tree.

    Units are never deleted or renamed in place: a merged unit gets ``valid_to`` and a
    ``successor``, so ratings keep pointing at the unit they were given to and trends can
    be re-aggregated under the successor.
    """

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stable code, never reused (e.g. ``HN``, ``HN-TTHCC``, ``HN-TTHCC-Q01``).
    code: Mapped[str] = mapped_column(String(64), unique=True)
    level: Mapped[UnitLevel] = mapped_column(
        Enum(UnitLevel, native_enum=False, length=16, name="unit_level",
             values_callable=lambda e: [m.value for m in e])
    )
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    #: First day the unit existed in this form.
    valid_from: Mapped[date] = mapped_column(Date, default=date(2025, 7, 1))
    #: Last day the unit existed; NULL while it still exists.
    valid_to: Mapped[date | None] = mapped_column(Date)
    #: The unit this one was merged into (for trends across a merger).
    successor_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    #: Questionnaire code shown here; NULL inherits from the parent, then the default.
    questionnaire_code: Mapped[str | None] = mapped_column(String(64))
    #: Where this office takes complaints and replies (hotline, e-mail, desk), shown after a negative rating.
    complaint_contact: Mapped[str | None] = mapped_column(String(300))

    parent: Mapped[Unit | None] = relationship(
        remote_side=[id], back_populates="children", foreign_keys=[parent_id]
    )
    children: Mapped[list[Unit]] = relationship(back_populates="parent", foreign_keys=[parent_id])
    successor: Mapped[Unit | None] = relationship(remote_side=[id], foreign_keys=[successor_id])

    def name(self, locale: str | None = None) -> str:
        return self.localized("name", locale)

    def is_current(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)

    def ancestor(self, level: UnitLevel) -> Unit | None:
        unit: Unit | None = self
        while unit is not None and unit.level != level:
            unit = unit.parent
        return unit

    def __repr__(self) -> str:
        return f"<Unit {self.code} {self.level}>"
