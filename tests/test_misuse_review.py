"""Misuse review: flagged ratings of the scope listed (reason, time, where, masked comment); a reviewer
confirms a flag (the rating stays out) or clears it (the counts take it back in the same
transaction); each decision is audited; outside the scope nothing is listed or changed."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import func, select

from survey.extensions import db
from survey.manager.operations import create_user
from survey.misuse.operations import ReviewError, confirm_flag, flag_rating, is_confirmed, review_clear
from survey.models import AuditEntry, FlagReview, Kiosk, OverallCount, Rating, UnitLevel, User
from survey.rating.operations import add_follow_up
from survey.results.counts import refresh_counts
from tests.conftest import hidden_fields
from tests.results_helpers import office_of, rate
from tests.test_dashboard import PASSWORD, signed_in, unit

T0 = datetime(2026, 10, 1, 3)


@pytest.fixture
def site(app):
    with app.app_context():
        hn, hcm = unit("HN", UnitLevel.PROVINCE), unit("HCM", UnitLevel.PROVINCE)
        a = unit("HN-A", UnitLevel.OFFICE, hn)
        counter = unit("HN-A-Q1", UnitLevel.COUNTER, a)
        x = unit("HCM-X", UnitLevel.OFFICE, hcm)
        db.session.flush()
        kiosk = Kiosk(office=a, counter=counter, label="Máy quầy 1", token_hash="hash-a")
        db.session.add(kiosk)
        db.session.flush()
        burst = rate(a, 5, T0, counter=counter)[0]
        burst.kiosk_id = kiosk.id
        add_follow_up(burst, {}, comment="Gọi 0912 345 678 nhé", now=burst.created_at)
        other = rate(x, 5, T0)[0]
        other.comment = "Bí mật Sài Gòn"
        rate(a, 4, T0, 3)
        db.session.commit()
        refresh_counts()
        flag_rating(burst, "burst", "five in a minute")
        flag_rating(other, "test")
        create_user("a@x.vn", "office-manager", "HN-A", password=PASSWORD)
        create_user("x@x.vn", "office-manager", "HCM-X", password=PASSWORD)
        db.session.commit()
        app.ids = {"burst": burst.id, "other": other.id, "office": a.id}
    return app


def counted(office_id: int) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(OverallCount.count), 0))
                             .where(OverallCount.office_id == office_id))


def test_confirm_keeps_the_rating_out_and_clear_brings_it_back_audited(site):
    with site.app_context():
        rating = db.session.get(Rating, site.ids["burst"])
        reviewer = db.session.scalar(select(User).where(User.email == "a@x.vn"))
        assert counted(site.ids["office"]) == 3                 # 4 ratings, one flagged
        confirm_flag(rating, reviewer)
        assert is_confirmed(rating) and counted(site.ids["office"]) == 3
        with pytest.raises(ReviewError):
            confirm_flag(rating, reviewer)
        review_clear(rating, reviewer)
        assert rating.flag is None and counted(site.ids["office"]) == 4
        with pytest.raises(ReviewError):
            review_clear(rating, reviewer)
        db.session.commit()
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.target_type == "ratings")
                                     .order_by(AuditEntry.id)).all()
        assert [(e.action, e.target_id, e.actor_id, e.unit_id) for e in entries] == [
            ("flag_confirmed", rating.id, reviewer.id, site.ids["office"]),
            ("flag_cleared", rating.id, reviewer.id, site.ids["office"])]
        assert json.loads(entries[1].data) == {"flag": "burst"}
        assert [r.decision for r in db.session.scalars(select(FlagReview).order_by(FlagReview.id))] == [
            "confirmed", "cleared"]


def test_the_review_page_lists_the_scope_masked_and_acts_on_it(site):
    client = signed_in(site, "a@x.vn")
    html = client.get("/manager/misuse").get_data(as_text=True)
    assert "too many ratings in a short time" in html and "Máy quầy 1" in html and "Unit HN-A-Q1" in html
    assert "Gọi [phone number] nhé" in html and "0912" not in html and "Sài Gòn" not in html
    token = hidden_fields(html)
    other, burst = site.ids["other"], site.ids["burst"]
    assert client.post(f"/manager/misuse/{other}/clear", data=token).status_code == 404   # outside the scope
    assert client.post(f"/manager/misuse/{burst}/nonsense", data=token).status_code == 404
    assert client.post(f"/manager/misuse/{burst}/confirm", data={}).status_code == 400   # no CSRF token
    assert client.post(f"/manager/misuse/{burst}/confirm", data=token).status_code == 302
    assert client.post(f"/manager/misuse/{burst}/confirm", data=token).status_code == 409
    assert "Confirmed" in client.get("/manager/misuse").get_data(as_text=True)
    assert client.post(f"/manager/misuse/{burst}/clear", data=token).status_code == 302
    assert "No flagged ratings here." in client.get("/manager/misuse").get_data(as_text=True)
    with site.app_context():
        assert db.session.get(Rating, burst).flag is None and db.session.get(Rating, other).flag == "test"
        assert counted(site.ids["office"]) == 4
    assert "Bí mật Sài Gòn" in signed_in(site, "x@x.vn").get("/manager/misuse").get_data(as_text=True)
