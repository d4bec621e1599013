"""Two-factor sign-in (TOTP): administrators must enrol, office managers may; codes are real ones made
with pyotp, as an authenticator app would; a code is accepted once; wrong codes count towards the
lockout; an administrator can reset a lost factor. Also the forced change of a one-time password and
the pruning of ended sessions."""

from __future__ import annotations

import shutil
import time
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import func, select, update

from survey.extensions import db
from survey.manager import twofactor
from survey.manager.operations import create_user, prune_sessions
from survey.manager.scheduled import prune_user_sessions
from survey.models import AuditEntry, Unit, UnitLevel, User, UserSession
from survey.models._common import utcnow
from tests.conftest import hidden_fields, make_app
from tests.events import security_events  # noqa: F401 - fixture
from tests.twofactor_helpers import stored_secret, totp_key

PASSWORD = "correct-horse-battery"


def _tree():
    hn = Unit(code="HN", level=UnitLevel.PROVINCE, name_vi="Hà Nội", name_en="Ha Noi")
    hcm = Unit(code="HCM", level=UnitLevel.PROVINCE, name_vi="TP HCM", name_en="HCMC")
    db.session.add_all([
        hn, hcm,
        Unit(code="HNA", level=UnitLevel.OFFICE, parent=hn, name_vi="Văn phòng A", name_en="Office A"),
        Unit(code="HCMX", level=UnitLevel.OFFICE, parent=hcm, name_vi="Văn phòng X", name_en="Office X"),
    ])
    db.session.flush()
    for email, role, code in (("nat@x.vn", "national-admin", None), ("hn@x.vn", "province-admin", "HN"),
                              ("a@x.vn", "office-manager", "HNA"), ("x@x.vn", "office-manager", "HCMX")):
        create_user(email, role, code, password=PASSWORD)
    db.session.commit()


@pytest.fixture
def site(app):
    with app.app_context():
        _tree()
    return app


def password_step(client, email, password=PASSWORD, **options):
    page = client.get("/manager/sign-in?lang=en").get_data(as_text=True)
    return client.post("/manager/sign-in", data={**hidden_fields(page), "email": email, "password": password},
                       **options)


def post_code(client, path, code, **options):
    page = client.get(path, **options).get_data(as_text=True)
    return client.post(path, data={**hidden_fields(page), "code": code}, **options)


def send(client, path, page, code):
    """Send a code with the fields of an enrolment page already open (opening it again makes a new key)."""
    return client.post(path, data={**hidden_fields(page), "code": code})


def enrolled_admin(app, email="hn@x.vn"):
    """A client signed in as an administrator who enrolled at this sign-in, and the app's key."""
    client = app.test_client()
    assert password_step(client, email).headers["Location"].endswith("/manager/sign-in/two-factor")
    page = client.get("/manager/sign-in/two-factor").get_data(as_text=True)
    key = totp_key(page)
    response = send(client, "/manager/sign-in/two-factor", page, pyotp.TOTP(key).now())
    assert response.status_code == 302 and response.headers["Location"].endswith("/manager/")
    return client, key


def user(app, email) -> User:
    with app.app_context():
        row = db.session.scalar(select(User).where(User.email == email))
        db.session.expunge(row)
        return row


def audit_actions(app) -> list[tuple[str, int | None, int]]:
    with app.app_context():
        return [(e.action, e.actor_id, e.target_id) for e in db.session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("two_factor%")).order_by(AuditEntry.id))]


def not_current(key: str) -> str:
    """A well-formed code that is none of the codes accepted now (the current one and one step either side)."""
    totp, now = pyotp.TOTP(key), time.time()
    valid = {totp.at(now + d) for d in (-60, -30, 0, 30, 60)}
    return next(c for c in ("000000", "111111", "123456", "654321", "999999", "424242") if c not in valid)


# ------------------------------------------------------------------------------- administrators must enrol


