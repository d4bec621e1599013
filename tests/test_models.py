"""The data model: the unit tree and its history, uniqueness rules, and ratings that are never lost."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from survey.extensions import db
from survey.models import Kiosk, Rating, Unit, UnitLevel, User
from survey.models.kiosks import hash_token
from survey.rating.operations import RatingSubmission, questionnaire_for, submit_rating
from survey.models import Channel


def test_unit_tree_and_merger_history(app):
    with app.app_context():
        new = Unit(code="TQG", level=UnitLevel.PROVINCE, name_vi="Tuyên Quang", valid_from=date(2025, 7, 1))
        old = Unit(code="OLD-HA-GIANG", level=UnitLevel.PROVINCE, name_vi="Hà Giang",
                   valid_from=date(1991, 10, 1), valid_to=date(2025, 6, 30), successor=new)
        office = Unit(code="HG-MC", level=UnitLevel.OFFICE, name_vi="Bộ phận Một cửa", parent=old)
        counter = Unit(code="HG-MC-Q1", level=UnitLevel.COUNTER, name_vi="Quầy 1", parent=office)
        db.session.add_all([new, old, office, counter])
        db.session.commit()
        assert counter.ancestor(UnitLevel.PROVINCE) is old
        assert old.successor is new
        assert old.is_current(date(2025, 6, 30)) and not old.is_current(date(2025, 7, 1))
        assert new.is_current(date(2026, 1, 1)) and not new.is_current(date(2025, 6, 30))
        assert [c.code for c in office.children] == ["HG-MC-Q1"]
        assert new.name("en") == "Tuyên Quang"  # no English name: falls back to Vietnamese


def test_unit_codes_are_unique(app):
    with app.app_context():
        db.session.add_all([Unit(code="X", level=UnitLevel.PROVINCE, name_vi="A"),
                            Unit(code="X", level=UnitLevel.PROVINCE, name_vi="B")])
        with pytest.raises(IntegrityError):
            db.session.commit()


def test_kiosk_tokens_are_stored_only_as_hashes(app, place):
    with app.app_context():
        kiosk = db.session.get(Kiosk, place.kiosk_id)
        assert kiosk.token_hash == hash_token(place.kiosk_token)
        assert place.kiosk_token not in kiosk.token_hash
        old_hash = kiosk.token_hash
        kiosk.issue_token()
        assert kiosk.token_hash != old_hash


def test_user_passwords_are_hashed(app):
    with app.app_context():
        user = User(email="a@b.vn", name="A")
        user.set_password("correct horse")
        assert "correct horse" not in user.password_hash
        assert user.check_password("correct horse") and not user.check_password("wrong")


def test_rating_periods_are_vietnam_local(app, place):
    # 18:30 UTC on 31 March is already 1 April in Vietnam (UTC+7): the rating belongs to April / Q2.
    from datetime import datetime

    with app.app_context():
        office = db.session.get(Unit, place.office_id)
        questionnaire = questionnaire_for(office)
        rating, created = submit_rating(RatingSubmission(
            idempotency_key="k" * 32, questionnaire=questionnaire, office=office, channel=Channel.PHONE,
            answers={questionnaire.overall_question.id: 5},
        ), now=datetime(2026, 3, 31, 18, 30))
        db.session.commit()
        assert created
        assert rating.service_date == date(2026, 4, 1) and rating.period_month == 202604


def test_idempotency_key_and_transaction_are_unique_in_the_database(app, place):
    with app.app_context():
        office = db.session.get(Unit, place.office_id)
        questionnaire = questionnaire_for(office)
        common = dict(questionnaire_id=questionnaire.id, office_id=office.id, channel=Channel.API, overall_value=4,
                      service_date=date(2026, 1, 1), period_month=202601)
        db.session.add(Rating(idempotency_key="a" * 20, transaction_ref="HS-1", **common))
        db.session.commit()
        db.session.add(Rating(idempotency_key="a" * 20, **common))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        db.session.add(Rating(idempotency_key="b" * 20, transaction_ref="HS-1", **common))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        assert len(db.session.scalars(select(Rating)).all()) == 1
