"""Settings: SURVEY_* variables, their aliases, the environment kind, and trusted proxies."""

from __future__ import annotations

import pytest

from survey import create_app
from survey.config import ConfigurationError, shared_rate_limits
from tests.conftest import hidden_fields, make_app, overall_field

KEY = "s" * 48


@pytest.fixture
def env(monkeypatch, tmp_path):
    def set_env(**variables):
        for name, value in variables.items():
            monkeypatch.setenv(f"SURVEY_{name}", value)
        monkeypatch.setenv("SURVEY_DATABASE_URL", variables.get("DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite'}"))
        return create_app()

    return set_env


def test_redis_url_sets_the_rate_limit_storage_unless_it_is_given(env, monkeypatch):
    assert env().config["RATELIMIT_STORAGE_URI"] == "memory://"
    app = env(REDIS_URL="redis://127.0.0.1:6379/3")
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/3" and shared_rate_limits(app)
    app = env(REDIS_URL="redis://127.0.0.1:6379/3", RATELIMIT_STORAGE_URL="redis://127.0.0.1:6379/4")
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/4"


def test_environment_kind_follows_the_database_unless_stated(env):
    assert env().config["ENV"] == "development"
    assert env(ENV="production", SECRET_KEY=KEY).config["ENV"] == "production"
    app = env(DATABASE_URL="postgresql+psycopg://u@127.0.0.1:1/x", SECRET_KEY=KEY)
    assert app.config["ENV"] == "production" and app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    with pytest.raises(ConfigurationError, match="ENV must be"):
        env(ENV="staging")


def test_trusted_proxies_must_be_a_count(env):
    assert env(TRUSTED_PROXIES="2").config["TRUSTED_PROXIES"] == 2
    with pytest.raises(ConfigurationError, match="TRUSTED_PROXIES"):
        env(TRUSTED_PROXIES="yes")


def test_instance_config_file_is_read(tmp_path, monkeypatch):
    instance = tmp_path / "inst"
    instance.mkdir()
    (instance / "config.py").write_text(f"PHONE_RATE_LIMIT = '7 per hour'\nSECRET_KEY = {KEY!r}\n")
    monkeypatch.setenv("SURVEY_INSTANCE_PATH", str(instance))
    monkeypatch.setenv("SURVEY_DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite'}")
    app = create_app()
    assert app.config["PHONE_RATE_LIMIT"] == "7 per hour"
    assert not (instance / "secret_key").exists()  # a configured key is used, none generated


def phone_posts(app, place, forwarded_for: list[str]) -> list[int]:
    statuses = []
    for address in forwarded_for:
        client = app.test_client()
        html = client.get(place.phone_url).get_data(as_text=True)
        data = {**hidden_fields(html), overall_field(html): "5"}
        statuses.append(client.post(place.phone_url, data=data, headers={"X-Forwarded-For": address},
                                    environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code)
    return statuses


@pytest.mark.parametrize("proxies, addresses, expected", [
    # No trusted proxy: a forged X-Forwarded-For cannot buy a fresh limit.
    (0, ["1.1.1.1", "2.2.2.2", "3.3.3.3"], [303, 303, 429]),
    # Behind one proxy each citizen has a limit of their own (not one for everyone behind the proxy) ...
    (1, ["1.1.1.1", "2.2.2.2", "3.3.3.3"], [303, 303, 303]),
    # ... and the same citizen is still limited.
    (1, ["1.1.1.1", "1.1.1.1", "1.1.1.1"], [303, 303, 429]),
    # With one proxy only the address it added counts, not what the client wrote before it.
    (1, ["9.9.9.9, 1.1.1.1", "8.8.8.8, 1.1.1.1", "7.7.7.7, 1.1.1.1"], [303, 303, 429]),
])
def test_rate_limits_count_the_client_behind_trusted_proxies(app, place, proxies, addresses, expected):
    # Each app gets a fresh in-memory counter store (no key prefix: Flask-Limiter keeps the first one it sees).
    node = make_app(app.config["SQLALCHEMY_DATABASE_URI"], TRUSTED_PROXIES=proxies, PHONE_RATE_LIMIT="2 per hour")
    assert phone_posts(node, place, addresses) == expected


@pytest.mark.parametrize("proxies, seen", [(0, "http 10.0.0.1"), (1, "https 1.1.1.1"), (2, "https 9.9.9.9")])
def test_forwarded_address_and_scheme_are_believed_only_from_trusted_proxies(app, proxies, seen):
    from flask import request

    node = make_app(app.config["SQLALCHEMY_DATABASE_URI"], TRUSTED_PROXIES=proxies)
    node.add_url_rule("/_seen", "seen", lambda: f"{request.scheme} {request.remote_addr}")
    response = node.test_client().get(
        "/_seen", headers={"X-Forwarded-For": "9.9.9.9, 1.1.1.1", "X-Forwarded-Proto": "https, https"},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert response.get_data(as_text=True) == seen
