"""API keys on the manager pages: administrators create (the key shown once, its hash stored), list
and revoke the keys of their scope; every action is in the audit log; the key page shows when the key
was last used and what it registered (``transactions.api_key_id``)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from survey.api.keys import audit_unit, create_api_key, note_use
from survey.extensions import db
from survey.manager.operations import create_user
from survey.models import ApiKey, AuditEntry, Transaction, TransactionImport, Unit, UnitLevel, User
from tests.conftest import hidden_fields, make_place
from tests.results_helpers import rate
from tests.test_dashboard import PASSWORD, signed_in

KEY = re.compile(r'id="api-key"[^>]*value="(svk_[^"]+)"')


@pytest.fixture
def world(app):
    """Hà Nội with two offices, Hồ Chí Minh with one; a national and two provincial administrators
    and an office manager."""
    with app.app_context():
        hn1, hn2, hcm = make_place("HN"), make_place("HN"), make_place("HCM")
        create_user("national@x.vn", "national-admin", None, password=PASSWORD)
        create_user("admin-hn@x.vn", "province-admin", "HN", password=PASSWORD)
        create_user("admin-hcm@x.vn", "province-admin", "HCM", password=PASSWORD)
        create_user("manager@x.vn", "office-manager", hn1.office_code, password=PASSWORD)
        db.session.commit()
    app.places = {"hn1": hn1, "hn2": hn2, "hcm": hcm}
    return app


def create_on_the_page(client, name: str, units: list[str]):
    form = hidden_fields(client.get("/manager/api-keys").get_data(as_text=True))
    return client.post("/manager/api-keys", data={**form, "name": name, "units": units})


def register(client, key: str, place, code: str):
    return client.post("/api/v1/transactions", headers={"Authorization": f"Bearer {key}"}, json={
        "dossier_code": code, "office_code": place.office_code, "procedure_code": "1.005169",
        "received_at": "2026-03-01T08:15:00+07:00"})


def key_row(app, name: str) -> ApiKey:
    with app.app_context():
        row = db.session.scalar(select(ApiKey).where(ApiKey.name == name))
        db.session.expunge_all()
        return row


def test_an_administrator_creates_a_key_that_is_shown_once_and_stored_as_its_hash(world):
    client = signed_in(world, "admin-hn@x.vn")
    response = create_on_the_page(client, "Một cửa điện tử Hà Nội", ["HN"])
    assert response.status_code == 201
    key = KEY.search(response.get_data(as_text=True)).group(1)
    stored = key_row(world, "Một cửa điện tử Hà Nội")
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest() and stored.key_start == key[:12]
    assert stored.last_used_at is None
    # Never again: neither the list nor the key's own page holds the key.
    listing = client.get("/manager/api-keys").get_data(as_text=True)
    page = client.get(f"/manager/api-keys/{stored.id}").get_data(as_text=True)
    assert "Một cửa điện tử Hà Nội" in listing and key[:12] in listing
    assert key not in listing and key not in page and "never" in page
    with world.app_context():
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "api_key_created"))
        assert entry.actor.email == "admin-hn@x.vn" and entry.target_id == stored.id
        assert entry.unit.code == "HN" and json.loads(entry.data)["units"] == ["HN"]

    # The key works, records the transactions it registers and its time of use.
    hn1 = world.places["hn1"]
    api = world.test_client()
    assert register(api, key, hn1, "000.00.16.H26-260301-0001").status_code == 201
    assert register(api, key, hn1, "000.00.16.H26-260301-0002").status_code == 201
    with world.app_context():
        assert set(db.session.scalars(select(Transaction.api_key_id))) == {stored.id}
        rated = rate(db.session.get(Unit, hn1.office_id), 5, datetime(2026, 3, 2, 3))[0]
        rated.transaction_ref = "000.00.16.H26-260301-0001"  # as the single-use link stores it
        db.session.commit()
    used = key_row(world, "Một cửa điện tử Hà Nội").last_used_at
    assert used is not None and abs(datetime.utcnow() - used) < timedelta(minutes=5)
    page = client.get(f"/manager/api-keys/{stored.id}").get_data(as_text=True)
    assert used.strftime("%Y-%m-%d %H:%M") in page
    activity = re.search(r'<tr><th scope="row">Public Administration Service Centre</th>(.*?)</tr>', page, re.S)
    # Two registered, both in the last 30 days, one rated through its link.
    assert re.findall(r"<td>([^<]*)</td>", activity.group(1))[:3] == ["2", "2", "1"]


def test_revoking_on_the_page_refuses_the_key_at_once_and_is_audited(world):
    client = signed_in(world, "admin-hn@x.vn")
    key = KEY.search(create_on_the_page(client, "HN system", ["HN"]).get_data(as_text=True)).group(1)
    key_id = key_row(world, "HN system").id
    api = world.test_client()
    assert register(api, key, world.places["hn1"], "000.00.16.H26-260301-0001").status_code == 201
    form = hidden_fields(client.get(f"/manager/api-keys/{key_id}").get_data(as_text=True))
    response = client.post(f"/manager/api-keys/{key_id}/revoke", data=form)
    assert response.status_code == 302
    assert "revoked" in client.get(f"/manager/api-keys/{key_id}").get_data(as_text=True)
    refused = register(api, key, world.places["hn1"], "000.00.16.H26-260301-0002")
    assert refused.status_code == 401 and refused.json["code"] == "invalid_api_key"
    # Revoking again changes nothing and writes no second entry.
    client.post(f"/manager/api-keys/{key_id}/revoke", data=form)
    with world.app_context():
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "api_key_revoked")).all()
        assert [(e.actor.email, e.target_id, e.unit.code) for e in entries] == [("admin-hn@x.vn", key_id, "HN")]
    # Without the CSRF token nothing is revoked.
    other = KEY.search(create_on_the_page(client, "second", ["HN"]).get_data(as_text=True)).group(1)
    other_id = key_row(world, "second").id
    assert client.post(f"/manager/api-keys/{other_id}/revoke").status_code == 400
    assert key_row(world, "second").revoked_at is None
    assert register(api, other, world.places["hn1"], "000.00.16.H26-260301-0003").status_code == 201


def test_a_provincial_administrator_works_only_inside_the_province(world):
    hcm = world.places["hcm"]
    with world.app_context():
        _, _ = create_api_key("key of HCM", ["HCM"])
        _, _ = create_api_key("key of HN and HCM", ["HN", "HCM"])
        _, _ = create_api_key("key of two HN offices",
                              [world.places["hn1"].office_code, world.places["hn2"].office_code])
        db.session.commit()
        ids = {k.name: k.id for k in db.session.scalars(select(ApiKey))}
    client = signed_in(world, "admin-hn@x.vn")
    listing = client.get("/manager/api-keys").get_data(as_text=True)
    assert "key of two HN offices" in listing
    assert "key of HCM" not in listing and "key of HN and HCM" not in listing
    assert hcm.office_code not in listing and ">HCM" not in listing  # not even offered in the form
    form = hidden_fields(listing)
    for name in ("key of HCM", "key of HN and HCM"):
        assert client.get(f"/manager/api-keys/{ids[name]}").status_code == 404
        assert client.post(f"/manager/api-keys/{ids[name]}/revoke", data=form).status_code == 404
        assert key_row(world, name).revoked_at is None
    # A key for another province's unit is refused and nothing is stored.
    for units in (["HCM"], [hcm.office_code], ["HN", "HCM"]):
        response = create_on_the_page(client, "intruder", units)
        assert response.status_code == 400 and not KEY.search(response.get_data(as_text=True))
    assert key_row(world, "intruder") is None
    # A blank name is refused with the form's message, not an error page.
    response = create_on_the_page(client, "   ", ["HN"])
    assert response.status_code == 400
    assert "Please say which system will use the key." in response.get_data(as_text=True)
    with world.app_context():
        assert db.session.scalar(select(ApiKey.id).where(ApiKey.name.in_(["", "   "]))) is None
    # The national administrator sees every key; the other province's administrator only its own.
    national = signed_in(world, "national@x.vn").get("/manager/api-keys").get_data(as_text=True)
    assert all(name in national for name in ids)
    hcm_listing = signed_in(world, "admin-hcm@x.vn").get("/manager/api-keys").get_data(as_text=True)
    assert "key of HCM" in hcm_listing and "key of HN and HCM" not in hcm_listing
    assert "key of two HN offices" not in hcm_listing


def test_office_managers_have_no_key_pages(world):
    with world.app_context():
        _, _ = create_api_key("key of HN", ["HN"])
        db.session.commit()
        key_id = db.session.scalar(select(ApiKey.id))
    client = signed_in(world, "manager@x.vn")
    assert client.get("/manager/api-keys").status_code == 403
    assert client.get(f"/manager/api-keys/{key_id}").status_code == 403
    assert "/manager/api-keys" not in client.get("/manager/kiosks").get_data(as_text=True)


def test_a_key_for_several_units_is_audited_under_their_lowest_common_unit(world):
    with world.app_context():
        units = {u.code: u for u in db.session.scalars(select(Unit))}
        hn1, hn2 = units[world.places["hn1"].office_code], units[world.places["hn2"].office_code]
        assert audit_unit([hn1, hn2]).code == "HN"
        assert audit_unit([hn1, units[world.places["hn1"].counter_code]]) is hn1
        assert audit_unit([hn1, units["HCM"]]) is None
        assert audit_unit([units["HCM"]]).code == "HCM"
        assert units["HN"].level == UnitLevel.PROVINCE


def test_the_time_of_use_is_written_at_most_once_a_minute(world):
    with world.app_context():
        key, _ = create_api_key("key", ["HN"])
        db.session.commit()
        now = datetime(2026, 3, 1, 10, 0, 0)
        assert note_use(key.id, None, now=now)
        assert not note_use(key.id, now, now=now + timedelta(seconds=59))
        assert note_use(key.id, now, now=now + timedelta(seconds=60))
        db.session.commit()
        assert db.session.get(ApiKey, key.id).last_used_at == now + timedelta(seconds=60)


def test_the_first_registering_key_is_kept_and_the_command_line_import_has_none(world, runner, tmp_path):
    hn1 = world.places["hn1"]
    with world.app_context():
        first, key_first = create_api_key("first", ["HN"])
        second, key_second = create_api_key("second", ["HN"])
        db.session.commit()
        first_id, second_id = first.id, second.id
    api = world.test_client()
    assert register(api, key_first, hn1, "000.00.16.H26-260301-0001").status_code == 201
    assert register(api, key_second, hn1, "000.00.16.H26-260301-0001").status_code == 200  # unchanged re-send
    assert register(api, key_second, hn1, "000.00.16.H26-260301-0002").status_code == 201
    csv = tmp_path / "t.csv"
    csv.write_text("dossier_code,office_code,procedure_code,received_at\n"
                   f"000.00.16.H26-260301-0003,{hn1.office_code},1.005169,2026-03-01T08:15:00+07:00\n")
    result = runner.invoke(args=["transactions", "import", str(csv)])
    assert result.exit_code == 0, result.output
    with world.app_context():
        stored = dict(db.session.execute(select(Transaction.dossier_code, Transaction.api_key_id)).all())
    assert stored == {"000.00.16.H26-260301-0001": first_id, "000.00.16.H26-260301-0002": second_id,
                      "000.00.16.H26-260301-0003": None}


def upload(client, body: bytes, *, token: bool = True):
    import io

    form = hidden_fields(client.get("/manager/transactions/import").get_data(as_text=True)) if token else {}
    return client.post("/manager/transactions/import", content_type="multipart/form-data",
                       data={**form, "file": (io.BytesIO(body), "dossiers.csv")})


def facts_of(html: str) -> dict[str, str]:
    return dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", html))


def import_page(client, response) -> str:
    """The import's own page, where the upload redirects (the job ran inline: no Redis in these tests)."""
    assert response.status_code == 302 and "/manager/transactions/imports/" in response.headers["Location"]
    return client.get(response.headers["Location"], query_string={"lang": "en"}).get_data(as_text=True)


