"""Authorisation as a matrix: every role × every manager resource × inside / outside the role's scope.

Outside the scope the answer is 403 or 404 and the body holds none of the outside data (unit codes
and names, comments, kiosk labels, API key names, uploaded file names, account e-mails); inside it is a 200 that shows the data.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from sqlalchemy import select

from survey.api.keys import create_api_key
from survey.alerts.operations import refresh_alerts
from survey.cases.operations import open_cases
from survey.extensions import db
from survey.misuse.operations import flag_rating
from survey.manager.operations import create_user
from survey.models import ApiKey, AuditEntry, ComplaintCase, FlagReview, Kiosk, Rating, TransactionImport, Unit, UnitIndexScore, UnitLevel, User
from survey.results.service import forget_live_results
from survey.results.tree import forget_unit_tree
from tests.conftest import hidden_fields
from tests.results_helpers import rate
from tests.test_dashboard import PASSWORD, signed_in, unit

#: Offices: (province, office code). Each gets a counter, a kiosk, an API key, two rated comments and a manager.
OFFICES = {"HNA": "HN", "HNB": "HN", "HCMX": "HCM"}
ACCOUNTS = {  # e-mail → (role, unit)
    "national@x.vn": ("national-admin", None),
    "admin-hn@x.vn": ("province-admin", "HN"),
    "admin-hcm@x.vn": ("province-admin", "HCM"),
    "manager-hna@x.vn": ("office-manager", "HNA"),
    "manager-hnb@x.vn": ("office-manager", "HNB"),
    "manager-hcmx@x.vn": ("office-manager", "HCMX"),
}
#: What each account may see: the offices of its scope.
VISIBLE = {
    "national@x.vn": {"HNA", "HNB", "HCMX"},
    "admin-hn@x.vn": {"HNA", "HNB"},
    "admin-hcm@x.vn": {"HCMX"},
    "manager-hna@x.vn": {"HNA"},
}


LANGUAGE_LINK = re.compile(r'<a class="language-link"[^>]*>')


def leaks(office: str, body: str) -> list[str]:
    """The outside office's data in ``body``; the language link, which repeats the address the
    person asked for, is not data."""
    body = LANGUAGE_LINK.sub("", body)
    return [m for m in markers(office) if m in body]


def markers(office: str) -> list[str]:
    """Strings that only appear in a response that discloses this office's data."""
    return [office, f"Đơn vị {office}", f"Unit {office}", f"comment of {office}", f"kiosk of {office}",
            f"manager-{office.lower()}@x.vn", f"key of {office}",
            f"import of {office}"]


@pytest.fixture(scope="module")
def world(tmp_path_factory, request):
    """One database for the whole matrix: a SQLite copy, or a private PostgreSQL schema with
    ``SURVEY_TEST_DATABASE=postgres`` (the scope's recursive query differs by database)."""
    import shutil

    from survey.cli import init_database
    from tests.conftest import TEST_DATABASE, _drop_schema, _new_postgres_schema, make_app

    schema = None
    if TEST_DATABASE == "postgres":
        engine, uri, name = _new_postgres_schema(required=True)
        schema = (engine, name)
        app = make_app(uri, RESULTS_TODAY=date(2026, 10, 20))
        with app.app_context():
            init_database()
    else:
        path = tmp_path_factory.mktemp("authz") / "authz.sqlite"
        shutil.copy(request.getfixturevalue("migrated_sqlite"), path)
        app = make_app(f"sqlite:///{path}", RESULTS_TODAY=date(2026, 10, 20))
    forget_live_results()
    forget_unit_tree()
    ids: dict[str, dict] = {}
    with app.app_context():
        provinces = {code: unit(code, UnitLevel.PROVINCE) for code in ("HN", "HCM")}
        for code, province in OFFICES.items():
            office = unit(code, UnitLevel.OFFICE, provinces[province])
            counter = unit(f"{code}-Q1", UnitLevel.COUNTER, office)
            kiosk = Kiosk(office=office, counter=counter, label=f"kiosk of {code}", token_hash=f"hash-{code}")
            db.session.add(kiosk)
            db.session.flush()
            ratings = rate(office, 2, datetime(2026, 10, 2, 3), 3, counter=counter)
            for rating in ratings[:2]:
                rating.comment = f"comment of {code}: call 0912 345 678"
                rating.completed_at = rating.created_at  # the citizen sent the follow-up
            ratings[2].kiosk_id = kiosk.id
            flag_rating(ratings[2], "burst")  # one flagged rating per office, for the misuse review
            api_key, _ = create_api_key(f"key of {code}", [code])
            upload = TransactionImport(file_name=f"import of {code}", scope_unit_id=provinces[province].id,
                                       state="done")
            db.session.add(upload)
            db.session.flush()
            ids[code] = {"unit": office.id, "counter": counter.code, "kiosk": kiosk.id, "rating": ratings[0].id,
                         "flagged": ratings[2].id, "api key": api_key.id,
                         "import": upload.id}
        open_cases(now=datetime(2026, 10, 2, 4))  # the two unhappy comments of each office open cases
        refresh_alerts(now=datetime(2026, 10, 20, 3))  # overdue by now: one alert per office
        for code in OFFICES:
            ids[code]["case"] = db.session.scalar(select(ComplaintCase.id).where(
                ComplaintCase.rating_id == ids[code]["rating"]))
        for email, (role, code) in ACCOUNTS.items():
            create_user(email, role, code, password=PASSWORD)
        db.session.commit()
        users = {u.email: u.id for u in db.session.query(User)}
    app.ids, app.user_ids = ids, users
    clients = {}

    def client_for(email):
        if email not in clients:
            clients[email] = signed_in(app, email)
        return clients[email]

    app.client_for = client_for
    yield app
    forget_live_results()
    forget_unit_tree()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if schema is not None:
        _drop_schema(*schema)


