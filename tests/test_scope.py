"""Roles bound to units, subtrees by one recursive query, and the one scoped loader."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from survey.cli import init_database
from survey.extensions import db
from survey.manager.operations import AccountError, create_user
from survey.models import Kiosk, Rating, Unit, UnitLevel, User
from survey.units.scope import Scope, get_unit_in_scope_or_404, load_in_scope, scope_of
from survey.units.tree import subtree_ids
from tests.conftest import hidden_fields, make_app


@dataclass(frozen=True)
class Tree:
    """Codes → ids of a small tree: two provinces, a commune with a centre and a reception point,
    a provincial centre, and an office merged into another."""

    ids: dict[str, int]

    def __getitem__(self, code: str) -> int:
        return self.ids[code]


def build_tree() -> Tree:
    """HN ─ HN-C1 (commune) ─ HN-C1-O (office) ─ HN-C1-O-Q1 (counter)
                            └ HN-C1-R (reception point, an office)
       └ HN-TT (office) ─ HN-TT-Q1
       └ HN-OLD (office, merged into HN-TT on 2026-01-01)
    HCM ─ HCM-TT (office) ─ HCM-TT-Q1"""
    def unit(code, level, parent=None, **extra):
        row = Unit(code=code, level=level, parent=parent, name_vi=f"Đơn vị {code}", name_en=f"Unit {code}", **extra)
        db.session.add(row)
        return row

    hn = unit("HN", UnitLevel.PROVINCE)
    c1 = unit("HN-C1", UnitLevel.COMMUNE, hn)
    c1o = unit("HN-C1-O", UnitLevel.OFFICE, c1)
    unit("HN-C1-O-Q1", UnitLevel.COUNTER, c1o)
    unit("HN-C1-R", UnitLevel.OFFICE, c1)
    tt = unit("HN-TT", UnitLevel.OFFICE, hn)
    unit("HN-TT-Q1", UnitLevel.COUNTER, tt)
    unit("HN-OLD", UnitLevel.OFFICE, hn, valid_to=date(2025, 12, 31), successor=tt)
    hcm = unit("HCM", UnitLevel.PROVINCE)
    hcm_tt = unit("HCM-TT", UnitLevel.OFFICE, hcm)
    unit("HCM-TT-Q1", UnitLevel.COUNTER, hcm_tt)
    db.session.flush()
    return Tree({u.code: u.id for u in db.session.scalars(select(Unit))})


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db(request):
    if request.param == "sqlite":
        yield request.getfixturevalue("app")
        return
    app = make_app(request.getfixturevalue("postgres_uri"))
    with app.app_context():
        init_database()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def codes(tree: Tree, ids) -> set[str]:
    by_id = {v: k for k, v in tree.ids.items()}
    return {by_id[i] for i in ids}


def test_subtree_is_the_unit_everything_below_and_what_was_merged_into_it(any_db):
    with any_db.app_context():
        tree = build_tree()
        assert codes(tree, subtree_ids(tree["HN-C1"])) == {"HN-C1", "HN-C1-O", "HN-C1-O-Q1", "HN-C1-R"}
        assert codes(tree, subtree_ids(tree["HN-TT"])) == {"HN-TT", "HN-TT-Q1", "HN-OLD"}
        assert codes(tree, subtree_ids(tree["HN"])) == {
            "HN", "HN-C1", "HN-C1-O", "HN-C1-O-Q1", "HN-C1-R", "HN-TT", "HN-TT-Q1", "HN-OLD"}
        assert codes(tree, subtree_ids(tree["HCM-TT-Q1"])) == {"HCM-TT-Q1"}


def test_a_cycle_in_the_tree_does_not_loop(any_db):
    with any_db.app_context():
        tree = build_tree()
        # A wrong merger record pointing back up: the query must still end.
        db.session.get(Unit, tree["HN"]).successor_id = tree["HN-TT"]
        db.session.flush()
        assert "HN" in codes(tree, subtree_ids(tree["HN-TT"]))


def user(role, unit_id=None) -> User:
    row = User(email=f"{role}-{unit_id}@example.gov.vn", name=role, role=role, password_hash="x",
               scope_unit_id=unit_id)
    db.session.add(row)
    db.session.flush()
    return row


def test_scope_of_each_role(app):
    with app.app_context():
        tree = build_tree()
        assert scope_of(user("national-admin")).everything
        province = scope_of(user("province-admin", tree["HN"]))
        assert province.valid and not province.everything and province.unit_code == "HN" and province.may_manage_users
        office = scope_of(user("office-manager", tree["HN-C1"]))
        assert office.valid and office.unit_code == "HN-C1" and not office.may_manage_users
        # A role bound to a unit of the wrong level, an office manager without a unit, an unknown role: nothing.
        assert not scope_of(user("province-admin", tree["HN-TT"])).valid
        assert not scope_of(user("office-manager")).valid
        assert not scope_of(user("manager", tree["HN"])).valid




def test_load_in_scope_returns_rows_inside_and_404_outside(any_db):
    with any_db.app_context(), any_db.test_request_context():
        from survey.models import Questionnaire

        tree = build_tree()
        questionnaire = db.session.scalar(select(Questionnaire).limit(1))
        ratings = {}
        for code in ("HN-C1-O", "HN-OLD", "HCM-TT"):
            rating = Rating(idempotency_key=f"k-{code}", questionnaire=questionnaire, office_id=tree[code],
                            channel="phone", overall_value=4, service_date=date(2026, 10, 1), period_month=202610)
            kiosk = Kiosk(office_id=tree[code], label="k", token_hash=f"h-{code}")
            db.session.add_all([rating, kiosk])
            db.session.flush()
            ratings[code] = (rating.id, kiosk.id)

        def scope(role, code=None):
            return scope_of(user(role, tree[code] if code else None))

        hn_tt = scope("office-manager", "HN-TT")
        # The merged office's rating belongs to its successor's manager; others are a 404.
        assert load_in_scope(Rating, ratings["HN-OLD"][0], scope=hn_tt).office_id == tree["HN-OLD"]
        assert load_in_scope(Kiosk, str(ratings["HN-OLD"][1]), scope=hn_tt).office_id == tree["HN-OLD"]
        for model, index in ((Rating, 0), (Kiosk, 1)):
            for code in ("HN-C1-O", "HCM-TT"):
                with pytest.raises(NotFound):
                    load_in_scope(model, ratings[code][index], scope=hn_tt)
        assert load_in_scope(Unit, tree["HN-TT-Q1"], scope=hn_tt).code == "HN-TT-Q1"
        with pytest.raises(NotFound):
            load_in_scope(Unit, tree["HN"], scope=hn_tt)  # not even the province above
        with pytest.raises(NotFound):
            get_unit_in_scope_or_404("HN-C1", scope=hn_tt)

        hn = scope("province-admin", "HN")
        assert {load_in_scope(Rating, ratings[c][0], scope=hn).id for c in ("HN-C1-O", "HN-OLD")}
        with pytest.raises(NotFound):
            load_in_scope(Rating, ratings["HCM-TT"][0], scope=hn)
        assert get_unit_in_scope_or_404("HN-C1-R", scope=hn).code == "HN-C1-R"
        for bad in ("HN\x00", "HN" * 40, ""):
            with pytest.raises(NotFound):
                get_unit_in_scope_or_404(bad, scope=hn)

        national = scope("national-admin")
        assert all(load_in_scope(Rating, r, scope=national) for r, _ in ratings.values())

        nobody = scope("office-manager")  # no unit: sees nothing
        for bad in (ratings["HN-OLD"][0], "1; drop", None, 2**70, -1):
            with pytest.raises(NotFound):
                load_in_scope(Rating, bad, scope=nobody if bad == ratings["HN-OLD"][0] else national)


def test_users_are_in_scope_by_their_unit(app):
    with app.app_context(), app.test_request_context():
        tree = build_tree()
        hn_admin = user("province-admin", tree["HN"])
        tt_manager = user("office-manager", tree["HN-TT"])
        hcm_manager = user("office-manager", tree["HCM-TT"])
        national = user("national-admin")
        hn_scope = scope_of(hn_admin)
        assert load_in_scope(User, tt_manager.id, scope=hn_scope) is tt_manager
        for other in (hcm_manager, national):
            with pytest.raises(NotFound):
                load_in_scope(User, other.id, scope=hn_scope)
        assert load_in_scope(User, national.id, scope=scope_of(national)) is national


# ------------------------------------------------------------------ create-user


def test_create_user_prints_a_password_that_signs_in(app, runner):
    with app.app_context():
        build_tree()
        db.session.commit()
    result = runner.invoke(args=["create-user", "Head@HN.gov.vn", "--role", "province-admin", "--unit", "HN"])
    assert result.exit_code == 0, result.output
    password = result.output.split("One-time password (shown only now): ")[1].splitlines()[0].strip()
    assert len(password) >= 12
    assert "they will set up an authenticator app (TOTP) at their first sign-in" in result.output
    with app.app_context():
        row = db.session.scalar(select(User).where(User.email == "Head@HN.gov.vn"))
        assert row.role == "province-admin" and row.scope_unit.code == "HN"
        assert password not in row.password_hash and row.check_password(password)
    client = app.test_client()
    page = client.get("/manager/sign-in").get_data(as_text=True)
    response = client.post("/manager/sign-in", data={**hidden_fields(page), "email": "head@hn.gov.vn",
                                                     "password": password})
    # The one-time password opens only the page where the person chooses their own.
    assert response.status_code == 302 and response.headers["Location"].endswith("/manager/sign-in/new-password")


def test_create_user_reads_the_password_from_stdin(app, runner):
    with app.app_context():
        build_tree()
        db.session.commit()
    result = runner.invoke(args=["create-user", "tt@hn.gov.vn", "--role", "office-manager", "--unit", "HN-C1",
                                 "--password-stdin"], input="correct horse battery\n")
    assert result.exit_code == 0, result.output
    assert "correct horse" not in result.output and "One-time password" not in result.output
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "tt@hn.gov.vn")).check_password(
            "correct horse battery")


@pytest.mark.parametrize("args, message", [
    (["--role", "province-admin", "--unit", "HN-TT"], "HN-TT is at level office"),
    (["--role", "office-manager", "--unit", "HN"], "HN is at level province"),
    (["--role", "office-manager"], "needs --unit"),
    (["--role", "national-admin", "--unit", "HN"], "leave out --unit"),
    (["--role", "office-manager", "--unit", "NOPE"], "No unit with code 'NOPE'"),
    (["--role", "boss", "--unit", "HN"], "Invalid value for '--role'"),
])
def test_create_user_refuses_a_unit_that_does_not_fit_the_role(app, runner, args, message):
    with app.app_context():
        build_tree()
        db.session.commit()
    result = runner.invoke(args=["create-user", "x@hn.gov.vn", *args])
    assert result.exit_code != 0 and message in result.output
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "x@hn.gov.vn")) is None


def test_create_user_refuses_a_second_account_and_a_short_password(app):
    with app.app_context():
        build_tree()
        create_user("a@hn.gov.vn", "national-admin", None)
        with pytest.raises(AccountError, match="already an account"):
            create_user("A@HN.gov.vn", "national-admin", None)
        with pytest.raises(AccountError, match="at least 12"):
            create_user("b@hn.gov.vn", "national-admin", None, password="short")
        with pytest.raises(AccountError, match="Not an e-mail"):
            create_user("not an email", "national-admin", None)


def test_the_migration_renames_the_old_roles(tmp_path):
    from flask_migrate import upgrade
    from sqlalchemy import text

    app = make_app(f"sqlite:///{tmp_path / 'old.sqlite'}")
    with app.app_context():
        directory = app.extensions["migrate"].directory
        upgrade(directory=directory, revision="publish_0001")
        with db.engine.begin() as connection:
            for email, role in (("m@x.vn", "manager"), ("a@x.vn", "admin")):
                connection.execute(text("insert into users (email, name, password_hash, role, active, created_at) "
                                        "values (:e, 'n', 'h', :r, true, '2026-01-01')"), {"e": email, "r": role})
        upgrade(directory=directory)
        roles = dict(db.session.execute(text("select email, role from users")).all())
        assert roles == {"m@x.vn": "office-manager", "a@x.vn": "national-admin"}
