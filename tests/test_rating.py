"""Kiosk and phone rating: the one-tap path, the follow-up, both languages, and every bad input."""

from __future__ import annotations

import urllib.parse

import pytest
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Answer, Channel, Rating
from tests.conftest import alerts, hidden_fields, make_place, overall_field


def count_ratings(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Rating.id)))


def start(client, url: str, lang: str | None = None):
    response = client.get(url, query_string={"lang": lang} if lang else None)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    return html, hidden_fields(html), overall_field(html)


@pytest.mark.parametrize("lang, question, thanks", [
    ("vi", "Ông/Bà hài lòng như thế nào với dịch vụ vừa nhận được?", "Cảm ơn"),
    ("en", "How satisfied are you with the service you just received?", "Thank you"),
])
@pytest.mark.parametrize("channel", ["kiosk", "phone"])
def test_one_tap_then_follow_up_then_thanks(app, client, place, lang, question, thanks, channel):
    url = place.kiosk_url if channel == "kiosk" else place.phone_url
    html, fields, overall = start(client, url, lang)
    assert f'<html lang="{lang}">' in html
    assert question in html

    response = client.post(url, data={**fields, overall: "4"})
    assert response.status_code == 303
    with app.app_context():
        rating = db.session.scalar(select(Rating))
        assert rating.overall_value == 4
        assert rating.channel == Channel(channel)
        assert rating.locale == lang
        assert rating.office_id == place.office_id and rating.counter_id == place.counter_id
        assert (rating.kiosk_id == place.kiosk_id) == (channel == "kiosk")
        texts = [q.text(lang) for q in rating.questionnaire.follow_up_questions]
        first_question = rating.questionnaire.follow_up_questions[0].id
        overall_id = rating.questionnaire.overall_question.id

    follow_up = client.get(response.headers["Location"])
    assert follow_up.status_code == 200
    follow_html = follow_up.get_data(as_text=True)
    assert all(text in follow_html for text in texts)
    data = {**hidden_fields(follow_html), f"question_{first_question}": "5", "comment": "  Rất tốt  ",
            "procedure_id": str(place.procedure_ids[1]), "finish": "1"}
    done = client.post(response.headers["Location"], data=data)
    assert done.status_code == 303
    page = client.get(done.headers["Location"])
    assert thanks in page.get_data(as_text=True)

    with app.app_context():
        rating = db.session.scalar(select(Rating))
        assert rating.comment == "Rất tốt"
        assert rating.procedure_id == place.procedure_ids[1]
        assert rating.answer_map() == {overall_id: 4, first_question: 5}
    assert count_ratings(app) == 1


def test_skip_keeps_the_one_tap_rating(app, client, place):
    _, fields, overall = start(client, place.kiosk_url)
    response = client.post(place.kiosk_url, data={**fields, overall: "2"})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    skip = client.post(response.headers["Location"], data={**hidden_fields(page), "skip": "1"})
    assert skip.status_code == 303 and skip.headers["Location"].endswith("/thanks")
    with app.app_context():
        rating = db.session.scalar(select(Rating))
        assert rating.overall_value == 2 and len(rating.answers) == 1
        assert rating.completed_at is not None


@pytest.mark.parametrize("token", [None, "", "forged", "é" * 64])
def test_skip_without_the_kiosk_page_token_changes_nothing(app, client, place, token):
    """"Skip" closes the rating to its follow-up: a forged form must not be able to do that."""
    _, fields, overall = start(client, place.kiosk_url, "en")
    follow_url = client.post(place.kiosk_url, data={**fields, overall: "2"}).headers["Location"]
    data = {"skip": "1"} if token is None else {"skip": "1", "csrf_token": token}
    skip = client.post(follow_url, data=data)
    assert skip.status_code == 400
    assert "expired" in alerts(skip.get_data(as_text=True))[0]
    with app.app_context():
        assert db.session.scalar(select(Rating)).completed_at is None
    assert client.get(follow_url).status_code == 200  # the citizen can still answer


def test_same_idempotency_key_twice_stores_one_rating(app, client, place):
    _, fields, overall = start(client, place.phone_url)
    first = client.post(place.phone_url, data={**fields, overall: "5"})
    second = client.post(place.phone_url, data={**fields, overall: "5"})
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count_ratings(app) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count(Answer.id))) == 1