def test_an_administrator_is_sent_to_enrolment_and_reaches_nothing_else_until_done(site):
    client = site.test_client()
    response = password_step(client, "hn@x.vn")
    assert response.status_code == 302 and response.headers["Location"].endswith("/manager/sign-in/two-factor")
    for path in ("/manager/", "/manager/users", "/manager/audit", "/manager/kiosks", "/manager/account"):
        refused = client.get(path)
        assert refused.status_code == 302 and "/manager/sign-in" in refused.headers["Location"], path
    page = client.get("/manager/sign-in/two-factor").get_data(as_text=True)
    key = totp_key(page)
    assert 'src="data:image/svg+xml' in page  # the QR code, as an image the CSP allows
    # The key is stored encrypted: the column holds neither it nor anything that starts like it.
    stored = user(site, "hn@x.vn").totp_secret
    assert key not in stored and stored.startswith("gAAAAA")
    wrong = send(client, "/manager/sign-in/two-factor", page, not_current(key))
    assert wrong.status_code == 400 and totp_key(wrong.get_data(as_text=True)) == key  # the same key to retry
    assert user(site, "hn@x.vn").totp_confirmed_at is None and client.get("/manager/").status_code == 302
    response = send(client, "/manager/sign-in/two-factor", page, pyotp.TOTP(key).now())
    assert response.status_code == 302 and response.headers["Location"].endswith("/manager/")
    assert client.get("/manager/").status_code == 200
    hn = user(site, "hn@x.vn")
    assert hn.totp_confirmed_at is not None
    assert audit_actions(site) == [("two_factor_enrolled", hn.id, hn.id)]
    # The key is never shown again: not on the account page, and the enrolment page sends you away.
    assert key not in client.get("/manager/account").get_data(as_text=True)
    again = client.get("/manager/sign-in/two-factor")
    assert again.status_code == 302 and key not in again.get_data(as_text=True)


def test_a_key_seen_before_the_person_opened_the_page_is_worthless(site):
    """Someone who had the one-time password and opened the enrolment page first learns a key that the
    person's own visit replaces."""
    intruder, person = site.test_client(), site.test_client()
    password_step(intruder, "hn@x.vn")
    seen = totp_key(intruder.get("/manager/sign-in/two-factor").get_data(as_text=True))
    password_step(person, "hn@x.vn")
    page = person.get("/manager/sign-in/two-factor").get_data(as_text=True)
    key = totp_key(page)
    assert key != seen
    assert send(person, "/manager/sign-in/two-factor", page, pyotp.TOTP(key).now()).status_code == 302
    with site.app_context():
        hn = db.session.scalar(select(User).where(User.email == "hn@x.vn"))
        assert twofactor._decrypt(hn.totp_secret) == key


def test_an_enrolled_administrator_signs_in_with_password_then_code(site, security_events):
    _, key = enrolled_admin(site)
    client = site.test_client()
    response = password_step(client, "hn@x.vn")
    assert response.headers["Location"].endswith("/manager/sign-in/code")
    assert client.get("/manager/").status_code == 302  # the password alone opens nothing
    wrong = post_code(client, "/manager/sign-in/code", not_current(key))
    assert wrong.status_code == 401 and "This code is wrong or was already used" in wrong.get_data(as_text=True)
    assert client.get("/manager/").status_code == 302
    # The code the enrolment used is refused too (same time step, or an older one by now).
    reused = post_code(client, "/manager/sign-in/code", pyotp.TOTP(key).now())
    assert reused.status_code == 401
    assert [e["reason"] for e in security_events.named("sign_in_failure")] == ["wrong_code", "wrong_code"]


def test_a_code_is_accepted_once_even_within_its_window(site):
    with site.app_context():
        hn = db.session.scalar(select(User).where(User.email == "hn@x.vn"))
        key, hn_id = twofactor.pending_secret(hn), hn.id
        db.session.commit()
    # Fixed clock: an enrolment code from step 1000 (a time well inside it).
    t = 1000 * 30 + 10
    with site.app_context():
        hn = db.session.get(User, hn_id)
        assert twofactor.confirm_enrolment(hn, pyotp.TOTP(key).at(t), now=t)
        db.session.commit()
    client = site.test_client()
    password_step(client, "hn@x.vn")
    code = pyotp.TOTP(key).now()
    assert post_code(client, "/manager/sign-in/code", code).headers["Location"].endswith("/manager/")
    other = site.test_client()
    password_step(other, "hn@x.vn")
    assert post_code(other, "/manager/sign-in/code", code).status_code == 401
    assert other.get("/manager/").status_code == 302


