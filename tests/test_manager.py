"""Manager sign-in with Flask-Login (the dashboard: tests/test_dashboard.py)."""

from __future__ import annotations

import pytest

from survey.demo import ensure_demo_manager
from survey.extensions import db
from tests.conftest import hidden_fields
from tests.twofactor_helpers import finish_second_step


@pytest.fixture
def manager(app):
    with app.app_context():
        user = ensure_demo_manager("s3cret-pass")
        db.session.commit()
        return user.email


def sign_in(client, email, password, lang="en"):
    """The password step and, for an administrator (the demo manager without the demo tree), the code."""
    page = client.get("/manager/sign-in", query_string={"lang": lang}).get_data(as_text=True)
    response = client.post("/manager/sign-in", data={**hidden_fields(page), "email": email, "password": password})
    return finish_second_step(client.application, client, response, email)


def test_sign_in_and_out(client, manager):
    assert client.get("/manager/").status_code == 302
    response = sign_in(client, manager.upper(), "s3cret-pass")
    assert response.status_code == 302 and response.headers["Location"].endswith("/manager/")
    assert "Signed in as Quản lý demo" in client.get("/manager/").get_data(as_text=True)
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
    response = finish_second_step(client.application, client, response, manager)
    assert response.headers["Location"].endswith("/manager/")


# ------------------------------------------------------------------ throttling and lockout

import statistics  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import timedelta  # noqa: E402

from sqlalchemy import select, update  # noqa: E402

from survey.models import User, UserSession  # noqa: E402
from tests.conftest import alerts, make_app  # noqa: E402
from tests.events import security_events  # noqa: E402,F401 - fixture

LOCKED_EN = "Too many failed sign-in attempts"
LOCKED_VI = "Đăng nhập sai quá nhiều lần"


def attempt(client, email, password, lang="en", address="198.51.100.1"):
    """A sign-in attempt; after a right password, the administrator's second step (from the same address)."""
    page = client.get("/manager/sign-in", query_string={"lang": lang}).get_data(as_text=True)
    response = client.post("/manager/sign-in", data={**hidden_fields(page), "email": email, "password": password},
                           environ_base={"REMOTE_ADDR": address})
    return finish_second_step(client.application, client, response, email, environ_base={"REMOTE_ADDR": address})


