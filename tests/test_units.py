"""Changing the unit tree (survey.units.operations and ``survey units ...``): who may add, rename,
configure and merge units, the merger rules, the audit entries, and the roll-up of a merged unit's
ratings under its successor through the results service."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.manager.operations import create_user
from survey.models import AuditEntry, Questionnaire, Unit, UnitIndexScore, UnitLevel, User
from survey.results import service
from survey.results.service import ResultOptions, forget_live_results
from survey.results.tree import forget_unit_tree, unit_tree
from survey.units import operations
from survey.units.operations import UnitError
from survey.units.scope import scope_of
from tests.results_helpers import rate
from tests.test_dashboard import unit

TODAY = date(2026, 10, 20)
#: Publish from 10 ratings, so the small hand-counted samples below get an index.
FEW = ResultOptions(min_n=10)


@pytest.fixture
def tree(app):
    """Hà Nội with offices HN-A and HN-B (a counter each) and a commune HN-C; Huế with office HUE-A;
    an account for each role."""
    app.config["RESULTS_TODAY"] = TODAY
    forget_live_results()
    forget_unit_tree()
    with app.app_context():
        hn, hue = unit("HN", UnitLevel.PROVINCE), unit("HUE", UnitLevel.PROVINCE)
        for code, parent in (("HN-A", hn), ("HN-B", hn), ("HUE-A", hue)):
            office = unit(code, UnitLevel.OFFICE, parent)
            unit(f"{code}-Q1", UnitLevel.COUNTER, office)
        unit("HN-C", UnitLevel.COMMUNE, hn)
        db.session.flush()
        create_user("national@x.vn", "national-admin", None, password="a-long-enough-password")
        create_user("admin-hn@x.vn", "province-admin", "HN", password="a-long-enough-password")
        create_user("manager-hna@x.vn", "office-manager", "HN-A", password="a-long-enough-password")
        db.session.commit()
    yield app
    forget_live_results()
    forget_unit_tree()


def get(code: str) -> Unit:
    return db.session.scalar(select(Unit).where(Unit.code == code))


def person(email: str) -> tuple[User, object]:
    user = db.session.scalar(select(User).where(User.email == email))
    return user, scope_of(user)


def entries(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


# --------------------------------------------------------------------------- adding, renaming, settings


def test_a_provincial_administrator_adds_units_below_the_province_only(tree):
    with tree.app_context():
        admin, scope = person("admin-hn@x.vn")
        counter = operations.create_unit(get("HN-A"), "HN-A-Q2", "counter", " Quầy 2 ", "Counter 2",
                                         valid_from=date(2026, 11, 1), actor=admin, scope=scope)
        office = operations.create_unit(get("HN-C"), "HN-C-OFFICE", UnitLevel.OFFICE, "Bộ phận một cửa xã",
                                        actor=admin, scope=scope)
        db.session.commit()
        assert (counter.parent.code, counter.level, counter.name_vi, counter.valid_from) == (
            "HN-A", UnitLevel.COUNTER, "Quầy 2", date(2026, 11, 1))
        assert office.valid_from == TODAY and office.name_en is None  # today in Vietnam (RESULTS_TODAY)
        [first, second] = entries("unit_created")
        assert (first.actor_id, first.target_id, first.unit_id) == (admin.id, counter.id, counter.id)
        assert json.loads(first.data) == {"code": "HN-A-Q2", "level": "counter", "parent": "HN-A",
                                          "name_vi": "Quầy 2", "name_en": "Counter 2", "valid_from": "2026-11-01"}
        assert json.loads(second.data)["parent"] == "HN-C"
        assert unit_tree().by_code["HN-A-Q2"].parent_id == get("HN-A").id  # the cached tree was refreshed

        refusals = [
            (get("HUE-A"), "HUE-A-Q2", "counter", "not_allowed"),  # another province
            (None, "DN", "province", "parent_needed"),  # only a national administrator adds provinces
            (get("HN-A"), "HN-A-X", "office", "level"),  # no office under an office
            (get("HN"), "HN-A", "office", "code_taken"),
            (get("HN"), "HN A2", "office", "bad_code"),
            (get("HN"), "HN-X", "region", "bad_level"),
        ]
        for parent, code, level, reason in refusals:
            with pytest.raises(UnitError) as refused:
                operations.create_unit(parent, code, level, "Tên", actor=admin, scope=scope)
            assert refused.value.code == reason, code
        manager, manager_scope = person("manager-hna@x.vn")
        with pytest.raises(UnitError) as refused:
            operations.create_unit(get("HN-A"), "HN-A-Q3", "counter", "Quầy 3", actor=manager, scope=manager_scope)
        assert refused.value.code == "not_allowed"
        national, national_scope = person("national@x.vn")
        operations.create_unit(None, "DN", "province", "Đà Nẵng", actor=national, scope=national_scope)
        with pytest.raises(UnitError) as refused:
            operations.create_unit(get("HN-A"), "HN-A-Q0", "counter", "Quầy 0", valid_from=date(2020, 1, 1),
                                   actor=national, scope=national_scope)
        assert refused.value.code == "too_early"  # before its office existed (2025-07-01)
        db.session.commit()
        assert len(entries("unit_created")) == 3


def test_renaming_keeps_the_code_and_is_audited(tree):
    with tree.app_context():
        admin, scope = person("admin-hn@x.vn")
        office = get("HN-A")
        assert operations.rename_unit(office, "Trung tâm mới", "New centre", actor=admin, scope=scope)
        assert not operations.rename_unit(office, "Trung tâm mới", "New centre", actor=admin, scope=scope)
        db.session.commit()
        assert (get("HN-A").name_vi, get("HN-A").name_en) == ("Trung tâm mới", "New centre")
        [entry] = entries("unit_renamed")
        assert json.loads(entry.data) == {"before": {"name_vi": "Đơn vị HN-A", "name_en": "Unit HN-A"},
                                          "after": {"name_vi": "Trung tâm mới", "name_en": "New centre"}}
        for who, target in (("admin-hn@x.vn", "HN"), ("admin-hn@x.vn", "HUE-A"), ("manager-hna@x.vn", "HN-A")):
            actor, actor_scope = person(who)
            with pytest.raises(UnitError) as refused:  # not the province itself, not elsewhere, not managers
                operations.rename_unit(get(target), "X", None, actor=actor, scope=actor_scope)
            assert refused.value.code == "not_allowed"
        with pytest.raises(UnitError) as refused:
            operations.rename_unit(office, "  ", None, actor=admin, scope=scope)
        assert refused.value.code == "name_needed"


def test_an_office_manager_sets_the_complaint_contact_of_the_office(tree):
    with tree.app_context():
        manager, scope = person("manager-hna@x.vn")
        code = db.session.scalar(select(Questionnaire.code).limit(1))
        assert operations.update_settings(get("HN-A"), complaint_contact=" 1900 1234, hn-a@x.vn ",
                                          questionnaire_code=code, actor=manager, scope=scope)
        db.session.commit()
        assert (get("HN-A").complaint_contact, get("HN-A").questionnaire_code) == ("1900 1234, hn-a@x.vn", code)
        [entry] = entries("unit_settings_changed")
        assert entry.actor_id == manager.id and json.loads(entry.data)["after"] == {
            "complaint_contact": "1900 1234, hn-a@x.vn", "questionnaire_code": code}
        with pytest.raises(UnitError) as refused:
            operations.update_settings(get("HN-B"), complaint_contact="x", questionnaire_code=None, actor=manager,
                                       scope=scope)
        assert refused.value.code == "not_allowed"
        with pytest.raises(UnitError) as refused:
            operations.update_settings(get("HN-A"), complaint_contact=None, questionnaire_code="no-such-form",
                                       actor=manager, scope=scope)
        assert refused.value.code == "no_questionnaire"


# --------------------------------------------------------------------------- mergers


def test_a_merger_ends_the_unit_the_day_before_and_is_audited(tree):
    with tree.app_context():
        admin, scope = person("admin-hn@x.vn")
        operations.record_merger(get("HN-A"), get("HN-B"), date(2026, 10, 1), actor=admin, scope=scope)
        db.session.commit()
        merged = get("HN-A")
        assert (merged.valid_to, merged.successor.code) == (date(2026, 9, 30), "HN-B")
        [entry] = entries("unit_merged")
        assert (entry.actor_id, entry.target_id, entry.unit_id) == (admin.id, merged.id, get("HN-B").id)
        assert json.loads(entry.data) == {"unit": "HN-A", "into": "HN-B", "on": "2026-10-01"}
        node = unit_tree().by_code["HN-A"]  # the cached tree follows at once
        assert unit_tree().current(node, TODAY).code == "HN-B"


@pytest.mark.parametrize("who, merged, into, on, reason", [
    ("admin-hn@x.vn", "HN-A", "HN-A", date(2026, 10, 1), "self"),
    ("admin-hn@x.vn", "HN-A", "HN-A-Q1", date(2026, 10, 1), "level"),  # an office into a counter
    ("admin-hn@x.vn", "HN-A", "HN-C", date(2026, 10, 1), "level"),  # an office into a commune
    ("admin-hn@x.vn", "HN-A", "HUE-A", date(2026, 10, 1), "out_of_scope"),
    ("admin-hn@x.vn", "HUE-A", "HN-A", date(2026, 10, 1), "not_allowed"),
    ("admin-hn@x.vn", "HN", "HUE", date(2026, 10, 1), "not_allowed"),  # not the province itself
    ("manager-hna@x.vn", "HN-A", "HN-B", date(2026, 10, 1), "not_allowed"),
    ("national@x.vn", "HN-A", "HN-B", date(2025, 7, 1), "too_early"),  # would end before it began
    ("national@x.vn", "HN-A", "HN-B", date(2024, 1, 1), "too_early"),
])
def test_mergers_that_are_refused(tree, who, merged, into, on, reason):
    with tree.app_context():
        actor, scope = person(who)
        with pytest.raises(UnitError) as refused:
            operations.record_merger(get(merged), get(into), on, actor=actor, scope=scope)
        assert refused.value.code == reason
        db.session.rollback()
        assert get(merged).valid_to is None and get(merged).successor_id is None
        assert not entries("unit_merged")


def test_a_merger_back_into_the_merged_unit_is_a_cycle(tree):
    with tree.app_context():
        national, scope = person("national@x.vn")
        operations.record_merger(get("HN-A"), get("HN-B"), date(2026, 10, 1), actor=national, scope=scope)
        with pytest.raises(UnitError) as refused:
            operations.record_merger(get("HN-B"), get("HN-A"), date(2026, 10, 15), actor=national, scope=scope)
        assert refused.value.code == "cycle"
        with pytest.raises(UnitError) as refused:  # an ended unit cannot be merged again
            operations.record_merger(get("HN-A"), get("HUE-A"), date(2026, 10, 15), actor=national, scope=scope)
        assert refused.value.code == "already_ended"
        operations.record_merger(get("HUE-A"), get("HN-B"), date(2026, 10, 5), actor=national, scope=scope)
        with pytest.raises(UnitError) as refused:  # nor anything merged into a unit that has ended
            operations.record_merger(get("HN-B"), get("HUE-A"), date(2026, 10, 15), actor=national, scope=scope)
        assert refused.value.code == "cycle"


def test_ratings_of_a_merged_unit_roll_up_under_its_successor(tree):
    """HN-A: 12 ratings in September (9 of them 4 or 5). HN-B: 8 in September (6 satisfied), 15 in
    October (10 satisfied). After HN-A is merged into HN-B from 1 October, HN-B's September row counts
    12 + 8 = 20 ratings, 15 satisfied, and HN-A has no row of its own."""
    with tree.app_context():
        a, b = get("HN-A"), get("HN-B")
        rate(a, 5, datetime(2026, 9, 10, 3), 9, spread_days=9)
        rate(a, 1, datetime(2026, 9, 10, 3), 3, spread_days=3)
        rate(b, 4, datetime(2026, 9, 12, 3), 6, spread_days=6)
        rate(b, 2, datetime(2026, 9, 12, 3), 2, spread_days=2)
        rate(b, 5, datetime(2026, 10, 5, 3), 10, spread_days=10)
        rate(b, 3, datetime(2026, 10, 5, 3), 5, spread_days=5)
        db.session.commit()

        before = service.results_table("2026-09", "office", today=TODAY)
        assert (before.unit("HN-A")["n"], before.unit("HN-B")["n"]) == (12, 8)

        national, scope = person("national@x.vn")
        operations.record_merger(a, b, date(2026, 10, 1), actor=national, scope=scope)
        db.session.commit()

        september = service.results_table("2026-09", "office", options=FEW, today=TODAY)
        assert september.unit("HN-A") is None
        row = september.unit("HN-B")
        assert row["n"] == 20 and row["index"] == pytest.approx(15 / 20)
        october = service.results_table("2026-10", "office", options=FEW, today=TODAY)
        assert october.unit("HN-B")["n"] == 15 and october.unit("HN-B")["index"] == pytest.approx(10 / 15)
        trend = {results.period: row for results, row in service.trend("HN-B", "office", "default", "2026-10",
                                                                       options=FEW, today=TODAY)}
        assert (trend["2026-09"]["n"], trend["2026-10"]["n"]) == (20, 15)
        assert (trend["2026-09"]["satisfied"], trend["2026-10"]["satisfied"]) == (15, 10)
        province = service.results_table("2026-09", "province", today=TODAY).unit("HN")
        assert province["n"] == 20  # the province counts each rating once, before and after


# --------------------------------------------------------------------------- per-unit scores


def test_an_administrator_enters_a_unit_score_and_it_is_audited(tree):
    with tree.app_context():
        admin, scope = person("admin-hn@x.vn")
        score = operations.add_index_score(get("HN-A"), 5, 2, date(2026, 10, 1), "Biên bản kiểm tra 12/BB",
                                           actor=admin, scope=scope)
        db.session.commit()
        stored = db.session.get(UnitIndexScore, score.id)
        assert (stored.unit_id, stored.index_number, stored.points, stored.entered_by_id, stored.source_note) == (
            get("HN-A").id, 5, 2, admin.id, "Biên bản kiểm tra 12/BB")
        [entry] = entries("index_score_added")
        assert entry.unit_id == get("HN-A").id and json.loads(entry.data) == {
            "index": 5, "points": 2, "valid_from": "2026-10-01", "note": "Biên bản kiểm tra 12/BB"}
        for number, points, reason in ((7, 2, "bad_score"), (6, 3, "bad_score"), (5, 1, "bad_score")):
            with pytest.raises(UnitError) as refused:  # 7 is asked of citizens; 3 points; same index and day
                operations.add_index_score(get("HN-A"), number, points, date(2026, 10, 1), actor=admin, scope=scope)
            assert refused.value.code == reason
        manager, manager_scope = person("manager-hna@x.vn")
        with pytest.raises(UnitError) as refused:
            operations.add_index_score(get("HN-A"), 6, 1, date(2026, 10, 2), actor=manager, scope=manager_scope)
        assert refused.value.code == "not_allowed"


# --------------------------------------------------------------------------- the command line


def test_the_units_commands(tree):
    runner = tree.test_cli_runner()
    result = runner.invoke(args=["units", "add", "HN-A-Q9", "--level", "counter", "--parent", "HN-A",
                                 "--name-vi", "Quầy 9", "--from", "2026-10-01"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["units", "rename", "HN-A-Q9", "--name-vi", "Quầy chín", "--name-en", "Counter nine"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["units", "set", "HN-A", "--complaint-contact", "1900 1234"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["units", "merge", "HN-A", "HN-B", "--on", "2026-10-01"])
    assert result.exit_code == 0 and "it ends on 2026-09-30" in result.output, result.output
    result = runner.invoke(args=["units", "merge", "HN-B", "HN-A", "--on", "2026-10-02"])
    assert result.exit_code == 1 and "Error" in result.output
    result = runner.invoke(args=["units", "merge", "HN-NONE", "HN-A", "--on", "2026-10-02"])
    assert result.exit_code == 1 and "No unit with code 'HN-NONE'" in result.output
    with tree.app_context():
        counter = get("HN-A-Q9")
        assert (counter.parent.code, counter.name_vi, counter.name_en, counter.valid_from) == (
            "HN-A", "Quầy chín", "Counter nine", date(2026, 10, 1))
        assert get("HN-A").complaint_contact == "1900 1234" and get("HN-A").valid_to == date(2026, 9, 30)
        actions = [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))
                   if e.action.startswith("unit_")]
        assert actions == ["unit_created", "unit_renamed", "unit_settings_changed", "unit_merged"]
        assert all(e.actor_id is None for e in entries("unit_merged"))


def test_the_dossier_scores_command_is_audited_too(tree):
    runner = tree.test_cli_runner()
    result = runner.invoke(args=["dossier-scores", "set", "HN-A", "8", "1", "--from", "2026-10-01",
                                 "--note", "Sổ theo dõi"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["dossier-scores", "set", "HN-NONE", "8", "1", "--from", "2026-10-01"]).exit_code == 1
    with tree.app_context():
        [entry] = entries("index_score_added")
        assert entry.actor_id is None and entry.unit_id == get("HN-A").id
        assert json.loads(entry.data) == {"index": 8, "points": 1, "valid_from": "2026-10-01", "note": "Sổ theo dõi"}


def test_the_unit_merged_into_must_exist_on_the_day(tree):
    with tree.app_context():
        national, scope = person("national@x.vn")
        later = operations.create_unit(get("HN"), "HN-D", "office", "Trung tâm mới", valid_from=date(2026, 11, 1),
                                       actor=national, scope=scope)
        with pytest.raises(UnitError) as refused:  # HN-D starts on 1 November
            operations.record_merger(get("HN-A"), later, date(2026, 10, 1), actor=national, scope=scope)
        assert refused.value.code == "successor_not_current"
        operations.record_merger(get("HUE-A"), get("HN-B"), date(2026, 10, 5), actor=national, scope=scope)
        with pytest.raises(UnitError) as refused:  # HUE-A has ended
            operations.record_merger(get("HN-A"), get("HUE-A"), date(2026, 10, 10), actor=national, scope=scope)
        assert refused.value.code == "successor_not_current"
        operations.record_merger(get("HN-A"), later, date(2026, 11, 1), actor=national, scope=scope)
        assert get("HN-A").valid_to == date(2026, 10, 31)