def xlsx_offices(data: bytes) -> set[str]:
    """The office codes in an XLSX export (its cells are compressed: read them, not the bytes)."""
    import io

    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True)
    try:
        return {row[2] for row in list(book["ratings"].iter_rows(values_only=True))[1:]}
    finally:
        book.close()


def office_resources(world, office: str) -> dict[str, str]:
    """Every address that shows one office's data, by resource."""
    ids = world.ids[office]
    return {
        "unit page": f"/manager/u/{office}?period=2026-10",
        "unit details": f"/manager/units/{office}",
        "counter details": f"/manager/units/{ids['counter']}",
        "counter page": f"/manager/u/{ids['counter']}",
        "comments": f"/manager/comments?unit={office}",
        "rating": f"/manager/ratings/{ids['rating']}",
        "export": f"/manager/export/ratings.csv?unit={office}",
        "xlsx export": f"/manager/export/ratings.xlsx?unit={office}",
        "kiosk": f"/manager/kiosks/{ids['kiosk']}",
        "complaint case": f"/manager/cases/{ids['case']}",
        "complaint cases": f"/manager/cases?unit={office}",
        "misuse review": f"/manager/misuse?unit={office}",
        "alerts": f"/manager/alerts?unit={office}",
        "manager account": f"/manager/users/{world.user_ids[f'manager-{office.lower()}@x.vn']}",
        "office poster": f"/manager/u/{office}/poster.svg",
        "counter poster": f"/manager/u/{ids['counter']}/poster.pdf?size=a5",
        "api key": f"/manager/api-keys/{ids['api key']}",
        "transaction import": f"/manager/transactions/imports/{ids['import']}",
    }


def pdf_text(data: bytes) -> str:
    """The text of a PDF's pages, read by pypdf (the poster's content streams are compressed)."""
    import io

    from pypdf import PdfReader

    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages)


LISTS = ["/manager/", "/manager/comments", "/manager/cases", "/manager/misuse", "/manager/kiosks", "/manager/alerts",
         "/manager/export/ratings.csv", "/manager/users",
         "/manager/audit", "/manager/api-keys", "/manager/transactions/import", "/manager/account"]
ADMIN_ONLY = ("/manager/users", "/manager/audit", "/manager/api-keys", "/manager/transactions/import")
CASES = [(email, office, inside) for email, visible in VISIBLE.items()
         for office in OFFICES for inside in [office in visible]]


