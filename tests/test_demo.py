"""Demo data: the 34 provinces and their predecessors, realistic differences, deterministic for a seed."""

from __future__ import annotations

import csv
import hashlib
from datetime import date
from pathlib import Path

from sqlalchemy import func, select

from survey.demo import seed_demo
from survey.extensions import db
from survey.models import Kiosk, Rating, ServiceVolume, Unit, UnitLevel
from tests.conftest import make_app

END = date(2026, 10, 31)
REFERENCE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "provinces.csv"


def seeded_app(tmp_path, migrated_sqlite, name: str, **kwargs):
    import shutil

    path = tmp_path / f"{name}.sqlite"
    shutil.copy(migrated_sqlite, path)
    app = make_app(f"sqlite:///{path}")
    with app.app_context():
        result = seed_demo(end_date=END, **kwargs)
        db.session.commit()
    return app, result


def fingerprint(app) -> str:
    with app.app_context():
        rows = db.session.execute(
            select(Rating.idempotency_key, Rating.office_id, Rating.overall_value, Rating.created_at, Rating.channel)
            .order_by(Rating.idempotency_key)
        ).all()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_demo_units_follow_the_2025_reorganisation(tmp_path, migrated_sqlite):
    app, result = seeded_app(tmp_path, migrated_sqlite, "a", ratings=500, seed=1)
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


def test_demo_is_deterministic_for_a_seed(tmp_path, migrated_sqlite):
    a, _ = seeded_app(tmp_path, migrated_sqlite, "a", ratings=2000, seed=7)
    b, _ = seeded_app(tmp_path, migrated_sqlite, "b", ratings=2000, seed=7)
    c, _ = seeded_app(tmp_path, migrated_sqlite, "c", ratings=2000, seed=8)
    assert fingerprint(a) == fingerprint(b) != fingerprint(c)


def test_demo_ratings_show_real_differences_between_offices(tmp_path, migrated_sqlite):
    app, result = seeded_app(tmp_path, migrated_sqlite, "a", ratings=20000, seed=2026)
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