def test_an_administrator_imports_a_csv_file_for_the_offices_of_the_scope(world):
    hn1, hcm = world.places["hn1"], world.places["hcm"]
    lines = ["dossier_code,office_code,procedure_code,received_at,returned_at",
             f"000.00.16.H26-260301-0001,{hn1.office_code},1.005169,2026-03-01T08:15:00+07:00,",
             f"000.00.16.H26-260301-0002,{hn1.office_code},1.005169,2026-03-01T09:00:00,2026-03-02T10:00:00",
             f"000.00.16.H26-260301-0003,{hcm.office_code},1.005169,2026-03-01T08:15:00+07:00,",  # other province
             f"000.00.16.H26-260230-0004,{hn1.office_code},1.005169,2026-03-01T08:15:00+07:00,"]  # 30 February
    client = signed_in(world, "admin-hn@x.vn")
    html = import_page(client, upload(client, ("\n".join(lines) + "\n").encode()))
    facts = facts_of(html)
    assert (facts["Lines read"], facts["New transactions"], facts["Refused"]) == ("4", "2", "2")
    assert "Finished" in html and 'http-equiv="refresh"' not in html
    refused = re.findall(r'<tr><th scope="row">(\d+)</th><td><code>([a-z_]+)</code></td><td>([^<]+)</td>', html)
    assert [(line, code) for line, code, _ in refused] == [("4", "out_of_scope"), ("5", "bad_dossier_code")]
    assert refused[0][2] == "This API key may not register or read transactions of this office."
    # The same page in Vietnamese gives the reasons in Vietnamese.
    location = client.get("/manager/transactions/import").get_data(as_text=True)
    vi = client.get(re.search(r'href="(/manager/transactions/imports/\d+)"', location).group(1),
                    query_string={"lang": "vi"}).get_data(as_text=True)
    assert "Khóa API này không được phép" in vi
    with world.app_context():
        stored = dict(db.session.execute(select(Transaction.dossier_code, Transaction.api_key_id)).all())
        returned = db.session.scalar(select(Transaction.returned_at).where(
            Transaction.dossier_code == "000.00.16.H26-260301-0002"))
        kept = db.session.scalar(select(TransactionImport.content))
    assert stored == {"000.00.16.H26-260301-0001": None, "000.00.16.H26-260301-0002": None}
    assert returned == datetime(2026, 3, 2, 3, 0)  # 10:00 in Vietnam
    assert kept is None  # the file is not kept once imported
    with world.app_context():
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "transactions_uploaded"))
        assert (entry.actor.email, entry.unit.code, json.loads(entry.data)["file"]) == (
            "admin-hn@x.vn", "HN", "dossiers.csv")
    # The same file again changes nothing.
    again = facts_of(import_page(client, upload(client, ("\n".join(lines) + "\n").encode())))
    assert (again["New transactions"], again["Unchanged"], again["Refused"]) == ("0", "2", "2")
    # Another province's administrator cannot open the import; the national one can.
    import_id = location and re.search(r"/manager/transactions/imports/(\d+)", location).group(1)
    assert signed_in(world, "admin-hcm@x.vn").get(f"/manager/transactions/imports/{import_id}").status_code == 404
    assert signed_in(world, "national@x.vn").get(f"/manager/transactions/imports/{import_id}").status_code == 200


