"""The secret key: production refuses to start without one, development generates one safely, every
purpose signs with its own derived key, and a previous key keeps verifying during a rotation."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import threading
from pathlib import Path

import pytest

from survey import create_app
from survey.config import ConfigurationError
from survey.secrets import HKDF_SALT, create_key_file, hkdf_sha256, read_key_file
from tests.conftest import TEST_CONFIG, alerts, hidden_fields, make_app, overall_field

POSTGRES = "postgresql+psycopg://nobody@127.0.0.1:1/none"  # never connected to: only its kind matters
LONG_KEY = "k" * 48


def build(tmp_path, **config):
    return create_app({"TESTING": True, "RATELIMIT_STORAGE_URI": "memory://",
                       "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}", **config})


# RFC 5869, appendix A: test cases 1, 2 and 3 (SHA-256).
@pytest.mark.parametrize("ikm, salt, info, length, okm", [
    ("0b" * 22, "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9", 42,
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
    (bytes(range(0x00, 0x50)).hex(), bytes(range(0x60, 0xb0)).hex(), bytes(range(0xb0, 0x100)).hex(), 82,
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09"
     "da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"),
    ("0b" * 22, "", "", 42,
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
])
def test_hkdf_matches_the_rfc_5869_test_vectors(ikm, salt, info, length, okm):
    result = hkdf_sha256(bytes.fromhex(ikm), salt=bytes.fromhex(salt), info=bytes.fromhex(info), length=length)
    assert result.hex() == okm


@pytest.mark.parametrize("config", [
    {"SQLALCHEMY_DATABASE_URI": POSTGRES},                              # a server database means production
    {"ENV": "production"},                                              # or saying so, on SQLite too
    {"SQLALCHEMY_DATABASE_URI": POSTGRES, "SECRET_KEY": ""},
])
def test_production_refuses_to_start_without_a_configured_secret(tmp_path, config):
    with pytest.raises(ConfigurationError, match="No secret key configured"):
        build(tmp_path, **config)
    assert not (Path(os.environ["SURVEY_INSTANCE_PATH"]) / "secret_key").exists()


def test_production_refuses_a_short_secret_and_accepts_a_long_one(tmp_path):
    with pytest.raises(ConfigurationError, match="too short"):
        build(tmp_path, ENV="production", SECRET_KEY="dev")
    app = build(tmp_path, ENV="production", SECRET_KEY=LONG_KEY)
    assert app.config["ENV"] == "production"


def test_development_generates_one_private_key_and_keeps_it(tmp_path):
    instance = Path(os.environ["SURVEY_INSTANCE_PATH"])
    first = build(tmp_path)
    key_file = instance / "secret_key"
    assert first.config["ENV"] == "development"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    assert len(key_file.read_text().strip()) >= 48
    assert build(tmp_path).secret_key == first.secret_key  # the same key at the next start


def test_sqlite_database_file_is_created_private(tmp_path):
    app = build(tmp_path)
    from survey.extensions import db

    with app.app_context():
        db.session.execute(db.text("create table t (x int)"))
        db.session.commit()
        db.engine.dispose()
    assert stat.S_IMODE((tmp_path / "db.sqlite").stat().st_mode) == 0o600


def test_many_processes_creating_the_key_at_once_agree_on_one_complete_key(tmp_path):
    path = tmp_path / "secret_key"
    barrier = threading.Barrier(16)
    seen = []

    def start():
        barrier.wait()
        create_key_file(path)
        seen.append(read_key_file(path))

    threads = [threading.Thread(target=start) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(seen) == 16 and len({tuple(keys) for keys in seen}) == 1 and len(seen[0][0]) >= 48
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]  # no temporary files left behind


def test_empty_or_unreadable_key_file_is_a_clear_startup_error(tmp_path):
    key_file = Path(os.environ["SURVEY_INSTANCE_PATH"]) / "secret_key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text("\n  \n")
    with pytest.raises(ConfigurationError, match="is empty"):
        build(tmp_path)
    key_file.unlink()
    key_file.mkdir()  # unreadable as a file (a permission test would not stop root)
    with pytest.raises(ConfigurationError, match="Cannot read the secret key file"):
        build(tmp_path)
    with pytest.raises(ConfigurationError, match="Cannot read the secret key file"):
        build(tmp_path, ENV="production", SECRET_KEY_FILE=str(tmp_path / "missing"))


def test_key_file_holds_the_current_key_then_the_previous_ones(tmp_path):
    key_file = tmp_path / "keys"
    key_file.write_text(f"{'n' * 40}\n{'o' * 40}\n")
    app = build(tmp_path, ENV="production", SECRET_KEY_FILE=str(key_file))
    expected = hkdf_sha256(b"n" * 40, salt=HKDF_SALT, info=b"flask-session").hex()
    assert app.secret_key == expected
    assert app.config["SECRET_KEY_FALLBACKS"] == [hkdf_sha256(b"o" * 40, salt=HKDF_SALT, info=b"flask-session").hex()]
    with pytest.raises(ConfigurationError, match="not both"):
        build(tmp_path, SECRET_KEY=LONG_KEY, SECRET_KEY_FILE=str(key_file))


def test_each_purpose_signs_with_its_own_derived_key(client, app, place):
    master = TEST_CONFIG["SECRET_KEY"].encode()
    session_key = hkdf_sha256(master, salt=HKDF_SALT, info=b"flask-session")
    kiosk_key = hkdf_sha256(master, salt=HKDF_SALT, info=b"kiosk-form")
    assert app.secret_key == session_key.hex() != master.decode()
    html = client.get(place.kiosk_url).get_data(as_text=True)
    with app.app_context():
        from survey.models import Kiosk
        from survey.extensions import db

        token_hash = db.session.get(Kiosk, place.kiosk_id).token_hash
    expected = hmac.new(kiosk_key, b"kiosk-form:" + token_hash.encode(), hashlib.sha256).hexdigest()
    assert hidden_fields(html)["csrf_token"] == expected
    under_master = hmac.new(master, b"kiosk-form:" + token_hash.encode(), hashlib.sha256).hexdigest()
    assert expected != under_master


def rotated(app, **config):
    """Another app on the same database, with another secret (a node after the rotation)."""
    return make_app(app.config["SQLALCHEMY_DATABASE_URI"], **config)


NEW_KEY = "new-secret-new-secret-new-secret-new-secret"


@pytest.mark.parametrize("fallbacks, accepted", [([TEST_CONFIG["SECRET_KEY"]], True), ([], False)])
def test_rotation_keeps_sessions_valid_while_the_old_key_is_a_fallback(app, place, fallbacks, accepted):
    old = app.test_client()
    old.get(place.phone_url, query_string={"lang": "en"})  # the session remembers English
    new = rotated(app, SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=fallbacks).test_client()
    new.set_cookie("session", old.get_cookie("session").value)
    html = new.get(place.phone_url).get_data(as_text=True)
    assert ('<html lang="en"' in html) is accepted


@pytest.mark.parametrize("fallbacks, accepted", [([TEST_CONFIG["SECRET_KEY"]], True), ([], False)])
def test_rotation_keeps_open_kiosk_and_phone_pages_working(app, place, fallbacks, accepted):
    new_app = rotated(app, SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=fallbacks)
    # A kiosk page left open since before the rotation.
    kiosk_html = app.test_client().get(place.kiosk_url).get_data(as_text=True)
    response = new_app.test_client().post(
        place.kiosk_url, data={**hidden_fields(kiosk_html), overall_field(kiosk_html): "5"})
    assert (response.status_code == 303) is accepted
    if not accepted:
        assert response.status_code == 400 and alerts(response.get_data(as_text=True))
    # A phone page (its own signed token, bound to the QR code; no session) opened before the rotation.
    phone_html = app.test_client().get(place.phone_url).get_data(as_text=True)
    new = new_app.test_client()
    response = new.post(place.phone_url, data={**hidden_fields(phone_html), overall_field(phone_html): "4"})
    assert (response.status_code == 303) is accepted


def test_numeric_secret_from_the_environment_is_kept_as_text(tmp_path, monkeypatch):
    monkeypatch.setenv("SURVEY_SECRET_KEY", "1" * 40)  # the environment loader parses it as a number
    monkeypatch.setenv("SURVEY_ENV", "production")
    monkeypatch.setenv("SURVEY_DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite'}")
    app = create_app()
    assert app.secret_key == hkdf_sha256(b"1" * 40, salt=HKDF_SALT, info=b"flask-session").hex()
