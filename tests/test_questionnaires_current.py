"""Questionnaire versions as immutable snapshots, cached per process, and the current version per unit:
the same content as the rows, shared safely by threads, and a new version visible at once to every
process (the cache is keyed by version, the current version is decided in SQL on every request)."""

from __future__ import annotations

import dataclasses
import shutil
import threading

import pytest
from sqlalchemy import event, select

from survey.extensions import db
from survey.models import Question, Questionnaire, Rating, Scale, Unit, UnitLevel
from survey.models._common import utcnow
from survey.questionnaires import current_questionnaire, questionnaire_for, questionnaire_version
from tests.conftest import hidden_fields, make_app, make_place, overall_field

NEW_OVERALL_VI = "Ông/Bà đánh giá thế nào về buổi làm việc hôm nay?"


def test_a_snapshot_holds_exactly_what_the_rows_say(app):
    with app.app_context():
        for row in db.session.scalars(select(Questionnaire)):
            snapshot = questionnaire_version(row.id)
            assert (snapshot.code, snapshot.version, snapshot.title("vi"), snapshot.title("en")) == (
                row.code, row.version, row.title_vi, row.title_en)
            assert [q.id for q in snapshot.questions] == [q.id for q in row.questions]
            assert snapshot.overall_question.id == row.overall_question.id
            assert [q.id for q in snapshot.follow_up_questions] == [q.id for q in row.follow_up_questions]
            for mine, theirs in zip(snapshot.questions, row.questions):
                assert (mine.key, mine.text("vi"), mine.text("en")) == (theirs.key, theirs.text_vi, theirs.text_en)
                assert mine.scale.satisfied_from == theirs.scale.satisfied_from
                assert [(p.value, p.label("vi"), p.label("en")) for p in mine.scale.points] == [
                    (p.value, p.label_vi, p.label_en) for p in theirs.scale.points]
                assert mine.scale.values == frozenset(theirs.scale.values)


def test_a_snapshot_cannot_be_changed_and_outlives_the_session(app):
    with app.app_context():
        snapshot = current_questionnaire("default")
        db.session.remove()
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.code = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.overall_question.scale.satisfied_from = 1
    with pytest.raises(TypeError):
        snapshot.questions_by_id[1] = None
    assert isinstance(snapshot.questions, tuple)
    # Outside any app context or session: plain values, nothing to load.
    assert snapshot.overall_question.scale.points[0].label("en") == "Very dissatisfied"


def test_a_version_is_read_once_per_process(app):
    statements = []
    with app.app_context():
        questionnaire_id = current_questionnaire("dossier").id
        event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        first = questionnaire_version(questionnaire_id)
        assert questionnaire_version(questionnaire_id) is first
        assert statements == []  # read already by current_questionnaire


def test_threads_reading_a_new_version_at_once_share_one_snapshot(app):
    with app.app_context():
        questionnaire_id = db.session.scalar(select(Questionnaire.id).where(Questionnaire.code == "us-cx"))
    barrier = threading.Barrier(8)
    seen = [None] * 8

    def read(i):
        with app.app_context():
            barrier.wait()
            seen[i] = questionnaire_version(questionnaire_id)
            db.session.remove()

    threads = [threading.Thread(target=read, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert all(s is seen[0] for s in seen) and seen[0].code == "us-cx"


def install_second_default_version() -> int:
    """What publishing a changed questionnaire does: a new version, the old one retired."""
    old = db.session.scalar(select(Questionnaire).where(Questionnaire.code == "default", Questionnaire.version == 1))
    scale = db.session.scalar(select(Scale).where(Scale.code == "satisfaction-5"))
    new = Questionnaire(code="default", version=2, title_vi=old.title_vi, title_en=old.title_en, questions=[
        Question(position=0, key="overall", scale=scale, text_vi=NEW_OVERALL_VI, text_en="How was your visit?",
                 is_overall=True),
        Question(position=1, key="waiting", scale=scale, text_vi="Thời gian chờ", text_en="Waiting time"),
    ])
    old.retired_at = utcnow()
    db.session.add(new)
    db.session.commit()
    return new.id


def test_a_new_version_takes_effect_at_once_in_every_process(tmp_path, migrated_sqlite):
    """Two apps on one database stand for two worker processes, each with its own cache."""
    path = tmp_path / "shared.sqlite"
    shutil.copy(migrated_sqlite, path)
    worker_a, worker_b = make_app(f"sqlite:///{path}"), make_app(f"sqlite:///{path}")
    with worker_a.app_context():
        place = make_place()
        old = current_questionnaire("default")
    client = worker_a.test_client()
    assert old.overall_question.text("vi") in client.get(place.phone_url).get_data(as_text=True)

    with worker_b.app_context():
        new_id = install_second_default_version()

    html = client.get(place.phone_url).get_data(as_text=True)
    assert NEW_OVERALL_VI in html and old.overall_question.text("vi") not in html
    assert client.post(place.phone_url, data={**hidden_fields(html), overall_field(html): "5"}).status_code == 303
    with worker_a.app_context():
        assert db.session.scalar(select(Rating.questionnaire_id)) == new_id
        # Ratings given earlier keep the version they answered, still served from the cache.
        assert questionnaire_version(old.id) is old
    for app in (worker_a, worker_b):
        with app.app_context():
            db.engine.dispose()


def test_the_nearest_unit_naming_a_questionnaire_wins(app):
    with app.app_context():
        province = Unit(code="CT", level=UnitLevel.PROVINCE, name_vi="Cần Thơ", questionnaire_code="us-cx")
        office = Unit(code="CT-MC", level=UnitLevel.OFFICE, name_vi="Một cửa", parent=province,
                      questionnaire_code="dossier")
        counter = Unit(code="CT-MC-Q1", level=UnitLevel.COUNTER, name_vi="Quầy 1", parent=office)
        plain = Unit(code="CT-MC2", level=UnitLevel.OFFICE, name_vi="Một cửa 2", parent=province)
        orphan = Unit(code="XX-MC", level=UnitLevel.OFFICE, name_vi="Một cửa lẻ")
        db.session.add_all([province, office, counter, plain, orphan])
        db.session.commit()
        assert questionnaire_for(counter).code == "dossier"
        assert questionnaire_for(plain).code == "us-cx"
        assert questionnaire_for(orphan).code == "default"
        assert questionnaire_for(None).code == "default"


def test_a_code_with_no_active_version_is_a_clear_error(app):
    with app.app_context():
        for row in db.session.scalars(select(Questionnaire).where(Questionnaire.code == "dossier")):
            row.retired_at = utcnow()
        office = Unit(code="QT-MC", level=UnitLevel.OFFICE, name_vi="Một cửa", questionnaire_code="dossier")
        db.session.add(office)
        db.session.commit()
        with pytest.raises(LookupError, match="'dossier'"):
            questionnaire_for(office)