def test_the_import_counts_move_on_after_each_batch(world):
    """Progress: the job writes the counts after every committed batch; read between batches."""
    from survey.transactions.csv_import import run_import, start_import
    from survey.transactions import csv_import

    hn1 = world.places["hn1"]
    rows = [f"000.00.16.H26-260301-{i:04d},{hn1.office_code},1.005169,2026-03-01T08:15:00+07:00\n"
            for i in range(1, 8)]
    body = ("dossier_code,office_code,procedure_code,received_at\n" + "".join(rows)).encode()
    seen = []
    original = csv_import.import_transactions

    def watching(lines, caller, *, batch_size, progress):
        def after_batch(report):
            progress(report)
            with world.app_context():  # another session sees what was committed so far
                row = db.session.get(TransactionImport, upload_id)
                seen.append((row.state, row.rows, row.created))
        return original(lines, caller, batch_size=batch_size, progress=after_batch)

    with world.app_context():
        admin = db.session.scalar(select(User).where(User.email == "admin-hn@x.vn"))
        upload_id = start_import(body, "seven.csv", actor=admin, scope_unit_id=admin.scope_unit_id).id
        db.session.commit()
        csv_import.import_transactions = watching
        try:
            run_import(upload_id, batch_size=3)
        finally:
            csv_import.import_transactions = original
        done = db.session.get(TransactionImport, upload_id)
        assert (done.state, done.rows, done.created, done.content) == ("done", 7, 7, None)
    assert seen == [("running", 3, 3), ("running", 6, 6), ("running", 7, 7)]


