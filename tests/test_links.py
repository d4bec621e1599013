"""The single-use rating link: the office's questionnaire, consumed by the first complete rating
(also when two submissions race, on PostgreSQL), and a clear page for used, expired or forged links."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from survey.api.keys import create_api_key
from survey.cli import init_database
from survey.extensions import db
from survey.models import Channel, Procedure, Rating, Transaction
from survey.rating.invitations import link_token
from tests.conftest import hidden_fields, make_app, make_place

DOSSIER = "000.00.16.H26-260301-0001"
RADIO = re.compile(r'<input type="radio" id="[^"]+" name="(question_\d+)" value="(\d+)"')


def register(app, client, dossier=DOSSIER, **extra) -> str:
    """Register one transaction at a new office through the API; returns its rating link's path."""
    with app.app_context():
        place = make_place("HN")
        procedure_code = db.session.get(Procedure, place.procedure_ids[0]).code
        _, key = create_api_key("Hà Nội", ["HN"])
        db.session.commit()
    body = {"dossier_code": dossier, "office_code": place.office_code, "counter_code": place.counter_code,
            "procedure_code": procedure_code, "officer_code": "CB-017",
            "received_at": "2026-03-01T08:15:00+07:00", **extra}
    response = client.post("/api/v1/transactions?qr=none", json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 201, response.json
    return response.json["rating_url"].removeprefix("http://localhost")


def answers(html: str, overall: int = 4) -> dict:
    """The form's hidden fields, ``overall`` for the first question and the highest point for the rest."""
    questions: dict[str, list[str]] = {}
    for name, value in RADIO.findall(html):
        questions.setdefault(name, []).append(value)
    data = hidden_fields(html)
    names = list(questions)
    data[names[0]] = str(overall)
    for name in names[1:]:
        data[name] = questions[name][-1]
    data["comment"] = "Nhanh, đúng hẹn."
    return data


def ratings(app) -> list[Rating]:
    with app.app_context():
        return list(db.session.scalars(select(Rating)))


def test_the_link_shows_the_office_questionnaire_and_nothing_of_the_dossier(app, client):
    path = register(app, client)
    page = client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Trung tâm Phục vụ hành chính công" in html
    assert len(set(RADIO.findall(html))) > 5  # every question of the office's questionnaire on one page
    for secret in (DOSSIER, "CB-017", "1.005"):
        assert secret not in html


def test_the_first_complete_rating_consumes_the_link(app, client):
    path = register(app, client)
    form = answers(client.get(path).get_data(as_text=True))
    sent = client.post(path, data=form)
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/l/thanks")
    assert "Cảm ơn" in client.get(sent.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        [rating] = db.session.scalars(select(Rating)).all()
        transaction = db.session.scalar(select(Transaction))
        assert rating.channel == Channel.LINK and rating.transaction_ref == DOSSIER
        assert rating.office_id == transaction.office_id and rating.counter_id == transaction.counter_id
        assert rating.procedure_id == transaction.procedure_id is not None
        assert rating.completed_at is not None and rating.comment == "Nhanh, đúng hẹn."
        assert rating.overall_value == 4 and len(rating.answers) == len({n for n in form if n.startswith("question_")})
    # The same form sent again (a double tap): thanked, nothing more stored.
    again = client.post(path, data=form)
    assert again.status_code == 303 and len(ratings(app)) == 1
    # The link opened again, and a new form sent through it: refused, in Vietnamese, nothing stored.
    used = client.get(path)
    assert used.status_code == 409 and "đã được sử dụng" in used.get_data(as_text=True)
    other = dict(form, idempotency_key="a" * 32)
    refused = client.post(path, data=other)
    assert refused.status_code == 409 and len(ratings(app)) == 1
    english = client.get(path + "?lang=en")
    assert english.status_code == 409 and "already been used" in english.get_data(as_text=True)
    # The API now says it was rated.
    with app.app_context():
        _, key = create_api_key("check", ["HN"])
        db.session.commit()
    assert client.get(f"/api/v1/transactions/{DOSSIER}", headers={"Authorization": f"Bearer {key}"}).json["rated"]


def test_an_incomplete_rating_stores_nothing_and_keeps_the_link(app, client):
    path = register(app, client)
    form = answers(client.get(path).get_data(as_text=True))
    first_question = next(name for name in form if name.startswith("question_"))
    response = client.post(path, data={k: v for k, v in form.items() if k != first_question})
    assert response.status_code == 400 and 'role="alert"' in response.get_data(as_text=True)
    out_of_scale = client.post(path, data=dict(form, **{first_question: "99"}))
    assert out_of_scale.status_code == 400
    assert ratings(app) == [] and client.get(path).status_code == 200


def test_expired_and_forged_links_get_a_clear_page_and_store_nothing(app, client):
    path = register(app, client)
    form = answers(client.get(path).get_data(as_text=True))
    with app.app_context():
        transaction_id = db.session.scalar(select(Transaction.id))
        expired = "/l/" + link_token(transaction_id, datetime(2026, 1, 1))
        far = "/l/" + link_token(transaction_id + 1, datetime.now() + timedelta(days=9))  # signed, no such dossier
    response = client.get(expired)
    assert response.status_code == 410 and "hết hạn" in response.get_data(as_text=True)
    assert client.post(expired, data=form).status_code == 410
    token = path.removeprefix("/l/")
    forged = "/l/" + token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (forged, "/l/not-a-token", "/l/" + token.split(".")[0] + ".x", far):
        page = client.get(bad)
        assert page.status_code == 404 and "không hợp lệ" in page.get_data(as_text=True), bad
        assert client.post(bad, data=form).status_code == 404
    assert "not valid" in client.get(forged + "?lang=en").get_data(as_text=True)
    assert ratings(app) == []


@pytest.mark.postgres
def test_two_racing_submissions_store_one_rating_on_postgresql(postgres_uri):
    app = make_app(postgres_uri)
    with app.app_context():
        init_database()
    setup_client = app.test_client()
    rounds = 4
    for attempt in range(rounds):
        path = register(app, setup_client, dossier=f"000.00.16.H26-260301-{attempt:04d}")
        clients = [app.test_client(), app.test_client()]
        forms = [answers(c.get(path).get_data(as_text=True), overall=5 - i) for i, c in enumerate(clients)]
        barrier = threading.Barrier(2)
        statuses: list[int] = []

        def send(index: int) -> None:
            barrier.wait()
            statuses.append(clients[index].post(path, data=forms[index]).status_code)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [303, 409], statuses
    with app.app_context():
        counts = db.session.execute(select(Rating.transaction_ref, func.count()).group_by(Rating.transaction_ref)).all()
        assert len(counts) == rounds and all(n == 1 for _, n in counts)
        assert db.session.scalar(select(func.count()).select_from(Rating).where(Rating.channel != Channel.LINK)) == 0
        db.session.remove()
        db.engine.dispose()


def test_the_link_token_never_reaches_the_logs(app, client):
    from survey.redaction import redact_secret_paths

    path = register(app, client)
    token = path.removeprefix("/l/")
    assert token not in redact_secret_paths(f'127.0.0.1 - - "GET {path} HTTP/1.1" 200 -')
