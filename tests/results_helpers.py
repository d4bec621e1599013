"""Helpers for the results tests: ratings through the real submission path, a merged province, and
counts computed the slow, obvious way (Python over ORM objects) to check the SQL against."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.models import Channel, Rating, ServiceVolume, Unit, UnitLevel
from survey.rating.operations import RatingSubmission, add_follow_up, questionnaire_for, submit_rating

_keys = itertools.count()


def rate(office: Unit, value: int, when: datetime, n: int = 1, *, counter: Unit | None = None,
         follow_up: dict[str, int] | None = None, complete: bool = True, channel=Channel.PHONE,
         spread_days: int = 1) -> list[Rating]:
    """``n`` ratings through :func:`submit_rating` (and :func:`add_follow_up` with answers by question key),
    the i-th on day ``i % spread_days`` after ``when`` (so they fall in different counter-day clusters)."""
    questionnaire = questionnaire_for(office)
    keys = {q.key: q.id for q in questionnaire.questions}
    out = []
    for i in range(n):
        stored, created = submit_rating(RatingSubmission(
            idempotency_key=f"t{next(_keys):015d}{office.id:04d}", questionnaire=questionnaire, office=office,
            channel=channel, counter=counter, answers={questionnaire.overall_question.id: value},
        ), now=when + timedelta(days=i % spread_days))
        assert created
        rating = db.session.get(Rating, stored.id)  # submit_rating returns plain values; tests read the row
        if follow_up is not None and complete:
            add_follow_up(rating, {keys[k]: v for k, v in follow_up.items()}, now=rating.created_at)
        out.append(rating)
    db.session.flush()
    return out


def office_of(code: str) -> Unit:
    return db.session.scalar(select(Unit).where(Unit.code == code))


@pytest.fixture
def merged(app):
    """Hà Giang merged into Tuyên Quang on 1 July 2025: one office before, one after; Hà Nội beside."""
    with app.app_context():
        new = Unit(code="TQG", level=UnitLevel.PROVINCE, name_vi="Tuyên Quang", name_en="Tuyen Quang",
                   valid_from=date(2025, 7, 1))
        old = Unit(code="OLD-HA-GIANG", level=UnitLevel.PROVINCE, name_vi="Hà Giang", valid_from=date(1991, 10, 1),
                   valid_to=date(2025, 6, 30), successor=new)
        old_office = Unit(code="HG-MC", level=UnitLevel.OFFICE, name_vi="Một cửa Hà Giang", parent=old,
                          valid_from=date(2000, 1, 1), valid_to=date(2025, 6, 30))
        new_office = Unit(code="TQG-MC", level=UnitLevel.OFFICE, name_vi="Một cửa Tuyên Quang",
                          name_en="Tuyen Quang one-stop office", parent=new)
        other = Unit(code="HN", level=UnitLevel.PROVINCE, name_vi="Hà Nội", name_en="Ha Noi",
                     valid_from=date(1900, 1, 1))
        other_office = Unit(code="HN-MC", level=UnitLevel.OFFICE, name_vi="Một cửa Hà Nội", parent=other)
        counter = Unit(code="HN-MC-Q01", level=UnitLevel.COUNTER, name_vi="Quầy 1", parent=other_office)
        db.session.add_all([new, old, old_office, new_office, other, other_office, counter])
        db.session.flush()
        # Q2 2025 (before the merger): 40 ratings in Hà Giang, 30 satisfied.
        # Spread over the month's days: each day at a counter is one cluster of the interval.
        rate(old_office, 5, datetime(2025, 5, 1, 3), 30, spread_days=28)
        rate(old_office, 2, datetime(2025, 5, 1, 4), 10, spread_days=28)
        # Q3 2025 (after): 50 in the new Tuyên Quang office, 45 satisfied.
        rate(new_office, 4, datetime(2025, 8, 1, 3), 45, follow_up={"access": 5, "result": 2}, spread_days=28)
        rate(new_office, 1, datetime(2025, 8, 1, 4), 5, spread_days=28)
        rate(other_office, 4, datetime(2025, 8, 1, 3), 25, counter=counter, spread_days=28)
        rate(other_office, 3, datetime(2025, 9, 1, 3), 5, counter=counter, spread_days=28)
        db.session.add(ServiceVolume(office_id=new_office.id, period_month=202508, transactions=200))
        db.session.commit()
    return app


def brute_overall_counts() -> Counter:
    """(reporting province code, YYYYMM, value) → count of unflagged ratings, walking the ORM tree."""
    counts = Counter()
    for rating in db.session.scalars(select(Rating).where(Rating.flag.is_(None))):
        province = rating.office.ancestor(UnitLevel.PROVINCE)
        while province.successor is not None:
            province = province.successor
        counts[(province.code, rating.period_month, rating.overall_value)] += 1
    return counts


def brute_table_counts() -> dict[str, Counter]:
    """Every count table's content as the ratings say it should be (ignoring count_state)."""
    overall, criteria, procedures = Counter(), Counter(), Counter()
    for r in db.session.scalars(select(Rating).where(Rating.flag.is_(None))):
        overall[(r.office_id, r.service_date, r.counter_id or 0, r.questionnaire_id, str(r.channel),
                 r.overall_value)] += 1
        for answer in r.answers:
            if not answer.question.is_overall:
                criteria[(r.office_id, r.period_month, answer.question_id, answer.value)] += 1
        if r.procedure_id is not None:
            procedures[(r.office_id, r.period_month, r.questionnaire_id, r.procedure_id, r.overall_value)] += 1
    return {"overall": overall, "criteria": criteria, "procedures": procedures}


def stored_table_counts() -> dict[str, Counter]:
    from survey.models import CriterionCount, OverallCount, ProcedureCount

    overall = Counter({(c.office_id, c.service_date, c.counter_id, c.questionnaire_id, c.channel, c.value): c.count
                       for c in db.session.scalars(select(OverallCount)) if c.count})
    criteria = Counter({(c.office_id, c.period_month, c.question_id, c.value): c.count
                        for c in db.session.scalars(select(CriterionCount)) if c.count})
    procedures = Counter({(c.office_id, c.period_month, c.questionnaire_id, c.procedure_id, c.value): c.count
                          for c in db.session.scalars(select(ProcedureCount)) if c.count})
    return {"overall": overall, "criteria": criteria, "procedures": procedures}