@pytest.mark.parametrize("offset, accepted", [(-61, False), (-30, True), (0, True), (30, True), (61, False)])
def test_one_step_of_clock_skew_either_side_is_accepted(site, offset, accepted):
    t = 5000 * 30 + 15  # the middle of step 5000: ±30 s is the step before/after, ±61 s two steps away
    with site.app_context():
        a = db.session.scalar(select(User).where(User.email == "a@x.vn"))
        key = twofactor.pending_secret(a)
        assert twofactor.check_code(a, pyotp.TOTP(key).at(t + offset), now=t) is accepted
        assert a.totp_last_step == (5000 + offset // 30 if accepted else None)


def test_after_a_code_an_older_one_is_refused_and_spaces_are_allowed(site):
    t = 7000 * 30 + 5
    with site.app_context():
        a = db.session.scalar(select(User).where(User.email == "a@x.vn"))
        totp = pyotp.TOTP(twofactor.pending_secret(a))
        now_code = totp.at(t)
        assert twofactor.check_code(a, f"{now_code[:3]} {now_code[3:]}", now=t)
        assert a.totp_last_step == 7000
        assert not twofactor.check_code(a, totp.at(t - 30), now=t)  # older than the one used
        assert not twofactor.check_code(a, now_code, now=t)  # the same
        assert twofactor.check_code(a, totp.at(t + 30), now=t)  # the next step's code is still fine
        assert not twofactor.check_code(a, "12345", now=t) and not twofactor.check_code(a, "abcdef", now=t)


def test_wrong_codes_count_towards_the_lockout(tmp_path, migrated_sqlite, security_events):
    path = tmp_path / "lockout.sqlite"
    shutil.copy(migrated_sqlite, path)
    app = make_app(f"sqlite:///{path}", SIGN_IN_RATE_LIMIT="1000 per minute",
                   SIGN_IN_ACCOUNT_FAILURES="3 per 15 minutes", SIGN_IN_ADDRESS_FAILURES="50 per 15 minutes")
    with app.app_context():
        _tree()
    _, key = enrolled_admin(app)
    client = app.test_client()
    password_step(client, "hn@x.vn")
    wrong = not_current(key)
    assert post_code(client, "/manager/sign-in/code", wrong).status_code == 401
    assert post_code(client, "/manager/sign-in/code", wrong).status_code == 401
    locked = post_code(client, "/manager/sign-in/code", wrong)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 14 * 60
    assert len(security_events.named("sign_in_lockout")) == 1
    # Locked: the right password is refused, and the pending sign-in was dropped.
    assert client.get("/manager/sign-in/code").headers["Location"].endswith("/manager/sign-in")
    assert password_step(client, "hn@x.vn").status_code == 429


def test_a_second_step_left_too_long_starts_over(site):
    _, key = enrolled_admin(site)
    client = site.test_client()
    password_step(client, "hn@x.vn")
    page = client.get("/manager/sign-in/code").get_data(as_text=True)
    with client.session_transaction() as session:
        state = dict(session["pending_sign_in"])
        state["at"] -= 11 * 60  # SIGN_IN_SECOND_STEP_MINUTES is 10
        session["pending_sign_in"] = state
    response = client.post("/manager/sign-in/code", data={**hidden_fields(page), "code": pyotp.TOTP(key).now()})
    assert response.status_code == 302 and response.headers["Location"].endswith("/manager/sign-in")
    assert client.get("/manager/").status_code == 302


def test_the_next_target_survives_the_second_step(site):
    _, key = enrolled_admin(site)
    stored_secret(site, "hn@x.vn", forget_last_code=True)
    client = site.test_client()
    page = client.get("/manager/sign-in").get_data(as_text=True)
    client.post("/manager/sign-in?next=/manager/kiosks",
                data={**hidden_fields(page), "email": "hn@x.vn", "password": PASSWORD})
    response = post_code(client, "/manager/sign-in/code", pyotp.TOTP(key).now())
    assert response.headers["Location"] == "/manager/kiosks"


# ------------------------------------------------------------------------------- office managers may enrol


def test_an_office_manager_signs_in_with_a_password_only_until_they_enrol(site):
    client = site.test_client()
    assert password_step(client, "a@x.vn").headers["Location"].endswith("/manager/")
    account = client.get("/manager/account?lang=en").get_data(as_text=True)
    assert '<dd id="two-factor-status">off</dd>' in account
    page = client.get("/manager/account/two-factor").get_data(as_text=True)
    key = totp_key(page)
    assert send(client, "/manager/account/two-factor", page, not_current(key)).status_code == 400
    response = send(client, "/manager/account/two-factor", page, pyotp.TOTP(key).now())
    assert response.headers["Location"].endswith("/manager/account")
    assert '<dd id="two-factor-status">on</dd>' in client.get("/manager/account?lang=en").get_data(as_text=True)
    a = user(site, "a@x.vn")
    assert audit_actions(site) == [("two_factor_enrolled", a.id, a.id)]
    # From now on a code is needed.
    other = site.test_client()
    assert password_step(other, "a@x.vn").headers["Location"].endswith("/manager/sign-in/code")
    # Turning it off needs a current code (a new step's, as the enrolment code was used).
    page = client.get("/manager/account").get_data(as_text=True)
    refused = client.post("/manager/account/two-factor/disable", data={**hidden_fields(page), "code": not_current(key)})
    assert refused.status_code == 400 and user(site, "a@x.vn").two_factor_enrolled
    stored_secret(site, "a@x.vn", forget_last_code=True)
    done = client.post("/manager/account/two-factor/disable",
                       data={**hidden_fields(page), "code": pyotp.TOTP(key).now()})
    assert done.status_code == 302
    a = user(site, "a@x.vn")
    assert not a.two_factor_enrolled and a.totp_secret is None
    assert audit_actions(site)[-1] == ("two_factor_disabled", a.id, a.id)
    assert password_step(site.test_client(), "a@x.vn").headers["Location"].endswith("/manager/")


def test_an_administrator_cannot_turn_their_second_factor_off(site):
    client, key = enrolled_admin(site)
    page = client.get("/manager/account?lang=en").get_data(as_text=True)
    assert "Administrators must keep two-factor sign-in" in page
    response = client.post("/manager/account/two-factor/disable",
                           data={**hidden_fields(page), "code": pyotp.TOTP(key).now()})
    assert response.status_code == 409 and user(site, "hn@x.vn").two_factor_enrolled


# ------------------------------------------------------------------------------- reset by an administrator


def _enrol_directly(app, email) -> str:
    with app.app_context():
        row = db.session.scalar(select(User).where(User.email == email))
        key = twofactor.pending_secret(row)
        assert twofactor.confirm_enrolment(row, pyotp.TOTP(key).now())
        db.session.commit()
    return key


def test_an_administrator_resets_a_lost_factor_in_scope_and_the_persons_sessions_end(site):
    key = _enrol_directly(site, "a@x.vn")
    stored_secret(site, "a@x.vn", forget_last_code=True)
    manager = site.test_client()
    password_step(manager, "a@x.vn")
    post_code(manager, "/manager/sign-in/code", pyotp.TOTP(key).now())
    assert manager.get("/manager/").status_code == 200
    admin, _ = enrolled_admin(site)
    a = user(site, "a@x.vn")
    page = admin.get(f"/manager/users/{a.id}?lang=en").get_data(as_text=True)
    assert '<dd id="two-factor-status">on</dd>' in page
    response = admin.post(f"/manager/users/{a.id}/reset-two-factor", data=hidden_fields(page))
    assert response.status_code == 302
    a, hn = user(site, "a@x.vn"), user(site, "hn@x.vn")
    assert not a.two_factor_enrolled and a.totp_secret is None and a.totp_last_step is None
    assert audit_actions(site)[-1] == ("two_factor_reset", hn.id, a.id)
    assert manager.get("/manager/").status_code == 302  # their session ended
    assert password_step(site.test_client(), "a@x.vn").headers["Location"].endswith("/manager/")


def test_a_reset_administrator_enrols_again_at_the_next_sign_in(site):
    hn_client, _ = enrolled_admin(site, "hn@x.vn")
    nat_client, _ = enrolled_admin(site, "nat@x.vn")
    hn = user(site, "hn@x.vn")
    page = nat_client.get(f"/manager/users/{hn.id}").get_data(as_text=True)
    assert nat_client.post(f"/manager/users/{hn.id}/reset-two-factor", data=hidden_fields(page)).status_code == 302
    assert hn_client.get("/manager/").status_code == 302
    assert password_step(site.test_client(), "hn@x.vn").headers["Location"].endswith("/manager/sign-in/two-factor")


def test_no_reset_outside_the_scope_nor_of_ones_own_factor(site):
    key = _enrol_directly(site, "x@x.vn")
    admin, _ = enrolled_admin(site, "hn@x.vn")
    x, hn = user(site, "x@x.vn"), user(site, "hn@x.vn")
    page = admin.get("/manager/account").get_data(as_text=True)
    assert admin.post(f"/manager/users/{x.id}/reset-two-factor", data=hidden_fields(page)).status_code == 404
    assert admin.post(f"/manager/users/{hn.id}/reset-two-factor", data=hidden_fields(page)).status_code == 409
    assert admin.post(f"/manager/users/{x.id}/reset-two-factor", data={}).status_code in (400, 404)
    assert user(site, "x@x.vn").two_factor_enrolled and user(site, "hn@x.vn").two_factor_enrolled
    assert [a for a, *_ in audit_actions(site)] == ["two_factor_enrolled", "two_factor_enrolled"]
    assert key


def test_an_office_manager_cannot_reset_anyone(site):
    client = site.test_client()
    password_step(client, "a@x.vn")
    x = user(site, "x@x.vn")
    page = client.get("/manager/account").get_data(as_text=True)
    assert client.post(f"/manager/users/{x.id}/reset-two-factor", data=hidden_fields(page)).status_code in (403, 404)


def test_an_administrator_signed_in_without_a_factor_is_signed_out(site):
    """Sessions from before two-factor sign-in was required (here: made so by clearing the factor)."""
    client, _ = enrolled_admin(site)
    with site.app_context():
        db.session.execute(update(User).where(User.email == "hn@x.vn").values(totp_confirmed_at=None))
        db.session.commit()
    response = client.get("/manager/?lang=en")
    assert response.status_code == 302
    assert "Administrators sign in with a second factor" in client.get(response.headers["Location"]).get_data(
        as_text=True)


# ------------------------------------------------------------------------------- one-time passwords


def test_a_one_time_password_must_be_changed_before_anything_else(site):
    with site.app_context():
        _, one_time = create_user("new@x.vn", "office-manager", "HNA")  # generated: one-time
        db.session.commit()
    client = site.test_client()
    response = password_step(client, "new@x.vn", one_time)
    assert response.headers["Location"].endswith("/manager/sign-in/new-password")
    assert client.get("/manager/").status_code == 302
    path = "/manager/sign-in/new-password?lang=en"

    def choose(password, confirm=None):
        page = client.get(path).get_data(as_text=True)
        return client.post(path, data={**hidden_fields(page), "password": password,
                                       "confirm": password if confirm is None else confirm})

    short = choose("short-11chr")
    assert short.status_code == 400 and "at least 12 characters" in short.get_data(as_text=True)
    same = choose(one_time)
    assert same.status_code == 400 and "must differ from the old one" in same.get_data(as_text=True)
    assert choose("a-good-new-password", "another-one-here").status_code == 400
    assert user(site, "new@x.vn").must_change_password
    done = choose("a-good-new-password")
    assert done.status_code == 302 and done.headers["Location"].endswith("/manager/")
    assert client.get("/manager/").status_code == 200
    row = user(site, "new@x.vn")
    assert not row.must_change_password
    assert password_step(site.test_client(), "new@x.vn", one_time).status_code == 401
    assert password_step(site.test_client(), "new@x.vn", "a-good-new-password").headers["Location"].endswith(
        "/manager/")


def test_a_new_administrator_changes_the_password_then_enrols(site):
    with site.app_context():
        _, one_time = create_user("boss@x.vn", "province-admin", "HCM")
        db.session.commit()
    client = site.test_client()
    assert password_step(client, "boss@x.vn", one_time).headers["Location"].endswith("/manager/sign-in/new-password")
    page = client.get("/manager/sign-in/new-password").get_data(as_text=True)
    response = client.post("/manager/sign-in/new-password", data={
        **hidden_fields(page), "password": "boss-password-2026", "confirm": "boss-password-2026"})
    assert response.headers["Location"].endswith("/manager/sign-in/two-factor")
    assert client.get("/manager/").status_code == 302
    page = client.get("/manager/sign-in/two-factor").get_data(as_text=True)
    assert send(client, "/manager/sign-in/two-factor", page, pyotp.TOTP(totp_key(page)).now()).headers[
        "Location"].endswith("/manager/")
    assert client.get("/manager/").status_code == 200


def test_a_password_the_creator_chose_is_one_time_only_when_asked(app):
    with app.app_context():
        _tree()
        chosen, _ = create_user("c@x.vn", "office-manager", "HNA", password="a-chosen-password")
        cli_like, _ = create_user("d@x.vn", "office-manager", "HNA", password="a-chosen-password", one_time=True)
        generated, _ = create_user("e@x.vn", "office-manager", "HNA")
        assert (chosen.must_change_password, cli_like.must_change_password, generated.must_change_password) == (
            False, True, True)


def test_create_user_command_says_the_password_is_one_time_and_admins_enrol(app, runner):
    with app.app_context():
        _tree()
    result = runner.invoke(args=["create-user", "n2@x.vn", "--role", "national-admin", "--password-stdin"],
                           input="a-very-long-password\n")
    assert result.exit_code == 0, result.output
    assert "At the first sign-in the person must choose a new password." in result.output
    assert "they will set up an authenticator app (TOTP) at their first sign-in" in result.output
    assert user(app, "n2@x.vn").must_change_password
    office = runner.invoke(args=["create-user", "o2@x.vn", "--role", "office-manager", "--unit", "HNA"])
    assert office.exit_code == 0 and "authenticator" not in office.output


# ------------------------------------------------------------------------------- pruning ended sessions


def test_sessions_that_cannot_be_used_are_pruned_after_the_keeping_time(site):
    now = utcnow()
    keep, idle, longest = timedelta(days=7), timedelta(minutes=30), timedelta(hours=12)
    with site.app_context():
        a = db.session.scalar(select(User).where(User.email == "a@x.vn"))
        x = db.session.scalar(select(User).where(User.email == "x@x.vn"))
        x.sessions_valid_after = now - keep - timedelta(hours=1)  # "sign out everywhere" 7 days and 1 hour ago
        rows = {
            "live": UserSession(user=a, token_hash="1" * 64, created_at=now - timedelta(hours=1),
                                last_seen_at=now - timedelta(minutes=1)),
            "signed_out_recently": UserSession(user=a, token_hash="2" * 64, created_at=now - timedelta(days=2),
                                               last_seen_at=now - timedelta(days=2), ended_at=now - timedelta(days=2)),
            "signed_out_long_ago": UserSession(user=a, token_hash="3" * 64, created_at=now - timedelta(days=9),
                                               last_seen_at=now - timedelta(days=9), ended_at=now - timedelta(days=8)),
            "idle_long_ago": UserSession(user=a, token_hash="4" * 64, created_at=now - keep - longest + timedelta(hours=1),
                                         last_seen_at=now - keep - idle - timedelta(minutes=1)),
            "idle_recently": UserSession(user=a, token_hash="5" * 64, created_at=now - timedelta(days=3),
                                         last_seen_at=now - timedelta(days=3)),
            "too_old_long_ago": UserSession(user=a, token_hash="6" * 64,
                                            created_at=now - keep - longest - timedelta(minutes=1),
                                            last_seen_at=now - keep - timedelta(minutes=10)),
            "revoked_everywhere": UserSession(user=x, token_hash="7" * 64, created_at=now - keep - timedelta(hours=2),
                                              last_seen_at=now - keep - timedelta(minutes=10)),
        }
        db.session.add_all(rows.values())
        db.session.commit()
        ids = {name: row.id for name, row in rows.items()}
        assert prune_sessions(now=now) == 4
        db.session.commit()
        left = set(db.session.scalars(select(UserSession.id)))
    assert left == {ids["live"], ids["signed_out_recently"], ids["idle_recently"]}


def test_the_hourly_job_prunes_and_commits(site):
    with site.app_context():
        a = db.session.scalar(select(User).where(User.email == "a@x.vn"))
        long_ago = utcnow() - timedelta(days=30)
        db.session.add(UserSession(user=a, token_hash="8" * 64, created_at=long_ago, last_seen_at=long_ago,
                                   ended_at=long_ago))
        db.session.commit()
        assert prune_user_sessions() == 1
    with site.app_context():
        assert db.session.scalar(select(func.count(UserSession.id))) == 0
