"""POST /api/v1/ratings: one validated path (submit_rating), the idempotency key required and honoured,
key scoping, channels, answers by question key, ratings tied to a registered dossier, queued ratings."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from survey.api.keys import create_api_key
from survey.extensions import db
from survey.models import Answer, Channel, Rating, Transaction
from survey.models._common import utcnow
from tests.conftest import make_place


@pytest.fixture
def setup(app):
    with app.app_context():
        hn, hp = make_place("HN"), make_place("HP")
        _, key = create_api_key("Hà Nội", ["HN"])
        db.session.add(Transaction(dossier_code="000.00.16.H26-260301-0001", office_id=hn.office_id,
                                   procedure_code="1.005169", received_at=datetime(2026, 3, 1)))
        db.session.commit()
    return {"hn": hn, "hp": hp, "key": key}


def send(client, key, body, lang="en"):
    return client.post(f"/api/v1/ratings?lang={lang}", json=body,
                       headers={"Authorization": f"Bearer {key}"} if key else {})


def rating(place, **extra):
    return {"idempotency_key": uuid.uuid4().hex, "office_code": place.office_code, "channel": "staff",
            "answers": {"overall": 4, "access": 5}, **extra}


def count(app, model=Rating) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_a_rating_is_stored_once_with_its_answers_and_channel(app, client, setup):
    body = rating(setup["hn"], counter_code=setup["hn"].counter_code, comment="Nhanh gọn")
    first = send(client, setup["key"], body)
    assert first.status_code == 201 and first.json["status"] == "created" and first.json["channel"] == "staff"
    again = send(client, setup["key"], body)     # the offline queue sends it again
    assert again.status_code == 200 and again.json["status"] == "unchanged"
    assert count(app) == 1 and count(app, Answer) == 2
    with app.app_context():
        stored = db.session.scalar(select(Rating))
        assert stored.channel == Channel.STAFF and stored.overall_value == 4
        assert stored.counter_id == setup["hn"].counter_id and stored.comment == "Nhanh gọn"
        assert stored.completed_at is not None  # sent whole: complete, no follow-up expected


def test_the_same_key_for_another_rating_source_is_a_conflict(client, setup):
    body = rating(setup["hn"])
    assert send(client, setup["key"], body).status_code == 201
    response = send(client, setup["key"], dict(body, channel="kiosk"))
    assert response.status_code == 409 and response.json["code"] == "key_conflict"


@pytest.mark.parametrize("change, status, code", [
    ({"idempotency_key": None}, 400, "missing_field"),
    ({"idempotency_key": "short"}, 400, "bad_idempotency_key"),
    ({"channel": "link"}, 400, "bad_channel"),        # single-use links have their own page
    ({"channel": None}, 400, "bad_channel"),
    ({"answers": {}}, 400, "bad_answers"),
    ({"answers": {"access": 5}}, 400, "missing_overall"),
    ({"answers": {"overall": 6}}, 400, "out_of_scale"),
    ({"answers": {"overall": True}}, 400, "out_of_scale"),
    ({"answers": {"overall": 4, "colour": 2}}, 400, "unknown_question"),
    ({"office_code": "NO-SUCH"}, 404, "unknown_office"),
    ({"counter_code": "NO-SUCH"}, 404, "unknown_counter"),
    ({"procedure_code": "9.999999"}, 404, "unknown_procedure"),
    ({"dossier_code": "000.00.16.H26-260301-0099"}, 404, "unknown_transaction"),
    ({"rated_at": "2020-01-01T00:00:00Z"}, 400, "bad_time"),
    ({"locale": "fr"}, 400, "bad_locale"),
    ({"comment": 12}, 400, "bad_comment"),
    ({"extra": 1}, 400, "unknown_field"),
])
def test_bad_ratings_are_refused_with_a_reason_and_store_nothing(app, client, setup, change, status, code):
    body = {k: v for k, v in {**rating(setup["hn"]), **change}.items() if v is not None}
    response = send(client, setup["key"], body)
    assert (response.status_code, response.json["code"]) == (status, code)
    assert response.json["message"]
    assert count(app) == 0


def test_key_scope_and_authentication(app, client, setup):
    response = send(client, setup["key"], rating(setup["hp"]))
    assert response.status_code == 403 and response.json["code"] == "out_of_scope"
    assert send(client, None, rating(setup["hn"])).status_code == 401
    assert send(client, "svk_wrong", rating(setup["hn"])).status_code == 401
    not_json = client.post("/api/v1/ratings", data="overall=4", headers={"Authorization": f"Bearer {setup['key']}"})
    assert not_json.status_code == 400 and not_json.json["code"] == "bad_json"
    assert count(app) == 0


def test_a_dossier_is_rated_once(app, client, setup):
    code = "000.00.16.H26-260301-0001"
    assert send(client, setup["key"], rating(setup["hn"], dossier_code=code)).status_code == 201
    second = send(client, setup["key"], rating(setup["hn"], dossier_code=code))
    assert second.status_code == 409 and second.json["code"] == "duplicate_transaction"
    with app.app_context():
        assert db.session.scalar(select(Rating.transaction_ref)) == code
    assert count(app) == 1


def test_a_queued_rating_keeps_the_time_it_was_given(app, client, setup):
    given = (utcnow() - timedelta(days=2)).replace(microsecond=0)
    response = send(client, setup["key"], rating(setup["hn"], rated_at=given.isoformat() + "Z"))
    assert response.status_code == 201 and response.json["rated_at"] == given.isoformat() + "Z"
    with app.app_context():
        assert db.session.scalar(select(Rating.created_at)) == given


def test_messages_in_the_callers_language(client, setup):
    en = send(client, setup["key"], rating(setup["hn"], channel="link"), lang="en").json["message"]
    vi = send(client, setup["key"], rating(setup["hn"], channel="link"), lang="vi").json["message"]
    assert "kiosk, phone, staff or web" in en and vi != en
