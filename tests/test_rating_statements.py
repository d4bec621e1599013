"""What a rating costs in SQL, pinned, on SQLite and PostgreSQL: the place in one statement, the writes
last and back to back, one statement for all answers, nothing lazily loaded and nothing read again
after the commit. Before the lean path a kiosk rating took 15 statements (5.6 of them lazy loads of
the unit tree, questionnaire, questions, scale and points, and a reload after the commit).

Also the integrity rules the leaner order must keep: a refused rating leaves nothing behind, even
for a caller that commits anyway; a kiosk revoked after its page was found is refused atomically.
"""

from __future__ import annotations

import re
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select

from survey.cli import init_database
from survey.extensions import db
from survey.models import Answer, Channel, Kiosk, Rating, Unit, UnitLevel
from survey.questionnaires import questionnaire_for
from survey.rating.operations import RatingSubmission, SubmissionError, submit_rating
from survey.rating.queries import find_kiosk_place
from survey.models.kiosks import hash_token
from tests.conftest import hidden_fields, make_app, make_place, overall_field

#: The pinned cost of a new rating (statements sent to the database, the commit not counted).
KIOSK_RATING = ["SELECT place", "INSERT ratings", "UPDATE kiosks", "INSERT answers"]
PHONE_RATING = ["SELECT place", "INSERT ratings", "INSERT answers"]


@pytest.fixture(params=["sqlite", "postgresql"])
def site(request, tmp_path):
    """An app with one place to rate, on a copy of the migrated SQLite file or a private PostgreSQL schema."""
    if request.param == "sqlite":
        app = request.getfixturevalue("app")
    else:
        app = make_app(request.getfixturevalue("postgres_uri"))
        with app.app_context():
            init_database()
    with app.app_context():
        place = make_place()
    yield app, place
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@contextmanager
def statements_sent(app):
    """Every statement the app sends while the block runs, as "VERB table" labels and full text."""
    sent: list[str] = []
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def label(statement: str) -> str:
    if statement.startswith(("WITH RECURSIVE questionnaire_chain", "SELECT")) and "FROM kiosks JOIN units" in statement:
        return "SELECT place"
    if "questionnaire_chain" in statement and "FROM units AS unit" in statement:
        return "SELECT place"
    verb = statement.split()[0]
    table = re.search(r"\b(?:INTO|UPDATE|FROM)\s+(\w+)", statement)
    return f"{verb} {table.group(1) if table else '?'}"


def open_page(app, url):
    client = app.test_client()
    html = client.get(url).get_data(as_text=True)
    return client, {**hidden_fields(html), overall_field(html): "4"}


@pytest.mark.parametrize("channel, expected", [("kiosk", KIOSK_RATING), ("phone", PHONE_RATING)])
def test_a_rating_is_a_few_statements_reads_first(site, channel, expected):
    app, place = site
    url = place.kiosk_url if channel == "kiosk" else place.phone_url
    client, form = open_page(app, url)  # the page view has loaded the questionnaire version already
    with statements_sent(app) as sent:
        response = client.post(url, data=form)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(form["idempotency_key"])
    assert [label(s) for s in sent] == expected, sent


def test_the_place_and_its_questionnaire_are_one_statement_however_deep_the_tree(site):
    """Counter → office → commune → province, the questionnaire named on the province only."""
    app, _ = site
    with app.app_context():
        province = Unit(code="DT", level=UnitLevel.PROVINCE, name_vi="Đồng Tháp", questionnaire_code="dossier")
        commune = Unit(code="DT-X01", level=UnitLevel.COMMUNE, name_vi="Xã Mỹ An", parent=province)
        office = Unit(code="DT-X01-MC", level=UnitLevel.OFFICE, name_vi="Một cửa Mỹ An", parent=commune)
        counter = Unit(code="DT-X01-MC-Q1", level=UnitLevel.COUNTER, name_vi="Quầy 1", parent=office)
        kiosk = Kiosk(office=office, counter=counter, label="deep", token_hash="")
        token = kiosk.issue_token()
        db.session.add_all([province, commune, office, counter, kiosk])
        db.session.commit()
        dossier = questionnaire_for(counter)
    assert dossier.code == "dossier"
    for url, expected in ((f"/kiosk/{token}", KIOSK_RATING), ("/r/DT-X01-MC-Q1", PHONE_RATING)):
        client = app.test_client()
        with statements_sent(app) as sent:
            html = client.get(url).get_data(as_text=True)
        assert dossier.overall_question.text("vi") in html
        assert [label(s) for s in sent] == ["SELECT place"], sent
        form = {**hidden_fields(html), overall_field(html): "3"}
        with statements_sent(app) as sent:
            assert client.post(url, data=form).status_code == 303
        assert [label(s) for s in sent] == expected, sent
    with app.app_context():
        assert set(db.session.scalars(select(Rating.questionnaire_id))) == {dossier.id}