@pytest.mark.parametrize("email, office, inside", CASES)
def test_each_resource_of_an_office_inside_or_outside_the_scope(world, email, office, inside):
    client = world.client_for(email)
    role = ACCOUNTS[email][0]
    for resource, path in office_resources(world, office).items():
        response = client.get(path)
        body = response.get_data().decode("utf-8", "replace")  # the XLSX export is binary
        if resource in ("manager account", "api key", "transaction import") and role == "office-manager":
            assert response.status_code == 403, path  # accounts and API keys are for administrators only
        elif resource == "counter details" and inside:
            assert response.status_code == 200 and f"Unit {office}" in body, path  # the office it belongs to
        elif resource == "counter page":
            # Inside: a counter has no results of its own yet (400 with a message); outside: 404.
            assert response.status_code == (400 if inside else 404), path
        elif resource == "xlsx export" and inside:
            assert response.status_code == 200 and xlsx_offices(response.get_data()) == {office}, path
        elif resource == "counter poster" and inside:
            text = pdf_text(response.get_data())
            assert response.status_code == 200 and f"Đơn vị {office}" in text and f"/r/{office}-Q1" in text, path
        elif inside:
            assert response.status_code == 200, (path, response.status_code)
            expected = {"comments": f"comment of {office}", "kiosk": f"kiosk of {office}",
                        "complaint case": f"comment of {office}", "complaint cases": f"comment of {office}",
                        "misuse review": f"kiosk of {office}",
                        "manager account": f"manager-{office.lower()}@x.vn", "export": f",{office},",
                        "office poster": f"Đơn vị {office}",
                        "api key": f"key of {office}", "transaction import": f"import of {office}"}
            assert expected.get(resource, f"Unit {office}") in body, path
        else:
            assert response.status_code in (403, 404), (path, response.status_code)
        if not inside:
            assert not leaks(office, body), path
    if not inside:  # nor can it be changed: revoking another scope's kiosk is a 404 and changes nothing
        token = hidden_fields(client.get("/manager/kiosks").get_data(as_text=True))
        response = client.post(f"/manager/kiosks/{world.ids[office]['kiosk']}/revoke", data=token)
        assert response.status_code == 404 and not leaks(office, response.get_data(as_text=True))
        response = client.post(f"/manager/kiosks/{world.ids[office]['kiosk']}/timings",
                               data={**token, "confirm": "30"})
        assert response.status_code == 404 and not leaks(office, response.get_data(as_text=True))
        with world.app_context():
            kiosk = db.session.get(Kiosk, world.ids[office]["kiosk"])
            assert kiosk.is_active and kiosk.confirm_seconds is None
        # nor can its complaint cases be acknowledged, answered or closed
        for action in ("acknowledge", "answer", "close"):
            response = client.post(f"/manager/cases/{world.ids[office]['case']}/{action}",
                                   data={**token, "text": "an answer"})
            assert response.status_code == 404 and not leaks(office, response.get_data(as_text=True))
        with world.app_context():
            assert db.session.get(ComplaintCase, world.ids[office]["case"]).state == "open"
        # nor its flagged ratings confirmed or cleared
        for decision in ("confirm", "clear"):
            response = client.post(f"/manager/misuse/{world.ids[office]['flagged']}/{decision}", data=token)
            assert response.status_code == 404 and not leaks(office, response.get_data(as_text=True))
        with world.app_context():
            assert db.session.get(Rating, world.ids[office]["flagged"]).flag == "burst"
            assert not db.session.scalar(select(FlagReview.id))
        # nor its API keys revoked
        response = client.post(f"/manager/api-keys/{world.ids[office]['api key']}/revoke", data=token)
        assert response.status_code in (403, 404) and not leaks(office, response.get_data(as_text=True))
        with world.app_context():
            assert db.session.get(ApiKey, world.ids[office]["api key"]).is_active
        # nor its units renamed, configured, merged, scored or given new units
        form = {**token, "rename-name_vi": "X", "settings-complaint_contact": "X", "merge-successor": office,
                "merge-on": "2026-10-10", "score-index_number": "5", "score-points": "2",
                "score-valid_from": "2026-10-10", "add-level": "counter", "add-code": f"{office}-NEW",
                "add-name_vi": "X"}
        for action in ("rename", "settings", "merge", "index-scores", "children"):
            response = client.post(f"/manager/units/{office}/{action}", data=form)
            assert response.status_code == 404 and not leaks(office, response.get_data(as_text=True)), action
        with world.app_context():
            changed = db.session.scalar(select(Unit).where(Unit.code == office))
            assert (changed.name_vi, changed.complaint_contact, changed.valid_to) == (f"Đơn vị {office}", None, None)
            assert not db.session.scalar(select(UnitIndexScore.id))
            assert not db.session.scalar(select(Unit.id).where(Unit.code == f"{office}-NEW"))
        # nor its manager's second factor reset (accounts are for administrators: 403 for an office manager)
        manager_id = world.user_ids[f"manager-{office.lower()}@x.vn"]
        response = client.post(f"/manager/users/{manager_id}/reset-two-factor", data=token)
        assert response.status_code == (403 if role == "office-manager" else 404)
        assert not leaks(office, response.get_data(as_text=True))
        with world.app_context():
            assert not db.session.scalar(select(AuditEntry.id).where(AuditEntry.action == "two_factor_reset"))


