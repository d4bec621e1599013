"""Count tables kept up to date from the ratings, and published result snapshots.

The count tables are what the results service reads instead of the ratings (thousands or a few
hundred thousand rows, never millions): :func:`survey.results.counts.refresh_counts` adds each
rating to them exactly once, flagging a rating takes it out again, and
``survey results check`` rebuilds them from the ratings to prove they agree.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from survey.extensions import db
from survey.models._common import utcnow

#: ``counter_id`` of a rating given without a counter (a phone rating from an office's code):
#: the office's whole day is then one cluster.
NO_COUNTER = 0


class OverallCount(db.Model):
    """Answers to the overall question per office × counter × service day × questionnaire × channel × level.

    The cluster of the interval's variance is one counter on one service day.
    Only ratings that are not flagged are in these counts.
    """

    __tablename__ = "overall_counts"
    __table_args__ = (Index("ix_overall_counts_questionnaire_month", "questionnaire_id", "period_month"),)

    office_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    service_date: Mapped[date] = mapped_column(Date, primary_key=True)
    #: The counter's unit id, or 0 (:data:`NO_COUNTER`) when the rating names none; not a foreign key for that reason.
    counter_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    questionnaire_id: Mapped[int] = mapped_column(ForeignKey("questionnaires.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: ``YYYYMM`` of ``service_date``, so periods are selected without date functions that differ by database.
    period_month: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)


class CriterionCount(db.Model):
    """Answers to each follow-up question per office × month × question × value (closed ratings only)."""

    __tablename__ = "criterion_counts"

    office_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    period_month: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer)


class ProcedureCount(db.Model):
    """Overall answers per office × month × procedure named × level (closed ratings that name a procedure)."""

    __tablename__ = "procedure_counts"

    office_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    period_month: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    questionnaire_id: Mapped[int] = mapped_column(ForeignKey("questionnaires.id"), primary_key=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedures.id"), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer)


class ResultSnapshot(db.Model):
    """One published revision of the results of a closed period.

    Publishing again with the same data and options stores nothing new; changed data (a late rating,
    a misuse flag) makes the next revision. Old revisions are kept and linked from the pages.
    """

    __tablename__ = "result_snapshots"
    __table_args__ = (
        UniqueConstraint("period", "level", "questionnaire", "options_hash", "revision"),
        Index("ix_result_snapshots_lookup", "period", "level", "questionnaire", "options_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Canonical label: ``2026-07``, ``2026-Q3`` or ``2026``.
    period: Mapped[str] = mapped_column(String(16))
    #: ``province``, ``commune`` or ``office``.
    level: Mapped[str] = mapped_column(String(16))
    #: Questionnaire code; indices on different scales are never mixed.
    questionnaire: Mapped[str] = mapped_column(String(64))
    #: SHA-256 of the canonical JSON of the options, and that JSON.
    options_hash: Mapped[str] = mapped_column(String(64))
    options_json: Mapped[str] = mapped_column(Text)
    #: SHA-256 of the count rows the results were computed from: equal data, equal version.
    data_version: Mapped[str] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: The published tables (overall, per criterion, per procedure) and their settings, as JSON.
    content_json: Mapped[str] = mapped_column(Text)