def test_a_follow_up_step_writes_its_answer_in_one_statement_last(site):
    app, place = site
    client, form = open_page(app, place.kiosk_url)
    confirm = client.post(place.kiosk_url, data=form).headers["Location"]
    answered = 0
    for step in range(1, 6):
        page = client.get(f"{confirm}/{step}").get_data(as_text=True)
        question = sorted(set(re.findall(r'name="(question_\d+)"', page)))
        assert len(question) == 1
        with statements_sent(app) as sent:
            assert client.post(f"{confirm}/{step}", data={**hidden_fields(page), question[0]: "5"}).status_code == 303
        labels = [label(s) for s in sent]
        assert labels.count("INSERT answers") == 1 and labels[-1] == "INSERT answers", sent  # the write comes last
        assert "SELECT answers" not in labels
        answered += 1
    assert answered == 5
    with app.app_context():
        assert db.session.scalar(select(func.count(Answer.id))) == 6


def test_the_first_page_reads_a_questionnaire_version_once_per_process(app, place):
    with statements_sent(app) as first:
        app.test_client().get(place.phone_url)
    with statements_sent(app) as second:
        app.test_client().get(place.phone_url)
    assert any("FROM questions" in s for s in first)
    assert [label(s) for s in second] == ["SELECT place"], second


def _kiosk_submission(app, place, key: str):
    with app.app_context():
        record = find_kiosk_place(hash_token(place.kiosk_token))
        questionnaire = questionnaire_for(db.session.get(Unit, place.counter_id))
    return RatingSubmission(
        idempotency_key=key, questionnaire=questionnaire, office=record.office, counter=record.counter,
        kiosk=record.kiosk, channel=Channel.KIOSK, answers={questionnaire.overall_question.id: 5},
    )


def test_a_refused_burst_leaves_nothing_behind_even_if_the_caller_commits(site):
    app, place = site
    with app.app_context():
        submit_rating(_kiosk_submission(app, place, uuid.uuid4().hex))
        db.session.commit()
        with pytest.raises(SubmissionError) as refused:
            submit_rating(_kiosk_submission(app, place, uuid.uuid4().hex))
        assert refused.value.code == "kiosk_burst" and refused.value.status == 429
        db.session.commit()  # a careless caller: still only the first rating and its answer
        assert db.session.scalar(select(func.count(Rating.id))) == 1
        assert db.session.scalar(select(func.count(Answer.id))) == 1


def test_a_kiosk_revoked_after_its_page_was_found_is_refused_atomically(site):
    app, place = site
    submission = _kiosk_submission(app, place, uuid.uuid4().hex)  # found while still active
    with app.app_context():
        db.session.get(Kiosk, place.kiosk_id).revoked_at = func.now()
        db.session.commit()
        with pytest.raises(SubmissionError) as refused:
            submit_rating(submission)
        assert refused.value.code == "kiosk_revoked" and refused.value.status == 403
        db.session.commit()
        assert db.session.scalar(select(func.count(Rating.id))) == 0


def test_a_resent_rating_is_acknowledged_without_writing_again(site):
    app, place = site
    client, form = open_page(app, place.phone_url)
    first = client.post(place.phone_url, data=form, headers={"Accept": "application/json"})
    with statements_sent(app) as sent:
        again = client.post(place.phone_url, data=form, headers={"Accept": "application/json"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["key"] == form["idempotency_key"]
    # The conflicting INSERT does nothing; the stored rating is read back to answer.
    assert [label(s) for s in sent] == ["SELECT place", "INSERT ratings", "SELECT ratings"], sent
    with app.app_context():
        assert db.session.scalar(select(func.count(Rating.id))) == 1
        assert db.session.scalar(select(func.count(Answer.id))) == 1
