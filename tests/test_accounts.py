"""Administrators create accounts inside their scope from the dashboard; the operation audits it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from survey.extensions import db
from survey.manager.operations import create_user
from survey.models import AuditEntry, User, UnitLevel
from tests.conftest import hidden_fields
from tests.test_dashboard import PASSWORD, signed_in, unit


@pytest.fixture
def site(app):
    with app.app_context():
        hn, hcm = unit("HN", UnitLevel.PROVINCE), unit("HCM", UnitLevel.PROVINCE)
        unit("HNA", UnitLevel.OFFICE, hn)
        unit("HCMX", UnitLevel.OFFICE, hcm)
        db.session.flush()
        create_user("hn@x.vn", "province-admin", "HN", password=PASSWORD)
        create_user("a@x.vn", "office-manager", "HNA", password=PASSWORD)
        db.session.commit()
    return app


def create(client, **data):
    page = client.get("/manager/users").get_data(as_text=True)
    return client.post("/manager/users", data={**hidden_fields(page), "name": "Nguyễn Văn B", **data})


def accounts(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(User.id)))


def test_a_provincial_administrator_creates_an_office_manager(site):
    client = signed_in(site, "hn@x.vn")
    response = create(client, email="b@x.vn", role="office-manager", unit="HNA")
    assert response.status_code == 201
    password = re.search(r'id="one-time-password"[^>]*value="([^"]+)"', response.get_data(as_text=True))[1]
    assert signed_in_with(site, "b@x.vn", password)
    with site.app_context():
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user_created",
                                                           AuditEntry.actor_id.is_not(None)))
        assert entry.actor.email == "hn@x.vn" and entry.unit.code == "HNA" and password not in (entry.data or "")


def signed_in_with(app, email, password) -> bool:
    client = app.test_client()
    page = client.get("/manager/sign-in").get_data(as_text=True)
    return client.post("/manager/sign-in", data={**hidden_fields(page), "email": email,
                                                 "password": password}).status_code == 302


@pytest.mark.parametrize("data", [
    {"role": "national-admin", "unit": ""},  # not a role a provincial administrator may give
    {"role": "office-manager", "unit": "HCMX"},  # outside the province
])
def test_nothing_outside_what_the_administrator_may_give(site, data):
    before = accounts(site)
    response = create(signed_in(site, "hn@x.vn"), email="c@x.vn", **data)
    assert response.status_code in (400, 404) and accounts(site) == before


@pytest.mark.parametrize("data, message", [
    ({"email": "d@x.vn", "role": "office-manager", "unit": "HN"}, "Vai trò này phải gắn với đơn vị ở cấp khác."),
    ({"email": "A@X.vn", "role": "office-manager", "unit": "HNA"}, "Đã có tài khoản với thư điện tử này."),
    ({"email": "d@x.vn", "role": "office-manager", "unit": ""}, "Vai trò này cần gắn với một đơn vị."),
])
def test_refusals_say_why_in_the_persons_language(site, data, message):
    before = accounts(site)
    response = create(signed_in(site, "hn@x.vn", "vi"), **data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert accounts(site) == before


def test_office_managers_cannot_manage_accounts(site):
    client = signed_in(site, "a@x.vn")
    assert client.get("/manager/users").status_code == 403
    page = client.get("/manager/").get_data(as_text=True)
    response = client.post("/manager/users", data={**hidden_fields(page), "email": "e@x.vn", "name": "E",
                                                   "role": "office-manager", "unit": "HNA"})
    assert response.status_code == 403 and accounts(site) == 2