@pytest.fixture
def lockout_app(tmp_path, migrated_sqlite):
    """Sign-in limits small enough to reach in a test; the per-address attempt limit out of the way."""
    import shutil

    path = tmp_path / "lockout.sqlite"
    shutil.copy(migrated_sqlite, path)
    app = make_app(f"sqlite:///{path}", SIGN_IN_RATE_LIMIT="1000 per minute", SIGN_IN_ACCOUNT_FAILURES="3 per 15 minutes",
                   SIGN_IN_ADDRESS_FAILURES="6 per 15 minutes", SIGN_IN_LOCKOUT_MINUTES=15)
    with app.app_context():
        ensure_demo_manager("s3cret-pass")
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("email", ["quanly@demo.gov.vn", "nobody@demo.gov.vn"], ids=["known", "unknown"])
@pytest.mark.parametrize("lang, locked_message", [("en", LOCKED_EN), ("vi", LOCKED_VI)])
def test_an_account_is_locked_after_repeated_failures_known_or_not(lockout_app, email, lang, locked_message,
                                                                   security_events):
    client = lockout_app.test_client()
    statuses = [attempt(client, email, "wrong", lang).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    locked = attempt(client, email, "s3cret-pass", lang)  # even the right password, while locked
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 14 * 60
    html = locked.get_data(as_text=True)
    assert locked_message in html and "15" in html
    assert client.get("/manager/").status_code == 302
    # Another address is locked out of this account too (the counter is the account's)...
    assert attempt(client, email, "s3cret-pass", lang, address="198.51.100.2").status_code == 429
    # ...and another account from the first address is not.
    assert attempt(lockout_app.test_client(), "other@demo.gov.vn", "x", lang).status_code == 401
    assert len(security_events.named("sign_in_lockout")) == 1
    assert security_events.named("sign_in_refused_locked")


def test_locked_responses_do_not_tell_known_from_unknown_accounts(lockout_app):
    bodies = {}
    for email in ("quanly@demo.gov.vn", "nobody@demo.gov.vn"):
        client = lockout_app.test_client()
        wrong = [attempt(client, email, "wrong", address="198.51.100.9") for _ in range(3)]
        locked = attempt(client, email, "wrong", address="198.51.100.10")
        bodies[email] = ([r.status_code for r in wrong], locked.status_code,
                         alerts(wrong[0].get_data(as_text=True)), alerts(locked.get_data(as_text=True)))
    assert bodies["quanly@demo.gov.vn"] == bodies["nobody@demo.gov.vn"]


def test_an_address_is_locked_after_failures_across_many_accounts(lockout_app):
    client = lockout_app.test_client()
    statuses = [attempt(client, f"guess{i}@demo.gov.vn", "x").status_code for i in range(6)]
    assert statuses == [401] * 6
    assert attempt(client, "quanly@demo.gov.vn", "s3cret-pass").status_code == 429
    other = lockout_app.test_client()
    assert attempt(other, "quanly@demo.gov.vn", "s3cret-pass", address="198.51.100.77").status_code == 302


def test_a_successful_sign_in_clears_the_accounts_failures(lockout_app):
    client = lockout_app.test_client()
    for _ in range(2):
        assert attempt(client, "quanly@demo.gov.vn", "wrong").status_code == 401
    assert attempt(client, "quanly@demo.gov.vn", "s3cret-pass").status_code == 302
    for _ in range(2):
        assert attempt(lockout_app.test_client(), "quanly@demo.gov.vn", "wrong").status_code == 401
    assert attempt(lockout_app.test_client(), "quanly@demo.gov.vn", "s3cret-pass").status_code == 302


def test_a_lockout_ends_by_itself(tmp_path, migrated_sqlite):
    import shutil

    shutil.copy(migrated_sqlite, tmp_path / "x.sqlite")
    app = make_app(f"sqlite:///{tmp_path / 'x.sqlite'}", SIGN_IN_ACCOUNT_FAILURES="2 per 15 minutes",
                   SIGN_IN_LOCKOUT_MINUTES=2 / 60)  # two seconds
    with app.app_context():
        ensure_demo_manager("s3cret-pass")
        db.session.commit()
    client = app.test_client()
    for _ in range(2):
        attempt(client, "quanly@demo.gov.vn", "wrong")
    assert attempt(client, "quanly@demo.gov.vn", "s3cret-pass").status_code == 429
    time.sleep(2.5)
    assert attempt(client, "quanly@demo.gov.vn", "s3cret-pass").status_code == 302
    with app.app_context():
        db.engine.dispose()


@pytest.mark.redis
def test_lockout_counts_across_workers_through_redis(tmp_path, migrated_sqlite, redis_uri):
    """Two app instances (as two gunicorn workers or two nodes) share one Redis: failures sent to
    either count towards the same lock."""
    import shutil

    import redis

    from survey.security import email_digest

    shutil.copy(migrated_sqlite, tmp_path / "x.sqlite")
    # Keys unique to this run without RATELIMIT_KEY_PREFIX: Flask-Limiter keeps the first prefix it is
    # given for every later app in the process, which would leak into other tests. A secret of its own
    # makes the e-mail's counter key unique, and an address of its own the address counter's.
    run = uuid.uuid4()
    address = f"10.{run.bytes[0]}.{run.bytes[1]}.{run.bytes[2]}"
    settings = dict(RATELIMIT_STORAGE_URI=redis_uri, SECRET_KEY=f"test-{run.hex}",
                    SIGN_IN_ACCOUNT_FAILURES="4 per 15 minutes", SIGN_IN_RATE_LIMIT="1000 per minute")
    worker_a = make_app(f"sqlite:///{tmp_path / 'x.sqlite'}", **settings)
    with worker_a.app_context():
        ensure_demo_manager("s3cret-pass")
        db.session.commit()
        digest = email_digest("quanly@demo.gov.vn")
    worker_b = make_app(f"sqlite:///{tmp_path / 'x.sqlite'}", **settings)
    try:
        statuses = [attempt(worker.test_client(), "quanly@demo.gov.vn", "wrong", address=address).status_code
                    for worker in (worker_a, worker_b, worker_a, worker_b)]
        assert statuses == [401] * 4
        locked = attempt(worker_a.test_client(), "quanly@demo.gov.vn", "s3cret-pass", address=address)
        assert locked.status_code == 429
    finally:
        connection = redis.Redis.from_url(redis_uri)
        keys = [*connection.scan_iter(f"*{digest}*"), *connection.scan_iter(f"*address:{address}/*")]
        if keys:
            connection.delete(*keys)
        for worker in (worker_a, worker_b):
            with worker.app_context():
                db.engine.dispose()


def test_the_attempt_limit_per_address_answers_in_the_persons_language(tmp_path, migrated_sqlite, security_events):
    import shutil

    shutil.copy(migrated_sqlite, tmp_path / "x.sqlite")
    app = make_app(f"sqlite:///{tmp_path / 'x.sqlite'}", SIGN_IN_RATE_LIMIT="2 per minute")
    client = app.test_client()
    statuses = [attempt(client, "a@b.vn", "x", "vi").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    response = attempt(client, "a@b.vn", "x", "vi")
    assert "Có quá nhiều lần thử" in alerts(response.get_data(as_text=True))[0]
    assert [e["path"] for e in security_events.named("rate_limited")] == ["/manager/sign-in"] * 2
    with app.app_context():
        db.engine.dispose()


# ------------------------------------------------------------------ no timing difference between accounts

def test_every_attempt_checks_exactly_one_password_hash(app, manager, monkeypatch):
    import survey.manager.operations as operations

    checked = []
    real = operations.check_password_hash
    monkeypatch.setattr(operations, "check_password_hash", lambda h, p: checked.append(h) or real(h, p))
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == manager))
        real_hash = user.password_hash
        inactive = User(email="off@demo.gov.vn", name="Off", active=False)
        inactive.set_password("s3cret-pass")
        db.session.add(inactive)
        db.session.commit()
    for email, password in [(manager, "wrong"), ("nobody@demo.gov.vn", "wrong"), ("off@demo.gov.vn", "s3cret-pass"),
                            (manager, "s3cret-pass")]:
        checked.clear()
        attempt(app.test_client(), email, password)
        assert len(checked) == 1, email
        # Unknown e-mails are checked against a hash of the same method and cost as real ones.
        assert checked[0].split("$")[0] == real_hash.split("$")[0]


