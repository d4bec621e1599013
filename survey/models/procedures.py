"""Administrative procedures (thủ tục hành chính) and the offices that offer them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.extensions import db
from survey.models._common import Bilingual

if TYPE_CHECKING:
    from survey.models.units import Unit

office_procedures = Table(
    "office_procedures",
    db.metadata,
    Column("office_id", ForeignKey("units.id"), primary_key=True),
    Column("procedure_id", ForeignKey("procedures.id"), primary_key=True),
)


class Procedure(Bilingual, db.Model):
    __tablename__ = "procedures"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Code from the national procedure database where known, else a local stable code.
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_vi: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str | None] = mapped_column(String(300))
    #: Field or sector of the national catalogue (lĩnh vực), e.g. "Hộ tịch".
    field: Mapped[str | None] = mapped_column(String(200))
    #: Time limit for handling set by law, in days; NULL where unknown.
    time_limit_days: Mapped[int | None] = mapped_column(Integer)

    offices: Mapped[list[Unit]] = relationship(secondary=office_procedures)

    def name(self, locale: str | None = None) -> str:
        return self.localized("name", locale)
