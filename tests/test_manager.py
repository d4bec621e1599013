"""Manager sign-in with Flask-Login (the dashboard itself is a later issue)."""

from __future__ import annotations

import pytest

from survey.demo import ensure_demo_manager
from survey.extensions import db
from tests.conftest import hidden_fields


@pytest.fixture
def manager(app):
    with app.app_context():
        user = ensure_demo_manager("s3cret-pass")
        db.session.commit()
        return user.email


def sign_in(client, email, password, lang="en"):
    page = client.get("/manager/sign-in", query_string={"lang": lang}).get_data(as_text=True)
    return client.post("/manager/sign-in", data={**hidden_fields(page), "email": email, "password": password})


def test_sign_in_and_out(client, manager):
    assert client.get("/manager/").status_code == 302
    response = sign_in(client, manager.upper(), "s3cret-pass")
    assert response.status_code == 302 and response.headers["Location"].endswith("/manager/")
    assert "Welcome" in client.get("/manager/").get_data(as_text=True)
    page = client.get("/manager/").get_data(as_text=True)
    assert client.post("/manager/sign-out", data=hidden_fields(page)).status_code == 302
    assert client.get("/manager/").status_code == 302


@pytest.mark.parametrize("lang, message", [("en", "Wrong email or password."), ("vi", "Sai thư điện tử hoặc mật khẩu.")])
def test_wrong_password_is_a_401_with_a_message(client, manager, lang, message):
    response = sign_in(client, manager, "nope", lang)
    assert response.status_code == 401
    assert message in response.get_data(as_text=True)


def test_sign_in_without_csrf_token_is_refused(client, manager):
    response = client.post("/manager/sign-in", data={"email": manager, "password": "s3cret-pass"})
    assert response.status_code == 400
    assert client.get("/manager/").status_code == 302


def test_next_parameter_cannot_leave_the_site(client, manager):
    page = client.get("/manager/sign-in").get_data(as_text=True)
    response = client.post("/manager/sign-in?next=//evil.example/x",
                           data={**hidden_fields(page), "email": manager, "password": "s3cret-pass"})
    assert response.headers["Location"].endswith("/manager/")