def test_repeated_taps_on_one_kiosk_store_one_rating(app, client, place):
    # A double tap re-sends the same page (same key); a burst of fresh pages is refused for a few seconds.
    _, fields, overall = start(client, place.kiosk_url)
    for _ in range(3):
        assert client.post(place.kiosk_url, data={**fields, overall: "5"}).status_code == 303
    html, fresh, _ = start(client, place.kiosk_url)
    burst = client.post(place.kiosk_url, data={**fresh, overall: "1"})
    assert burst.status_code == 429
    assert "Vui lòng chờ" in alerts(burst.get_data(as_text=True))[0]
    assert count_ratings(app) == 1


def test_json_client_gets_json_from_the_same_path(app, client, place):
    _, fields, overall = start(client, place.kiosk_url)
    headers = {"Accept": "application/json"}
    first = client.post(place.kiosk_url, data={**fields, overall: "3"}, headers=headers)
    again = client.post(place.kiosk_url, data={**fields, overall: "3"}, headers=headers)
    assert first.status_code == 201 and first.json["stored"] is True
    assert again.status_code == 200 and again.json["stored"] is False
    bad = client.post(f"{place.kiosk_url}?lang=en", data={**fields, overall: "7"}, headers=headers)
    assert bad.status_code == 400 and bad.json["message"] == "Please choose one of the answers shown."
    assert count_ratings(app) == 1


def _first_follow_up_question(app) -> int:
    from survey.rating.operations import questionnaire_for

    with app.app_context():
        return questionnaire_for(None).follow_up_questions[0].id


BAD_FIRST_TAPS = [
    # (what, how to spoil the form, status, English message, Vietnamese message)
    ("score above the scale", lambda f, q: {**f, q: "6"}, 400,
     "Please choose one of the answers shown.", "Vui lòng chọn một trong các câu trả lời"),
    ("score below the scale", lambda f, q: {**f, q: "0"}, 400,
     "Please choose one of the answers shown.", "Vui lòng chọn một trong các câu trả lời"),
    ("score not a number", lambda f, q: {**f, q: "five"}, 400,
     "Please choose one of the answers shown.", "Vui lòng chọn một trong các câu trả lời"),
    ("no answer", lambda f, q: dict(f), 400,
     "Please choose how satisfied you are.", "Vui lòng chọn mức độ hài lòng"),
    ("unknown question", lambda f, q: {**f, q: "4", "question_99999": "4"}, 400,
     "This answer is for a question that is not in this survey.", "không có trong phiếu đánh giá"),
    ("malformed idempotency key", lambda f, q: {**f, q: "4", "idempotency_key": "x' or 1=1"}, 400,
     "This page is out of date. Please start again.", "Trang này đã cũ"),
    ("missing idempotency key", lambda f, q: {k: v for k, v in {**f, q: "4"}.items() if k != "idempotency_key"},
     400, None, None),
]


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("channel", ["kiosk", "phone"])
@pytest.mark.parametrize("what, spoil, status, message_en, message_vi", BAD_FIRST_TAPS, ids=[b[0] for b in BAD_FIRST_TAPS])
def test_bad_first_tap_is_refused_clearly_and_stores_nothing(app, client, place, lang, channel, what, spoil, status,
                                                             message_en, message_vi):
    url = place.kiosk_url if channel == "kiosk" else place.phone_url
    _, fields, overall = start(client, url, lang)
    response = client.post(url, data=spoil(fields, overall))
    assert response.status_code == status
    html = response.get_data(as_text=True)
    messages = alerts(html)
    assert messages, "the person must be told what went wrong"
    expected = message_en if lang == "en" else message_vi
    if expected:
        assert expected in messages[0]
    assert f'<html lang="{lang}">' in html
    assert count_ratings(app) == 0


@pytest.mark.parametrize("lang, expected", [("en", "too long"), ("vi", "Góp ý quá dài")])
def test_comment_over_the_limit_is_refused_and_keeps_the_rating_unchanged(app, client, place, lang, expected):
    _, fields, overall = start(client, place.kiosk_url, lang)
    response = client.post(place.kiosk_url, data={**fields, overall: "5"})
    follow = client.get(response.headers["Location"])
    limit = app.config["COMMENT_MAX_LENGTH"]
    refused = client.post(response.headers["Location"],
                          data={**hidden_fields(follow.get_data(as_text=True)), "comment": "x" * (limit + 1), "finish": "1"})
    assert refused.status_code == 400
    assert expected in alerts(refused.get_data(as_text=True))[0]
    with app.app_context():
        rating = db.session.scalar(select(Rating))
        assert rating.comment is None and rating.overall_value == 5


