"""Scores entered per unit for the indices of Circular 01/2018/TT-VPCP that no dossier carries.

Index 5 (received and returned at the one-stop unit) comes from inspection; 6 (publicity), 8 (feedback
handled) and 9 (online services) from data one-stop systems do not send. An entry holds from its
``valid_from`` date until a later entry for the same unit and index; entries are added, never edited.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from survey.extensions import db
from survey.models._common import utcnow


class UnitIndexScore(db.Model):
    __tablename__ = "unit_index_scores"
    __table_args__ = (UniqueConstraint("unit_id", "index_number", "valid_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    #: 5, 6, 8 or 9 (``analysis.dossier.UNIT_ENTERED``).
    index_number: Mapped[int] = mapped_column(SmallInteger)
    #: 0, 1 or 2 points.
    points: Mapped[int] = mapped_column(SmallInteger)
    #: First day (Vietnam) the score holds for.
    valid_from: Mapped[date] = mapped_column(Date)
    #: Where the score comes from, e.g. the inspection's reference.
    source_note: Mapped[str | None] = mapped_column(String(500))
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    entered_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
