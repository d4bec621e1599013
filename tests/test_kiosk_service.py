"""Kiosks registered and revoked through one service, from the dashboard and the command line, each
change written to the audit log by the operation itself."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from survey.extensions import db
from survey.manager.operations import create_user
from survey.models import AuditEntry, Kiosk, UnitLevel
from tests.conftest import hidden_fields
from tests.test_dashboard import PASSWORD, signed_in, unit


@pytest.fixture
def site(app):
    with app.app_context():
        hn, hcm = unit("HN", UnitLevel.PROVINCE), unit("HCM", UnitLevel.PROVINCE)
        office, other = unit("HNA", UnitLevel.OFFICE, hn), unit("HNB", UnitLevel.OFFICE, hn)
        unit("HNA-Q1", UnitLevel.COUNTER, office)
        unit("HNB-Q1", UnitLevel.COUNTER, other)
        unit("HCMX", UnitLevel.OFFICE, hcm)
        db.session.flush()
        create_user("a@x.vn", "office-manager", "HNA", password=PASSWORD)
        create_user("hn@x.vn", "province-admin", "HN", password=PASSWORD)
        create_user("hcm@x.vn", "province-admin", "HCM", password=PASSWORD)
        db.session.commit()
    return app


def register(client, **data):
    page = client.get("/manager/kiosks").get_data(as_text=True)
    return client.post("/manager/kiosks", data={**hidden_fields(page), "counter": "", "label": "Tablet 1", **data})


def kiosk_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Kiosk.id)))


def test_register_a_kiosk_open_its_address_and_rate(site):
    client = signed_in(site, "a@x.vn")
    form = client.get("/manager/kiosks").get_data(as_text=True)
    assert 'value="HNA"' in form and 'value="HNA-Q1"' in form
    assert "HNB" not in form and "HCMX" not in form  # only the offices and counters of the scope are offered
    response = register(client, office="HNA", counter="HNA-Q1", label="  Quầy 1   tablet ")
    assert response.status_code == 201
    html = response.get_data(as_text=True)
    address = re.search(r'id="kiosk-address"[^>]*value="([^"]+)"', html)[1]
    assert "/kiosk/" in address and 'src="data:image/svg+xml' in html
    kiosk_page = site.test_client().get(address.replace("http://localhost", ""))
    assert kiosk_page.status_code == 200
    with site.app_context():
        kiosk = db.session.scalar(select(Kiosk))
        assert kiosk.office.code == "HNA" and kiosk.counter.code == "HNA-Q1" and kiosk.label == "Quầy 1 tablet"
        assert address.rsplit("/", 1)[1] not in kiosk.token_hash  # only the hash is stored
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "kiosk_registered"))
        assert entry.actor.email == "a@x.vn" and entry.target_id == kiosk.id and entry.unit.code == "HNA"
        assert json.loads(entry.data) == {"label": "Quầy 1 tablet", "counter": "HNA-Q1"}
        assert address.rsplit("/", 1)[1] not in entry.data


@pytest.mark.parametrize("data", [
    {"office": "HCMX"},  # another province
    {"office": "HNB"},  # a sibling office
    {"office": "HNA", "counter": "HNB-Q1"},  # a counter outside the scope
])
def test_no_kiosk_outside_the_scope(site, data):
    response = register(signed_in(site, "a@x.vn"), **data)
    assert response.status_code in (400, 404) and kiosk_count(site) == 0


def test_a_counter_of_another_office_is_refused_with_a_message(site):
    response = register(signed_in(site, "hn@x.vn", "vi"), office="HNA", counter="HNB-Q1")
    assert response.status_code == 400 and "Quầy này không thuộc bộ phận một cửa đã chọn." in response.get_data(
        as_text=True)
    assert kiosk_count(site) == 0


@pytest.mark.parametrize("label, status", [("", 400), ("x" * 101, 400), ("   ", 400)])
def test_a_kiosk_needs_a_name(site, label, status):
    assert register(signed_in(site, "a@x.vn"), office="HNA", label=label).status_code == status
    assert kiosk_count(site) == 0


def test_revoke_stops_the_address_and_is_audited(site):
    client = signed_in(site, "a@x.vn")
    html = register(client, office="HNA").get_data(as_text=True)
    address = re.search(r'id="kiosk-address"[^>]*value="([^"]+)"', html)[1].replace("http://localhost", "")
    with site.app_context():
        kiosk_id = db.session.scalar(select(Kiosk.id))
    page = client.get(f"/manager/kiosks/{kiosk_id}").get_data(as_text=True)
    # Another province's administrator cannot revoke it (and learns nothing about it).
    stranger = signed_in(site, "hcm@x.vn")
    other_page = stranger.get("/manager/kiosks").get_data(as_text=True)
    response = stranger.post(f"/manager/kiosks/{kiosk_id}/revoke", data=hidden_fields(other_page))
    assert response.status_code == 404 and "Tablet 1" not in response.get_data(as_text=True)
    assert client.post(f"/manager/kiosks/{kiosk_id}/revoke").status_code == 400  # no CSRF token
    assert site.test_client().get(address).status_code == 200
    response = client.post(f"/manager/kiosks/{kiosk_id}/revoke", data=hidden_fields(page))
    assert response.status_code == 302
    assert "no longer works" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert site.test_client().get(address).status_code == 403
    client.post(f"/manager/kiosks/{kiosk_id}/revoke", data=hidden_fields(page))  # twice: one entry
    with site.app_context():
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "kiosk_revoked")).all()
        assert [(e.actor.email, e.target_id) for e in entries] == [("a@x.vn", kiosk_id)]


def test_the_command_line_uses_the_same_service(site):
    result = site.test_cli_runner().invoke(args=["register-kiosk", "HNA", "--counter", "HNA-Q1", "--label", "CLI"])
    assert result.exit_code == 0 and result.output.startswith("/kiosk/")
    with site.app_context():
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "kiosk_registered"))
        assert entry.actor_id is None and entry.unit.code == "HNA"


def test_audit_log_is_read_by_administrators_in_scope_and_never_edited(site):
    register(signed_in(site, "a@x.vn"), office="HNA", label="Tablet HNA")
    register(signed_in(site, "hcm@x.vn"), office="HCMX", label="Tablet HCMX")
    html = signed_in(site, "hn@x.vn").get("/manager/audit").get_data(as_text=True)
    assert "Kiosk registered" in html and "Tablet HNA" in html and "a@x.vn" in html
    assert "Tablet HCMX" not in html and "hcm@x.vn" not in html
    assert signed_in(site, "a@x.vn").get("/manager/audit").status_code == 403
    with site.app_context():
        created = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "user_created")).all()
        assert {json.loads(e.data)["email"] for e in created} == {"a@x.vn", "hn@x.vn", "hcm@x.vn"}
        entry = created[0]
        entry.action = "nothing happened"
        with pytest.raises(ValueError, match="never changed"):
            db.session.flush()
        db.session.rollback()
        db.session.delete(db.session.get(AuditEntry, entry.id))
        with pytest.raises(ValueError, match="never changed"):
            db.session.flush()


def test_api_key_changes_are_audited(site):
    result = site.test_cli_runner().invoke(args=["api-keys", "create", "--unit", "HNA", "--name", "Một cửa HN"])
    assert result.exit_code == 0, result.output
    with site.app_context():
        from survey.models import ApiKey

        key_id = db.session.scalar(select(ApiKey.id))
    assert site.test_cli_runner().invoke(args=["api-keys", "revoke", str(key_id)]).exit_code == 0
    with site.app_context():
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.target_type == "api_keys")
                                     .order_by(AuditEntry.id)).all()
        assert [(e.action, e.target_id, e.unit.code, e.actor_id) for e in entries] == [
            ("api_key_created", key_id, "HNA", None), ("api_key_revoked", key_id, "HNA", None)]
        assert json.loads(entries[0].data) == {"name": "Một cửa HN", "units": ["HNA"]}
    html = signed_in(site, "hn@x.vn").get("/manager/audit").get_data(as_text=True)
    assert "API key created" in html and "API key revoked" in html
    # The other province's administrator sees no entry of it (the menu's "API keys" link aside).
    other = signed_in(site, "hcm@x.vn").get("/manager/audit").get_data(as_text=True)
    assert "API key created" not in other and "API key revoked" not in other
