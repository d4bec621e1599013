"""Which questionnaire version a place shows, and each version as an immutable snapshot, cached.

A published version never changes: a changed questionnaire is a new version, a new row with a new
id. So each version's questions, scales and labels are read once per process and kept as frozen
dataclasses keyed by id. They are safe to share between threads (nothing in them can change and
nothing is tied to a database session) and between processes (each reads the same rows).

Which version is *current* for a unit is decided in SQL on every request, in one statement that is
usually part of the place lookup (:func:`questionnaire_columns`). A new version or a retirement
therefore takes effect at once in every worker; the cache itself never needs invalidating.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import ColumnElement, func, literal_column, select

from survey.extensions import db
from survey.models import Question, Questionnaire, Scale, ScalePoint, Unit
from survey.models._common import Bilingual

if TYPE_CHECKING:
    from collections.abc import Mapping

#: Shown where no unit up the tree names a questionnaire.
DEFAULT_CODE = "default"
#: Deeper than any real tree (province → commune → office → counter); stops a corrupt cycle.
MAX_TREE_DEPTH = 16
_CACHE_KEY = "survey.questionnaire_versions"


@dataclass(frozen=True, eq=False)
class ScalePointSnapshot(Bilingual):
    translated_by_catalog = True  # other languages: the catalogs' "questionnaire" context

    value: int
    label_vi: str
    label_en: str | None

    def label(self, locale: str | None = None) -> str:
        return self.localized("label", locale)


@dataclass(frozen=True, eq=False)
class ScaleSnapshot:
    id: int
    code: str
    #: Lowest value counted as "satisfied" (see :class:`survey.models.Scale`).
    satisfied_from: int
    points: tuple[ScalePointSnapshot, ...]
    values: frozenset[int] = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "values", frozenset(p.value for p in self.points))


@dataclass(frozen=True, eq=False)
class QuestionSnapshot(Bilingual):
    translated_by_catalog = True

    id: int
    key: str
    position: int
    text_vi: str
    text_en: str | None
    is_overall: bool
    scale: ScaleSnapshot

    def text(self, locale: str | None = None) -> str:
        return self.localized("text", locale)


@dataclass(frozen=True, eq=False)
class QuestionnaireSnapshot(Bilingual):
    """One published questionnaire version, read once. Compared by identity: one object per version
    and app, so it can key caches of what is built from it (e.g. the form classes)."""

    translated_by_catalog = True
    id: int
    code: str
    version: int
    title_vi: str
    title_en: str | None
    questions: tuple[QuestionSnapshot, ...]
    overall_question: QuestionSnapshot = field(init=False)
    follow_up_questions: tuple[QuestionSnapshot, ...] = field(init=False)
    questions_by_id: Mapping[int, QuestionSnapshot] = field(init=False)

    def __post_init__(self):
        overall = [q for q in self.questions if q.is_overall]
        if len(overall) != 1:
            raise ValueError(f"Questionnaire {self.code} v{self.version} has {len(overall)} overall questions")
        object.__setattr__(self, "overall_question", overall[0])
        object.__setattr__(self, "follow_up_questions", tuple(q for q in self.questions if not q.is_overall))
        object.__setattr__(self, "questions_by_id", MappingProxyType({q.id: q for q in self.questions}))

    def title(self, locale: str | None = None) -> str:
        return self.localized("title", locale)


# ------------------------------------------------------------------------------------ the cache


def questionnaire_version(questionnaire_id: int) -> QuestionnaireSnapshot:
    """The snapshot of one version: read from the database the first time in this process, then kept.

    No lock: two threads missing at once both read the same rows and the first stored wins.
    """
    versions: dict[int, QuestionnaireSnapshot] = current_app.extensions.setdefault(_CACHE_KEY, {})
    snapshot = versions.get(questionnaire_id)
    if snapshot is None:
        snapshot = versions.setdefault(questionnaire_id, _read_version(questionnaire_id))
    return snapshot


def _read_version(questionnaire_id: int) -> QuestionnaireSnapshot:
    """Four small reads of plain columns (no ORM objects are attached to the session)."""
    head = db.session.execute(
        select(Questionnaire.id, Questionnaire.code, Questionnaire.version, Questionnaire.title_vi,
               Questionnaire.title_en).where(Questionnaire.id == questionnaire_id)
    ).one_or_none()
    if head is None:
        raise LookupError(f"No questionnaire with id {questionnaire_id}.")
    questions = db.session.execute(
        select(Question.id, Question.key, Question.position, Question.text_vi, Question.text_en,
               Question.is_overall, Question.scale_id)
        .where(Question.questionnaire_id == questionnaire_id).order_by(Question.position)
    ).all()
    scale_ids = {q.scale_id for q in questions}
    points: dict[int, list[ScalePointSnapshot]] = {scale_id: [] for scale_id in scale_ids}
    for row in db.session.execute(
        select(ScalePoint.scale_id, ScalePoint.value, ScalePoint.label_vi, ScalePoint.label_en)
        .where(ScalePoint.scale_id.in_(scale_ids)).order_by(ScalePoint.scale_id, ScalePoint.value)
    ):
        points[row.scale_id].append(ScalePointSnapshot(row.value, row.label_vi, row.label_en))
    scales = {
        row.id: ScaleSnapshot(row.id, row.code, row.satisfied_from, tuple(points[row.id]))
        for row in db.session.execute(
            select(Scale.id, Scale.code, Scale.satisfied_from).where(Scale.id.in_(scale_ids))
        )
    }
    return QuestionnaireSnapshot(
        head.id, head.code, head.version, head.title_vi, head.title_en,
        tuple(QuestionSnapshot(q.id, q.key, q.position, q.text_vi, q.text_en, q.is_overall, scales[q.scale_id])
              for q in questions),
    )


# ------------------------------------------------------------------------------ current versions


def questionnaire_columns(start: ColumnElement[bool]) -> tuple[ColumnElement[str], ColumnElement[int]]:
    """SQL for (code, current version id) of the questionnaire shown at the unit matching ``start``
    (a condition on the ``units`` table, e.g. ``units.c.code == bindparam("code")``).

    The code is the one set on that unit or its nearest ancestor (else ``default``), found by one
    recursive query up the tree that stops at the first unit naming a code; the current version is
    the newest one of that code not retired. Put both columns in the statement that finds the place.
    Plain Core on the tables, so the statement stays cheap to execute and is built once.
    """
    units = Unit.__table__
    one = literal_column("1")  # constants as literals: fewer parameters to bind on every request
    anchor = select(units.c.id, units.c.parent_id, units.c.questionnaire_code,
                    literal_column("0").label("depth")).where(start)
    chain = anchor.cte("questionnaire_chain", recursive=True)
    parent = units.alias("questionnaire_parent")
    chain = chain.union_all(
        select(parent.c.id, parent.c.parent_id, parent.c.questionnaire_code, chain.c.depth + one)
        .where(parent.c.id == chain.c.parent_id, chain.c.questionnaire_code.is_(None),
               chain.c.depth < literal_column(str(MAX_TREE_DEPTH)))
    )
    # The walk stops at the first unit naming a code, so at most one row of the chain has one.
    code = func.coalesce(select(func.max(chain.c.questionnaire_code)).scalar_subquery(),
                         literal_column(f"'{DEFAULT_CODE}'"))
    return code, _current_id(code)


def _current_id(code) -> ColumnElement[int]:
    questionnaires = Questionnaire.__table__
    return (
        select(questionnaires.c.id)
        .where(questionnaires.c.code == code, questionnaires.c.retired_at.is_(None))
        .order_by(questionnaires.c.version.desc()).limit(literal_column("1")).scalar_subquery()
    )


def current_questionnaire_id(code: str) -> int | None:
    return db.session.scalar(select(_current_id(code)))


def current_questionnaire(code: str = DEFAULT_CODE) -> QuestionnaireSnapshot:
    questionnaire_id = current_questionnaire_id(code)
    if questionnaire_id is None:
        raise no_active_questionnaire(code)
    return questionnaire_version(questionnaire_id)


def questionnaire_id_for_unit(unit_id: int) -> tuple[str, int | None]:
    """(code, current version id) of the questionnaire shown at a unit, in one statement."""
    code, current = questionnaire_columns(Unit.__table__.c.id == unit_id)
    row = db.session.execute(select(code, current)).one()
    return row[0], row[1]


def questionnaire_for(unit) -> QuestionnaireSnapshot:
    """The current version of the questionnaire configured at this unit or above it (else the default)."""
    if unit is None:
        return current_questionnaire(DEFAULT_CODE)
    code, questionnaire_id = questionnaire_id_for_unit(unit.id)
    if questionnaire_id is None:
        raise no_active_questionnaire(code)
    return questionnaire_version(questionnaire_id)


def no_active_questionnaire(code: str) -> LookupError:
    return LookupError(f"No active questionnaire with code {code!r}; run 'survey init-db'.")
