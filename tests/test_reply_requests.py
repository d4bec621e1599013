"""A citizen who wants a reply gives a phone number or e-mail address on the negative-reasons screen:
a complaint case opens even without a comment, its page shows the contact to the office's managers
only, and no export carries it. The administrator's option to keep unmasked comments: off by default
(comments are stored masked), audited when changed, and turning it off masks what was kept."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import select

from survey.cases.operations import open_cases, valid_contact
from survey.extensions import db
from survey.manager.operations import create_user
from survey.models import AuditEntry, ComplaintCase, Rating, ReplyRequest
from survey.rating.operations import add_follow_up
from tests.conftest import hidden_fields, make_place
from tests.results_helpers import office_of, rate
from tests.test_dashboard import PASSWORD, signed_in
from tests.test_rating import tap

PHONE = "0912 345 678"


@pytest.fixture
def offices(app, place):
    """The place's office with its manager, another office (in another province) with its own."""
    with app.app_context():
        other = make_place("HCM")
        create_user("manager@x.vn", "office-manager", place.office_code, password=PASSWORD)
        create_user("other@x.vn", "office-manager", other.office_code, password=PASSWORD)
        create_user("national@x.vn", "national-admin", None, password=PASSWORD)
        create_user("province@x.vn", "province-admin", "HN", password=PASSWORD)
        db.session.commit()
    return place, other


def ask_for_reply(client, place, **data):
    confirm_url = tap(client, place.phone_url, "1", "en")
    reasons_url = f"{confirm_url}/reasons"
    fields = hidden_fields(client.get(reasons_url).get_data(as_text=True))
    return client.post(reasons_url, data={**fields, "reasons": ["long_wait"], "finish": "1", **data})


@pytest.mark.parametrize("contact, valid", [
    ("0912 345 678", True), ("+84 912 345 678", True), ("024 3825 1234", True), ("ban@example.vn", True),
    ("12345", False), ("call me", False), ("ban@", False), ("", False), ("0912 345 678 9", False),
])
def test_a_contact_is_a_phone_number_or_an_email_address(contact, valid):
    assert (valid_contact(contact) is not None) is valid


def test_a_reply_request_opens_a_case_without_a_comment_and_only_the_offices_managers_see_the_contact(app, offices):
    place, other = offices
    sent = ask_for_reply(app.test_client(), place, reply="y", contact=f"  {PHONE} ")
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/thanks?answer=1")
    with app.app_context():
        request_ = db.session.scalar(select(ReplyRequest))
        rating = db.session.get(Rating, request_.rating_id)
        assert request_.contact == PHONE and rating.comment is None and rating.completed_at is not None
        assert open_cases() == 1
        db.session.commit()
        case_id = db.session.scalar(select(ComplaintCase.id).where(ComplaintCase.rating_id == rating.id))
    manager = signed_in(app, "manager@x.vn")
    page = manager.get(f"/manager/cases/{case_id}").get_data(as_text=True)
    assert "The citizen asked for a reply at" in page and PHONE in page
    assert PHONE not in manager.get("/manager/cases").get_data(as_text=True)  # the list shows no contact
    export = manager.get("/manager/export/ratings.csv").get_data(as_text=True)
    assert PHONE not in export and "0912" not in export
    outsider = signed_in(app, "other@x.vn").get(f"/manager/cases/{case_id}")
    assert outsider.status_code == 404 and PHONE not in outsider.get_data(as_text=True)


@pytest.mark.parametrize("contact", ["", "not a number"])
def test_asking_for_a_reply_needs_a_valid_contact(app, offices, contact):
    place, _ = offices
    refused = ask_for_reply(app.test_client(), place, reply="y", contact=contact)
    assert refused.status_code == 400
    assert "Please give a phone number or an e-mail address so we can reply." in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(ReplyRequest.id)) is None


def test_a_contact_without_the_box_ticked_is_not_kept(app, offices):
    place, _ = offices
    assert ask_for_reply(app.test_client(), place, contact=PHONE).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(ReplyRequest.id)) is None
        assert open_cases() == 0  # no comment, no reply request: no case


# --------------------------------------------------------------------------- keeping unmasked comments


def commented(office_code: str, comment: str) -> int:
    rating = rate(office_of(office_code), 1, datetime(2026, 10, 2, 3))[0]
    add_follow_up(rating, {}, comment=comment, now=rating.created_at)
    db.session.commit()
    return rating.id


def settings_form(client):
    return hidden_fields(client.get("/manager/settings").get_data(as_text=True))


def test_comments_are_stored_masked_unless_the_national_administrator_keeps_originals(app, offices):
    place, _ = offices
    with app.app_context():
        masked_id = commented(place.office_code, f"Gọi tôi {PHONE} nhé")
        assert db.session.get(Rating, masked_id).comment == "Gọi tôi [phone number] nhé"  # the original is gone
    manager = signed_in(app, "manager@x.vn", lang="vi")
    page = manager.get(f"/manager/ratings/{masked_id}").get_data(as_text=True)
    assert "Gọi tôi [số điện thoại] nhé" in page and "0912" not in page  # the reader's label
    # Only the national administrator sees or changes the setting.
    assert signed_in(app, "province@x.vn").get("/manager/settings").status_code == 403
    assert manager.get("/manager/settings").status_code == 403
    admin = signed_in(app, "national@x.vn")
    assert 'name="keep_unmasked_comments"' in admin.get("/manager/settings").get_data(as_text=True)
    assert admin.post("/manager/settings", data={"keep_unmasked_comments": "y"}).status_code == 400  # no CSRF token
    saved = admin.post("/manager/settings", data={**settings_form(admin), "keep_unmasked_comments": "y"})
    assert saved.status_code == 302
    with app.app_context():
        kept_id = commented(place.office_code, f"Số của tôi {PHONE}")
        assert db.session.get(Rating, kept_id).comment == f"Số của tôi {PHONE}"
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "setting_changed"))
        assert json.loads(entry.data) == {"setting": "keep_unmasked_comments", "before": False, "after": True}
    manager = signed_in(app, "manager@x.vn")
    rating_page = manager.get(f"/manager/ratings/{kept_id}").get_data(as_text=True)
    assert f"Số của tôi {PHONE}" in rating_page and "Original comment" in rating_page
    assert PHONE not in manager.get("/manager/comments").get_data(as_text=True)     # lists stay masked
    assert PHONE not in manager.get("/manager/export/ratings.csv").get_data(as_text=True)  # and exports
    assert signed_in(app, "other@x.vn").get(f"/manager/ratings/{kept_id}").status_code == 404
    # Turning it off masks what was kept, audited with the count.
    assert admin.post("/manager/settings", data=settings_form(admin)).status_code == 302
    with app.app_context():
        assert db.session.get(Rating, kept_id).comment == "Số của tôi [phone number]"
        entries = db.session.scalars(select(AuditEntry.data).where(AuditEntry.action == "setting_changed")
                                     .order_by(AuditEntry.id)).all()
        assert json.loads(entries[-1]) == {"setting": "keep_unmasked_comments", "before": True, "after": False,
                                           "comments_masked": 1}
    assert PHONE not in manager.get(f"/manager/ratings/{kept_id}").get_data(as_text=True)
