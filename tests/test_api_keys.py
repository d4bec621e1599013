"""API keys: stored as hashes, created/listed/revoked from the command line, scoped to units."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from survey.api.keys import authenticate, subtree_ids
from survey.api.errors import APIError
from survey.extensions import db
from survey.models import ApiKey, Unit
from tests.conftest import make_place


def _create(runner, *args) -> str:
    result = runner.invoke(args=["api-keys", "create", *args])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def test_create_prints_the_key_once_and_stores_only_its_hash(app, runner):
    with app.app_context():
        make_place("HN")
    key = _create(runner, "--unit", "HN", "--name", "Một cửa Hà Nội")
    assert key.startswith("svk_") and len(key) > 40
    with app.app_context():
        stored = db.session.scalar(select(ApiKey))
        assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert key not in (stored.key_hash, stored.key_start, stored.name)
        assert [u.code for u in stored.units] == ["HN"]
    listing = runner.invoke(args=["api-keys", "list"]).output
    assert "HN" in listing and "active" in listing and "Một cửa Hà Nội" in listing
    assert key not in listing


def test_unknown_unit_is_refused_and_nothing_is_stored(app, runner):
    result = runner.invoke(args=["api-keys", "create", "--unit", "NOPE"])
    assert result.exit_code != 0 and "NOPE" in result.output
    with app.app_context():
        assert db.session.scalar(select(ApiKey)) is None


def test_revoked_key_no_longer_authenticates(app, runner):
    with app.app_context():
        make_place("HN")
    key = _create(runner, "--unit", "HN")
    with app.test_request_context():
        assert authenticate(f"Bearer {key}").name == "One-stop system"
    with app.app_context():
        key_id = db.session.scalar(select(ApiKey.id))
    result = runner.invoke(args=["api-keys", "revoke", str(key_id)])
    assert result.exit_code == 0 and "revoked" in result.output
    assert "revoked" in runner.invoke(args=["api-keys", "list"]).output
    with app.test_request_context():
        for header in (f"Bearer {key}", None, "Basic abc", "Bearer ", f"bearer {key}x"):
            try:
                authenticate(header)
            except APIError as exc:
                assert exc.status == 401
            else:
                raise AssertionError(f"{header!r} authenticated")


def test_scope_is_the_subtree_of_the_key_units(app):
    with app.app_context():
        hn = make_place("HN")
        make_place("HP")
        hn_ids = {u.id for u in db.session.scalars(select(Unit).where(Unit.code.like("HN%")))}
        province = db.session.scalar(select(Unit.id).where(Unit.code == "HN"))
        scope = subtree_ids([province])
        assert scope == hn_ids and hn.office_id in scope and hn.counter_id in scope


def test_a_key_for_a_province_also_covers_the_province_merged_into_it(app):
    """Since 2025 provinces merge: a key for the successor reaches the merged province's units (their
    ratings are reported under it), and a key for the merged one does not reach its successor."""
    with app.app_context():
        hp = make_place("HP")
        make_place("HN")
        hp_id = db.session.scalar(select(Unit.id).where(Unit.code == "HP"))
        hn_id = db.session.scalar(select(Unit.id).where(Unit.code == "HN"))
        db.session.get(Unit, hp_id).successor_id = hn_id
        db.session.commit()
        successor = subtree_ids([hn_id])
        assert {hp_id, hp.office_id, hp.counter_id} <= successor
        assert hn_id not in subtree_ids([hp_id])
        assert subtree_ids([]) == frozenset()
