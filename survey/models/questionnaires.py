"""Versioned questionnaires: each is an ordered list of questions answered on a scale."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.extensions import db
from survey.models._common import Bilingual, utcnow


class Scale(db.Model):
    """An answer scale shared by questions, e.g. the five satisfaction levels."""

    __tablename__ = "scales"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    #: Lowest value counted as "satisfied" for the satisfaction index (4 on 1–5, 2 on 1–3).
    satisfied_from: Mapped[int] = mapped_column(Integer)

    points: Mapped[list[ScalePoint]] = relationship(
        back_populates="scale", order_by="ScalePoint.value", cascade="all, delete-orphan"
    )

    @property
    def values(self) -> list[int]:
        return [p.value for p in self.points]


class ScalePoint(Bilingual, db.Model):
    translated_by_catalog = True  # other languages: the catalogs' "questionnaire" context

    __tablename__ = "scale_points"
    __table_args__ = (UniqueConstraint("scale_id", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scale_id: Mapped[int] = mapped_column(ForeignKey("scales.id"), index=True)
    value: Mapped[int] = mapped_column(Integer)
    label_vi: Mapped[str] = mapped_column(String(300))
    label_en: Mapped[str | None] = mapped_column(String(300))

    scale: Mapped[Scale] = relationship(back_populates="points")

    def label(self, locale: str | None = None) -> str:
        return self.localized("label", locale)


class Questionnaire(Bilingual, db.Model):
    """One version of a questionnaire; a changed questionnaire is a new version, never an edit."""

    translated_by_catalog = True  # other languages: the catalogs' "questionnaire" context

    __tablename__ = "questionnaires"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    title_vi: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: Set when a newer version replaces this one; ratings keep pointing at the version they answered.
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)

    questions: Mapped[list[Question]] = relationship(
        back_populates="questionnaire", order_by="Question.position", cascade="all, delete-orphan"
    )

    def title(self, locale: str | None = None) -> str:
        return self.localized("title", locale)

    @property
    def overall_question(self) -> Question:
        return next(q for q in self.questions if q.is_overall)

    @property
    def follow_up_questions(self) -> list[Question]:
        return [q for q in self.questions if not q.is_overall]


class Question(Bilingual, db.Model):
    translated_by_catalog = True  # other languages: the catalogs' "questionnaire" context

    __tablename__ = "questions"
    __table_args__ = (
        UniqueConstraint("questionnaire_id", "key"),
        UniqueConstraint("questionnaire_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    questionnaire_id: Mapped[int] = mapped_column(ForeignKey("questionnaires.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    #: Stable key within the questionnaire (e.g. ``overall``, ``access``), used in exports.
    key: Mapped[str] = mapped_column(String(64))
    text_vi: Mapped[str] = mapped_column(String(500))
    text_en: Mapped[str | None] = mapped_column(String(500))
    scale_id: Mapped[int] = mapped_column(ForeignKey("scales.id"))
    #: The one-tap question: answered first, required, and the basis of the headline index.
    is_overall: Mapped[bool] = mapped_column(Boolean, default=False)

    questionnaire: Mapped[Questionnaire] = relationship(back_populates="questions")
    scale: Mapped[Scale] = relationship()

    def text(self, locale: str | None = None) -> str:
        return self.localized("text", locale)
