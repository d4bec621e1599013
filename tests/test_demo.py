"""Demo data: the 34 provinces and their predecessors, realistic differences, deterministic for a seed."""

from __future__ import annotations

import csv
import hashlib
from datetime import date
from pathlib import Path

from sqlalchemy import func, select

from survey import demo
from survey.demo import seed_demo
from survey.extensions import db
from survey.models import Answer, Kiosk, Questionnaire, Rating, ServiceVolume, Unit, UnitLevel
from tests.conftest import hidden_fields, make_app, overall_field

END = date(2026, 10, 31)
REFERENCE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "provinces.csv"


def seeded_app(fresh_database, **kwargs):
    app = make_app(fresh_database())
    with app.app_context():
        result = seed_demo(end_date=END, **kwargs)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return app, result


def fingerprint(app) -> str:
    with app.app_context():
        rows = db.session.execute(
            select(Rating.idempotency_key, Rating.office_id, Rating.overall_value, Rating.created_at, Rating.channel)
            .order_by(Rating.idempotency_key)
        ).all()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_demo_units_follow_the_2025_reorganisation(fresh_database):
    app, result = seeded_app(fresh_database, ratings=500, seed=1)
    with open(Path(__file__).resolve().parent.parent / "survey" / "data" / "provinces.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    predecessors = {name for row in rows for name in row["predecessors_vi"].split(";")}
    with app.app_context():
        provinces = db.session.scalars(select(Unit).where(Unit.level == UnitLevel.PROVINCE)).all()
        current = [p for p in provinces if p.valid_to is None]
        former = [p for p in provinces if p.valid_to is not None]
        assert len(current) == 34 == result.provinces
        assert len(predecessors) == 63
        # Every former province that merged points at the unit it became; the 11 unchanged ones continue.
        assert {p.name_vi for p in former} | {p.name_vi for p in current} >= predecessors
        assert all(p.successor is not None and p.successor.valid_to is None for p in former)
        hai_giang = next(p for p in former if p.name_vi == "Hà Giang")
        assert hai_giang.successor.code == "TQG" and hai_giang.valid_to == date(2025, 6, 30)
        assert result.offices == 102 and result.kiosks == 102
        assert db.session.scalar(select(func.count(Kiosk.id))) == 102


def test_copied_province_data_matches_the_shared_reference():
    if not REFERENCE.exists():
        import pytest

        pytest.skip(f"shared reference data not beside this checkout ({REFERENCE})")
    ours = (Path(__file__).resolve().parent.parent / "survey" / "data" / "provinces.csv").read_text(encoding="utf-8")
    assert ours == REFERENCE.read_text(encoding="utf-8")


def test_demo_is_deterministic_for_a_seed(fresh_database):
    a, _ = seeded_app(fresh_database, ratings=2000, seed=7)
    b, _ = seeded_app(fresh_database, ratings=2000, seed=7)
    c, _ = seeded_app(fresh_database, ratings=2000, seed=8)
    assert fingerprint(a) == fingerprint(b) != fingerprint(c)


def test_demo_ratings_show_real_differences_between_offices(fresh_database):
    app, result = seeded_app(fresh_database, ratings=20000, seed=2026)
    assert result.ratings == 20000
    with app.app_context():
        satisfied = func.sum((Rating.overall_value >= 4).cast(db.Integer))
        rows = db.session.execute(
            select(Rating.office_id, func.count(Rating.id), satisfied)
            .where(Rating.questionnaire.has(code="default"))
            .group_by(Rating.office_id)
        ).all()
        months = db.session.scalars(select(Rating.period_month).distinct()).all()
        first, last = db.session.execute(select(func.min(Rating.service_date), func.max(Rating.service_date))).one()
        volumes = db.session.scalar(select(func.count(ServiceVolume.id)))
    sizes = sorted(n for _, n, _ in rows)
    shares = [s / n for _, n, s in rows if n >= 100]
    assert len(months) in (12, 13) and first >= date(2025, 11, 1) and last <= END
    assert sizes[0] < 30 < sizes[-1]               # some offices have few ratings, some many
    assert max(shares) - min(shares) > 0.2          # some clearly better, some clearly worse
    assert 0.7 < sum(s for *_, s in rows) / sum(n for _, n, _ in rows) < 0.95  # near SIPAS' ~80-84%
    assert volumes > 0


def test_demo_ratings_are_streamed_in_batches_and_stay_consistent(fresh_database, monkeypatch):
    monkeypatch.setattr(demo, "SEED_BATCH", 700)  # 2,500 ratings in four batches, the last one short
    app, result = seeded_app(fresh_database, ratings=2500, seed=5)
    assert result.ratings == 2500
    with app.app_context():
        ids = db.session.scalars(select(Rating.id).order_by(Rating.id)).all()
        assert ids == list(range(1, 2501))
        # One overall answer per rating; follow-up answers exactly for the ratings that name a procedure.
        per_rating = dict(db.session.execute(select(Answer.rating_id, func.count()).group_by(Answer.rating_id)).all())
        with_procedure = set(db.session.scalars(select(Rating.id).where(Rating.procedure_id.is_not(None))))
        assert set(per_rating) == set(ids)
        assert {rating_id for rating_id, n in per_rating.items() if n > 1} == with_procedure
        assert 0.3 < len(with_procedure) / 2500 < 0.5
        overall_questions = [q.overall_question.id for q in db.session.scalars(select(Questionnaire))]
        matching = db.session.scalar(
            select(func.count()).select_from(Answer).join(Rating, Rating.id == Answer.rating_id)
            .where(Answer.question_id.in_(overall_questions), Answer.value == Rating.overall_value))
        assert matching == 2500  # each rating's overall answer is its overall value
        # Kiosk ratings come from the office's kiosk, phone ratings from none.
        mismatched = db.session.scalar(select(func.count()).where(
            (Rating.channel == "kiosk") != Rating.kiosk_id.is_not(None)))
        assert mismatched == 0
        # Volumes cover every rating, office by office and month by month.
        volumes = dict(db.session.execute(
            select(ServiceVolume.office_id, func.sum(ServiceVolume.transactions)).group_by(ServiceVolume.office_id)).all())
        counts = dict(db.session.execute(select(Rating.office_id, func.count()).group_by(Rating.office_id)).all())
        assert set(volumes) == set(counts) and all(volumes[o] >= counts[o] for o in counts)
        db.session.remove()


def test_a_citizen_can_rate_after_a_large_seed(fresh_database, monkeypatch):
    """The seed gives ratings their ids itself; the next rating from a phone must still get a fresh one
    (on PostgreSQL the id sequence is moved past the seeded ids)."""
    monkeypatch.setattr(demo, "SEED_BATCH", 400)
    app, _ = seeded_app(fresh_database, ratings=1000, seed=3)
    client = app.test_client()
    html = client.get("/r/HN-TTHCC-Q01").get_data(as_text=True)
    response = client.post("/r/HN-TTHCC-Q01", data={**hidden_fields(html), overall_field(html): "5"})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count(Rating.id))) == 1001
        assert db.session.scalar(select(func.max(Rating.id))) == 1001
        db.session.remove()
        db.engine.dispose()