def test_unknown_and_known_emails_take_the_same_time(tmp_path, migrated_sqlite):
    """Coarse on purpose: with the dummy hash the two medians are within a factor of 1.5; without it an
    unknown e-mail answers about 10x faster (no hash at all)."""
    import shutil

    shutil.copy(migrated_sqlite, tmp_path / "x.sqlite")
    app = make_app(f"sqlite:///{tmp_path / 'x.sqlite'}", SIGN_IN_RATE_LIMIT="1000 per minute",
                   SIGN_IN_ACCOUNT_FAILURES="1000 per minute", SIGN_IN_ADDRESS_FAILURES="1000 per minute")
    with app.app_context():
        manager = ensure_demo_manager("s3cret-pass").email
        db.session.commit()
    client = app.test_client()
    page = client.get("/manager/sign-in").get_data(as_text=True)
    fields = hidden_fields(page)
    samples = {"known": [], "unknown": []}
    for i in range(15):  # interleaved, so the machine's load affects both alike
        for kind, email in (("known", manager), ("unknown", f"nobody{i}@demo.gov.vn")):
            started = time.perf_counter()
            response = client.post("/manager/sign-in", data={**fields, "email": email, "password": "wrong"})
            samples[kind].append(time.perf_counter() - started)
            assert response.status_code == 401
    known, unknown = statistics.median(samples["known"]), statistics.median(samples["unknown"])
    assert 1 / 1.5 < unknown / known < 1.5, (known, unknown)