@pytest.mark.parametrize("spoil, message", [
    (lambda data, q: {**data, f"question_{q}": "3", "question_424242": "1"}, "not in this survey"),
    (lambda data, q: {**data, f"question_{q}": "9"}, "Please choose one of the answers shown."),
    (lambda data, q: {**data, "procedure_id": "banana"}, "Please choose one of the answers shown."),
])
def test_bad_follow_up_is_refused_and_stores_nothing_more(app, client, place, spoil, message):
    _, fields, overall = start(client, place.phone_url, "en")
    response = client.post(place.phone_url, data={**fields, overall: "3"})
    follow = client.get(response.headers["Location"])
    data = {**hidden_fields(follow.get_data(as_text=True)), "finish": "1"}
    refused = client.post(response.headers["Location"], data=spoil(data, _first_follow_up_question(app)))
    assert refused.status_code == 400
    assert message in alerts(refused.get_data(as_text=True))[0]
    with app.app_context():
        assert len(db.session.scalar(select(Rating)).answers) == 1


@pytest.mark.parametrize("lang, expected", [("en", "not registered"), ("vi", "chưa được đăng ký")])
def test_unknown_kiosk_token_is_a_404_with_a_message(client, place, lang, expected):
    response = client.get("/kiosk/not-a-real-token", query_string={"lang": lang})
    assert response.status_code == 404
    assert expected in alerts(response.get_data(as_text=True))[0]
    assert client.post("/kiosk/not-a-real-token", data={"question_1": "5"}).status_code == 404


def test_revoked_kiosk_cannot_rate(app, client, place):
    _, fields, overall = start(client, place.kiosk_url, "en")
    from survey.models import Kiosk
    from survey.models._common import utcnow

    with app.app_context():
        db.session.get(Kiosk, place.kiosk_id).revoked_at = utcnow()
        db.session.commit()
    response = client.post(place.kiosk_url, data={**fields, overall: "5"})
    assert response.status_code == 403
    assert "switched off" in alerts(response.get_data(as_text=True))[0]
    assert count_ratings(app) == 0


def test_unknown_or_closed_qr_code_is_a_404(app, client, place):
    assert client.get("/r/NO-SUCH-COUNTER").status_code == 404
    from survey.models import Unit

    with app.app_context():
        db.session.get(Unit, place.office_id).valid_to = db.session.get(Unit, place.office_id).valid_from
        db.session.commit()
    assert client.get(f"/r/{place.office_code}").status_code == 404


def test_kiosk_page_left_open_for_days_still_submits(app, place):
    # The kiosk's form token is tied to the kiosk, not to a session or a clock: a page rendered days ago,
    # posted from a browser whose session cookie is gone, is still accepted.
    app.config["WTF_CSRF_TIME_LIMIT"] = 1
    old_page = app.test_client()
    _, fields, overall = start(old_page, place.kiosk_url)
    later = app.test_client()  # no cookies at all
    response = later.post(place.kiosk_url, data={**fields, overall: "4"})
    assert response.status_code == 303
    assert count_ratings(app) == 1


def test_kiosk_form_with_a_forged_token_is_refused(app, client, place):
    _, fields, overall = start(client, place.kiosk_url, "en")
    response = client.post(place.kiosk_url, data={**fields, "csrf_token": "forged", overall: "4"})
    assert response.status_code == 400
    assert "expired" in alerts(response.get_data(as_text=True))[0]
    assert count_ratings(app) == 0


