"""Authorisation as a matrix: every role × every manager resource × inside / outside the role's scope.

Outside the scope the answer is 403 or 404 and the body holds none of the outside data (unit codes
and names, comments, kiosk labels, account e-mails); inside it is a 200 that shows the data.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from sqlalchemy import select

from survey.cases.operations import open_cases
from survey.extensions import db
from survey.misuse.operations import flag_rating
from survey.manager.operations import create_user
from survey.models import ComplaintCase, FlagReview, Kiosk, Rating, UnitLevel, User
from survey.results.service import forget_live_results
from survey.results.tree import forget_unit_tree
from tests.conftest import hidden_fields
from tests.results_helpers import rate
from tests.test_dashboard import PASSWORD, signed_in, unit

#: Offices: (province, office code). Each gets a counter, a kiosk, two rated comments and a manager.
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
            f"manager-{office.lower()}@x.vn"]


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
            ids[code] = {"unit": office.id, "counter": counter.code, "kiosk": kiosk.id, "rating": ratings[0].id,
                         "flagged": ratings[2].id}
        open_cases(now=datetime(2026, 10, 2, 4))  # the two unhappy comments of each office open cases
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
        "counter page": f"/manager/u/{ids['counter']}",
        "comments": f"/manager/comments?unit={office}",
        "rating": f"/manager/ratings/{ids['rating']}",
        "export": f"/manager/export/ratings.csv?unit={office}",
        "xlsx export": f"/manager/export/ratings.xlsx?unit={office}",
        "kiosk": f"/manager/kiosks/{ids['kiosk']}",
        "complaint case": f"/manager/cases/{ids['case']}",
        "complaint cases": f"/manager/cases?unit={office}",
        "misuse review": f"/manager/misuse?unit={office}",
        "manager account": f"/manager/users/{world.user_ids[f'manager-{office.lower()}@x.vn']}",
    }


LISTS = ["/manager/", "/manager/comments", "/manager/cases", "/manager/misuse", "/manager/kiosks",
         "/manager/export/ratings.csv", "/manager/users",
         "/manager/audit"]
ADMIN_ONLY = ("/manager/users", "/manager/audit")
CASES = [(email, office, inside) for email, visible in VISIBLE.items()
         for office in OFFICES for inside in [office in visible]]


@pytest.mark.parametrize("email, office, inside", CASES)
def test_each_resource_of_an_office_inside_or_outside_the_scope(world, email, office, inside):
    client = world.client_for(email)
    role = ACCOUNTS[email][0]
    for resource, path in office_resources(world, office).items():
        response = client.get(path)
        body = response.get_data().decode("utf-8", "replace")  # the XLSX export is binary
        if resource == "manager account" and role == "office-manager":
            assert response.status_code == 403, path  # accounts are for administrators only
        elif resource == "counter page":
            # Inside: a counter has no results of its own yet (400 with a message); outside: 404.
            assert response.status_code == (400 if inside else 404), path
        elif resource == "xlsx export" and inside:
            assert response.status_code == 200 and xlsx_offices(response.get_data()) == {office}, path
        elif inside:
            assert response.status_code == 200, (path, response.status_code)
            expected = {"comments": f"comment of {office}", "kiosk": f"kiosk of {office}",
                        "complaint case": f"comment of {office}", "complaint cases": f"comment of {office}",
                        "misuse review": f"kiosk of {office}",
                        "manager account": f"manager-{office.lower()}@x.vn", "export": f",{office},"}
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
                          "/manager/export/ratings.csv"):
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