# ------------------------------------------------------------------ sessions the server can end

def signed_in_client(app, email="quanly@demo.gov.vn", password="s3cret-pass"):
    client = app.test_client()
    assert attempt(client, email, password).status_code == 302
    return client


def session_cookie(client) -> str:
    return client.get_cookie("session").value


def test_a_copy_of_the_session_cookie_is_useless_after_sign_out(app, manager, security_events):
    client = signed_in_client(app)
    stolen = session_cookie(client)
    page = client.get("/manager/").get_data(as_text=True)
    assert client.post("/manager/sign-out", data=hidden_fields(page)).status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    response = thief.get("/manager/?lang=en")
    assert response.status_code == 302 and "/manager/sign-in" in response.headers["Location"]
    assert "Your session has ended" in thief.get(response.headers["Location"]).get_data(as_text=True)
    assert security_events.named("session_refused")[0]["reason"] == "revoked"


def test_a_password_change_ends_every_session(app, manager):
    first, second = signed_in_client(app), signed_in_client(app)
    assert first.get("/manager/").status_code == 200
    with app.app_context():
        db.session.scalar(select(User).where(User.email == manager)).set_password("new-pass-123")
        db.session.commit()
    assert first.get("/manager/").status_code == 302 and second.get("/manager/").status_code == 302
    assert signed_in_client(app, password="new-pass-123").get("/manager/").status_code == 200


def test_sign_out_everywhere_ends_the_other_devices_too(app, manager):
    phone, desk = signed_in_client(app), signed_in_client(app)
    page = desk.get("/manager/?lang=en").get_data(as_text=True)
    response = desk.post("/manager/sign-out-everywhere", data=hidden_fields(page))
    assert response.status_code == 302
    assert "signed out on every device" in desk.get(response.headers["Location"]).get_data(as_text=True)
    assert phone.get("/manager/").status_code == 302 and desk.get("/manager/").status_code == 302


@pytest.mark.parametrize("column, age, message", [
    ("last_seen_at", timedelta(minutes=31), "signed out after a while without activity"),
    ("created_at", timedelta(hours=12, minutes=1), "Your session has ended"),
])
def test_idle_and_old_sessions_end(app, manager, column, age, message):
    from survey.models._common import utcnow

    client = signed_in_client(app)
    assert client.get("/manager/").status_code == 200
    with app.app_context():
        db.session.execute(update(UserSession).values({column: utcnow() - age}))
        db.session.commit()
    response = client.get("/manager/?lang=en")
    assert response.status_code == 302
    assert message in client.get(response.headers["Location"]).get_data(as_text=True)


def test_activity_keeps_a_session_alive_and_is_written_at_most_once_a_minute(app, manager):
    from survey.models._common import utcnow

    client = signed_in_client(app)
    with app.app_context():
        db.session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=29)))
        db.session.commit()
    assert client.get("/manager/").status_code == 200
    with app.app_context():
        seen = db.session.scalar(select(UserSession.last_seen_at))
        assert utcnow() - seen < timedelta(seconds=10)
    assert client.get("/manager/").status_code == 200
    with app.app_context():
        assert db.session.scalar(select(UserSession.last_seen_at)) == seen  # not rewritten within the minute


def test_sign_in_starts_a_fresh_session_keeping_only_the_language(app, manager):
    client = app.test_client()
    client.get("/manager/sign-in?lang=en")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    assert attempt(client, manager, "s3cret-pass").status_code == 302
    with client.session_transaction() as session:
        assert "planted" not in session and session["lang"] == "en"
    with app.app_context():
        row = db.session.scalar(select(UserSession))
        assert row.ip == "198.51.100.1" and row.ended_at is None
        assert len(row.token_hash) == 64 and row.token_hash not in session_cookie(client)