def test_phone_form_needs_its_session_token(app, client, place):
    _, fields, overall = start(client, place.phone_url, "en")
    stranger = app.test_client()
    response = stranger.post(place.phone_url, data={**fields, overall: "4"}, headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert alerts(response.get_data(as_text=True))
    assert count_ratings(app) == 0


def test_follow_up_of_another_place_is_not_found(app, client, place):
    _, fields, overall = start(client, place.phone_url)
    response = client.post(place.phone_url, data={**fields, overall: "4"})
    key = response.headers["Location"].rsplit("/", 1)[1]
    assert client.get(f"{place.kiosk_url}/r/{key}").status_code == 404


def test_phone_ratings_are_rate_limited_per_address(app, client, place):
    app.config["PHONE_RATE_LIMIT"] = "2 per hour"
    for expected in (303, 303, 429):
        _, fields, overall = start(client, place.phone_url, "en")
        response = client.post(place.phone_url, data={**fields, overall: "4"})
        assert response.status_code == expected
    assert "Too many ratings" in alerts(response.get_data(as_text=True))[0]
    assert count_ratings(app) == 2


def test_follow_up_can_be_sent_where_the_office_lists_no_procedures(app, client, place):
    from survey.models import Procedure

    with app.app_context():
        procedures = [db.session.get(Procedure, procedure_id) for procedure_id in place.procedure_ids]
        for procedure in procedures:
            procedure.offices.clear()
        db.session.commit()
    _, fields, overall = start(client, place.kiosk_url, "en")
    response = client.post(place.kiosk_url, data={**fields, overall: "4"})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'name="procedure_id"' not in page
    done = client.post(response.headers["Location"], data={**hidden_fields(page), "finish": "1",
                                                           f"question_{_first_follow_up_question(app)}": "4"})
    assert done.status_code == 303 and done.headers["Location"].endswith("/thanks")
    with app.app_context():
        rating = db.session.scalar(select(Rating))
        assert rating.procedure_id is None and len(rating.answers) == 2


@pytest.mark.parametrize("first", ["finish", "skip"])
def test_a_finished_follow_up_cannot_be_changed_by_the_next_person(app, client, place, first):
    question = f"question_{_first_follow_up_question(app)}"
    _, fields, overall = start(client, place.kiosk_url, "en")
    response = client.post(place.kiosk_url, data={**fields, overall: "4"})
    follow_url = response.headers["Location"]
    page = hidden_fields(client.get(follow_url).get_data(as_text=True))
    sent = {**page, question: "5", "comment": "Tốt", "finish": "1"}
    assert client.post(follow_url, data=sent if first == "finish" else {**page, "skip": "1"}).status_code == 303

    # The next person presses Back: the page is not shown again, and changes are refused.
    assert client.get(follow_url).status_code == 303
    changed = client.post(follow_url, data={**sent, question: "1", "comment": "Tệ"})
    assert changed.status_code == 409
    assert "closed" in alerts(changed.get_data(as_text=True))[0]
    if first == "finish":  # the very same follow-up sent twice (a double tap without JavaScript) is fine
        assert client.post(follow_url, data=sent).status_code == 303
    with app.app_context():
        rating = db.session.scalar(select(Rating))
        assert rating.completed_at is not None
        assert rating.comment == ("Tốt" if first == "finish" else None)
        assert len(rating.answers) == (2 if first == "finish" else 1)


HOSTILE_BODIES = [
    {"question_1": ["4", "5"]},                        # the same field twice
    {"idempotency_key": "k" * 5000},                   # an enormous key
    {"comment": b"\x00\xff\xfe not UTF-8"},           # NUL and bytes that are not UTF-8
    {"question_%s": "4", "csrf_token": "", "skip": ""},
    {"procedure_id": "-1", "finish": "1"},
]


@pytest.mark.parametrize("body", HOSTILE_BODIES)
@pytest.mark.parametrize("target", ["kiosk", "phone", "kiosk-follow-up", "phone-follow-up"])
def test_hostile_input_never_gives_a_server_error(app, client, place, body, target):
    base = place.kiosk_url if target.startswith("kiosk") else place.phone_url
    _, fields, overall = start(client, base)
    url = base
    if target.endswith("follow-up"):
        url = client.post(base, data={**fields, overall: "4"}).headers["Location"]
        fields = hidden_fields(client.get(url).get_data(as_text=True))
    data = {**fields, **{k.replace("question_1", overall): v for k, v in body.items()}}
    raw = urllib.parse.urlencode(data, doseq=True)  # bytes values are sent as they are
    response = client.post(url, data=raw, content_type="application/x-www-form-urlencoded")
    assert response.status_code < 500
    with app.app_context():
        assert db.session.scalar(select(func.count(Rating.id))) <= 1


def test_oversized_request_is_a_413_with_a_message(client, place):
    _, fields, overall = start(client, place.phone_url, "en")
    response = client.post(place.phone_url, data={**fields, overall: "4", "comment": "x" * 100_000})
    assert response.status_code == 413
    assert "too large" in alerts(response.get_data(as_text=True))[0]