def test_a_larger_file_than_a_form_may_send_is_accepted_from_a_signed_in_administrator(world):
    hn1 = world.places["hn1"]
    header = "dossier_code,office_code,procedure_code,received_at,officer_code\n"
    rows = [f"000.00.16.H26-260301-{i:04d},{hn1.office_code},1.005169,2026-03-01T08:15:00+07:00,CB-{'x' * 40}\n"
            for i in range(1, 1201)]
    body = (header + "".join(rows)).encode()
    assert 64 * 1024 < len(body) < 1024 * 1024
    client = signed_in(world, "admin-hn@x.vn")
    facts = facts_of(import_page(client, upload(client, body)))
    assert facts["New transactions"] == "1,200"
    # Anonymous, the same body is refused before it is read.
    assert world.test_client().post("/manager/transactions/import", data=body,
                                    content_type="text/csv").status_code == 413


def test_the_import_refuses_what_it_cannot_read_and_those_who_may_not(world):
    client = signed_in(world, "admin-hn@x.vn")
    html = import_page(client, upload(client, b"dossier,office\nx,y\n"))
    assert "Stopped: the file cannot be read" in html and "Unknown column" in html
    html = import_page(client, upload(client, "\ufeffdossier_code\n".encode("utf-16")))
    assert "The file must be UTF-8 text." in html
    assert upload(client, b"x", token=False).status_code == 400  # no CSRF token
    assert signed_in(world, "manager@x.vn").get("/manager/transactions/import").status_code == 403
    with world.app_context():
        assert db.session.scalar(select(Transaction.id)) is None
