"""Comments in the manager's scope only, with personal data masked on every page that shows them."""

from __future__ import annotations

from datetime import datetime

import pytest

from survey.extensions import db
from survey.manager.operations import create_user
from survey.models import UnitLevel
from tests.results_helpers import rate
from tests.test_dashboard import PASSWORD, signed_in, unit

RAW = {"HN-A": "Chờ lâu quá. Gọi tôi: 0912 345 678, CCCD 001203004567",
       "HN-B": "Cán bộ B thân thiện, mail tran.b@gmail.com",
       "HCM-X": "Bí mật Sài Gòn, hồ sơ H79.22-240301-0012"}


@pytest.fixture
def site(app):
    with app.app_context():
        hn, hcm = unit("HN", UnitLevel.PROVINCE), unit("HCM", UnitLevel.PROVINCE)
        offices = {"HN-A": unit("HN-A", UnitLevel.OFFICE, hn), "HN-B": unit("HN-B", UnitLevel.OFFICE, hn),
                   "HCM-X": unit("HCM-X", UnitLevel.OFFICE, hcm)}
        db.session.flush()
        ids = {}
        for code, office in offices.items():
            rating, silent = rate(office, 2, datetime(2026, 10, 1, 3), 2)
            rating.comment = RAW[code]
            ids[code] = rating.id
            assert silent.comment is None
        create_user("a@x.vn", "office-manager", "HN-A", password=PASSWORD)
        create_user("hn@x.vn", "province-admin", "HN", password=PASSWORD)
        db.session.commit()
    app.rating_ids = ids
    return app


def test_an_office_manager_sees_only_their_comments_masked(site):
    html = signed_in(site, "a@x.vn").get("/manager/comments").get_data(as_text=True)
    assert "Chờ lâu quá. Gọi tôi: [phone number], CCCD [citizen ID number]" in html
    assert "0912" not in html and "001203004567" not in html
    assert "Cán bộ B" not in html and "Sài Gòn" not in html


def test_a_province_admin_sees_the_province_and_can_narrow_to_an_office(site):
    client = signed_in(site, "hn@x.vn")
    html = client.get("/manager/comments").get_data(as_text=True)
    assert "Cán bộ B thân thiện, mail [email address]" in html and "Chờ lâu quá" in html
    assert "Sài Gòn" not in html and "tran.b@" not in html
    narrowed = client.get("/manager/comments?unit=HN-B").get_data(as_text=True)
    assert "Cán bộ B" in narrowed and "Chờ lâu quá" not in narrowed
    response = client.get("/manager/comments?unit=HCM-X")
    assert response.status_code == 404 and "Sài Gòn" not in response.get_data(as_text=True)


def test_the_rating_page_is_masked_and_scoped(site):
    client = signed_in(site, "a@x.vn")
    html = client.get(f"/manager/ratings/{site.rating_ids['HN-A']}").get_data(as_text=True)
    assert "[phone number]" in html and "0912" not in html
    for code in ("HN-B", "HCM-X"):
        response = client.get(f"/manager/ratings/{site.rating_ids[code]}")
        assert response.status_code == 404 and RAW[code][:10] not in response.get_data(as_text=True)


def test_masks_speak_vietnamese(site):
    html = signed_in(site, "a@x.vn", "vi").get("/manager/comments").get_data(as_text=True)
    assert "[số điện thoại]" in html and "[số định danh cá nhân]" in html


@pytest.mark.parametrize("path", ["/manager/comments", "/manager/cases", "/manager/misuse", "/manager/audit"])
@pytest.mark.parametrize("page", ["0", "x", "-1", "999999999"])
def test_a_bad_page_is_a_400(site, page, path):
    """Every paged list refuses a page that is not 1–100,000 with a 400 saying so (the audit log as the
    province administrator, who may read it)."""
    email = "hn@x.vn" if path == "/manager/audit" else "a@x.vn"
    response = signed_in(site, email, "en").get(f"{path}?page={page}")
    assert response.status_code == 400
    assert "The page must be a whole number from 1." in response.get_data(as_text=True)
    assert signed_in(site, email, "en").get(f"{path}?page=1").status_code == 200


def test_comments_are_never_on_public_pages(site):
    client = site.test_client()
    for path in ("/", "/u/HN-A", "/u/HN", "/api/v1/results?level=office&period=2026-10"):
        body = client.get(path).get_data(as_text=True)
        assert "Chờ lâu quá" not in body and "0912" not in body