@pytest.mark.parametrize("email", list(VISIBLE))
def test_lists_hold_exactly_the_scope(world, email):
    client = world.client_for(email)
    role = ACCOUNTS[email][0]
    for path in LISTS:
        response = client.get(path)
        body = response.get_data(as_text=True)
        if path in ADMIN_ONLY and role == "office-manager":
            assert response.status_code == 403 and "@x.vn" not in body.replace(email, "")
            continue
        assert response.status_code == 200, path
        for office in OFFICES:
            if office not in VISIBLE[email]:
                assert not leaks(office, body), path
            elif path in ("/manager/comments", "/manager/cases", "/manager/misuse", "/manager/kiosks",
                          "/manager/alerts", "/manager/export/ratings.csv", "/manager/api-keys", "/manager/transactions/import"):
                assert leaks(office, body), path  # and everything inside is listed


def test_the_export_masks_comments_and_streams(world):
    response = world.client_for("admin-hn@x.vn").get("/manager/export/ratings.csv")
    assert response.is_streamed and response.mimetype == "text/csv"
    body = response.get_data(as_text=True)
    lines = body.splitlines()
    assert lines[0] == "rating_id,service_date,office_code,counter_code,channel,overall_value,flag,comment"
    assert len(lines) == 1 + 6  # three ratings in each of the two Hà Nội offices
    assert "0912" not in body and body.count("[phone number]") == 4


def test_signed_out_visitors_are_sent_to_sign_in(world):
    client = world.test_client()
    paths = LISTS + list(office_resources(world, "HNA").values())
    for path in paths:
        response = client.get(path)
        assert response.status_code == 302 and "/manager/sign-in" in response.headers["Location"], path
        body = response.get_data(as_text=True)  # repeats the address asked for, nothing more
        assert not [m for m in markers("HNA")[1:] if m in body], path


@pytest.mark.parametrize("email", list(ACCOUNTS))
def test_the_procedure_catalogue_is_for_the_national_administrator(world, email):
    response = world.client_for(email).get("/manager/procedures")
    assert response.status_code == (200 if ACCOUNTS[email][0] == "national-admin" else 403)


@pytest.mark.parametrize("email", list(VISIBLE))
def test_changing_a_unit_needs_the_right_role_even_inside_the_scope(world, email):
    """Inside the scope an office manager may change the office's settings but not rename, merge or
    score it, and a provincial administrator may not rename the province itself: 403, nothing changed.
    Those allowed get as far as the form (400 here: its required fields are left out)."""
    role = ACCOUNTS[email][0]
    client = world.client_for(email)
    token = hidden_fields(client.get("/manager/kiosks").get_data(as_text=True))  # passes the site-wide check
    office = sorted(VISIBLE[email])[0]
    for action in ("rename", "merge", "index-scores", "children"):
        response = client.post(f"/manager/units/{office}/{action}", data=token)
        assert response.status_code == (403 if role == "office-manager" else 400), (action, response.status_code)
    response = client.post(f"/manager/units/{office}/settings", data=token)
    assert response.status_code == 302  # everyone may change the settings of a unit in scope (here: to none)
    province = {"national@x.vn": 400, "admin-hn@x.vn": 403, "admin-hcm@x.vn": 404, "manager-hna@x.vn": 404}
    assert client.post("/manager/units/HN/rename", data=token).status_code == province[email]
    with world.app_context():
        assert db.session.scalar(select(Unit.name_vi).where(Unit.code == "HN")) == "Đơn vị HN"
