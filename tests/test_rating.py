"""Kiosk and phone rating: the one-tap path, the follow-up, both languages, and every bad input."""

from __future__ import annotations

import re
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


def tap(client, url: str, value: str, lang: str | None = None) -> str:
    """One tap on the start screen; returns the confirmation page's address."""
    _, fields, overall = start(client, url, lang)
    response = client.post(url, data={**fields, overall: value})
    assert response.status_code == 303
    return response.headers["Location"]


def step_url(confirm_url: str, step: int) -> str:
    return f"{confirm_url.split('?')[0]}/{step}"


def page_fields(client, url: str) -> dict[str, str]:
    response = client.get(url)
    assert response.status_code == 200
    return hidden_fields(response.get_data(as_text=True))


def title(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()


@pytest.mark.parametrize("lang, question, word, thanks", [
    ("vi", "Ông/Bà hài lòng như thế nào với dịch vụ vừa nhận được?", "Hài lòng", "Cảm ơn"),
    ("en", "How satisfied are you with the service you just received?", "Satisfied", "Thank you"),
])
@pytest.mark.parametrize("channel", ["kiosk", "phone"])
def test_one_tap_then_confirmation_then_one_question_per_step(app, client, place, lang, question, word, thanks,
                                                                channel):
    url = place.kiosk_url if channel == "kiosk" else place.phone_url
    html, fields, overall = start(client, url, lang)
    assert f'<html lang="{lang}">' in html
    assert question in html

    response = client.post(url, data={**fields, overall: "4"})
    assert response.status_code == 303
    confirm_url = response.headers["Location"]
    with app.app_context():
        rating = db.session.scalar(select(Rating))
        assert rating.overall_value == 4 and rating.completed_at is None
        assert rating.channel == Channel(channel)
        assert rating.locale == lang
        assert rating.office_id == place.office_id and rating.counter_id == place.counter_id
        assert (rating.kiosk_id == place.kiosk_id) == (channel == "kiosk")
        texts = [q.text(lang) for q in rating.questionnaire.follow_up_questions]
        ids = [q.id for q in rating.questionnaire.follow_up_questions]
        overall_id = rating.questionnaire.overall_question.id

    # The confirmation shows the word of the chosen face and the way on.
    confirm = client.get(confirm_url).get_data(as_text=True)
    assert f'<p class="chosen-word">{word}</p>' in confirm
    assert f'href="{step_url(confirm_url, 1)}"' in confirm
    titles = {title(html), title(confirm)}

    # One question per screen, with its progress; a tap stores it and moves on.
    total = len(texts) + 1
    for number, (text, qid) in enumerate(zip(texts, ids), start=1):
        page = client.get(step_url(confirm_url, number)).get_data(as_text=True)
        assert text in page and page.count('name="question_') == 5
        assert all(other not in page for other in texts if other != text)
        assert (f"{number} / {total}" if lang == "vi" else f"Question {number} of {total}") in page
        titles.add(title(page))
        data = {**hidden_fields(page), **({f"question_{qid}": "5"} if number == 1 else {"skip": "1"})}
        moved = client.post(step_url(confirm_url, number), data=data)
        assert moved.status_code == 303 and moved.headers["Location"] == step_url(confirm_url, number + 1)
    last = client.get(step_url(confirm_url, total)).get_data(as_text=True)
    titles.add(title(last))
    data = {**hidden_fields(last), "comment": "  Rất tốt  ", "procedure_id": str(place.procedure_ids[1]),
            "finish": "1"}
    done = client.post(step_url(confirm_url, total), data=data)
    assert done.status_code == 303 and done.headers["Location"].endswith("/thanks?answer=4")
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert thanks in page
    titles.add(title(page))
    assert len(titles) == total + 3, titles  # start, confirmation, each step, thank-you: all different

    with app.app_context():
        rating = db.session.scalar(select(Rating))
        assert rating.comment == "Rất tốt"
        assert rating.procedure_id == place.procedure_ids[1]
        assert rating.answer_map() == {overall_id: 4, ids[0]: 5}
        assert rating.completed_at is not None
    assert count_ratings(app) == 1


def test_finish_on_the_confirmation_keeps_the_one_tap_rating_and_frees_the_kiosk(app, client, place):
    confirm_url = tap(client, place.kiosk_url, "2")
    done = client.post(confirm_url, data={**page_fields(client, confirm_url), "finish": "1"})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"{place.kiosk_url}?reset=1")
    with app.app_context():
        rating = db.session.scalar(select(Rating))
        assert rating.overall_value == 2 and len(rating.answers) == 1
        assert rating.completed_at is not None
    # Closed: the next person is sent to the start, never shown this rating's pages.
    assert client.get(confirm_url).status_code == 303
    assert client.get(step_url(confirm_url, 1)).status_code == 303


@pytest.mark.parametrize("token", [None, "", "forged", "é" * 64])
def test_finish_without_the_kiosk_page_token_changes_nothing(app, client, place, token):
    """"Finish" closes the rating to its follow-up: a forged form must not be able to do that."""
    confirm_url = tap(client, place.kiosk_url, "2", "en")
    fields = {k: v for k, v in page_fields(client, confirm_url).items() if k != "csrf_token"}
    data = {**fields, "finish": "1"} if token is None else {**fields, "finish": "1", "csrf_token": token}
    refused = client.post(confirm_url, data=data)
    assert refused.status_code == 400
    assert "expired" in alerts(refused.get_data(as_text=True))[0]
    with app.app_context():
        assert db.session.scalar(select(Rating)).completed_at is None
    assert client.get(confirm_url).status_code == 200  # the citizen can still go on


@pytest.mark.parametrize("channel", ["kiosk", "phone"])
def test_change_my_answer_replaces_the_overall_answer_of_the_same_rating(app, client, place, channel):
    from survey.models import OverallCount
    from survey.results.counts import refresh_counts

    url = place.kiosk_url if channel == "kiosk" else place.phone_url
    confirm_url = tap(client, url, "2", "en")
    with app.app_context():
        refresh_counts()  # the first answer is in the count tables already
        db.session.commit()
    change_url = f"{confirm_url}/change"
    page = client.get(change_url).get_data(as_text=True)
    assert page.count('aria-pressed="true"') == 1
    overall = overall_field(page)
    changed = client.post(change_url, data={**hidden_fields(page), overall: "5"})
    assert changed.status_code == 303 and changed.headers["Location"] == confirm_url
    assert '<p class="chosen-word">Very satisfied</p>' in client.get(confirm_url).get_data(as_text=True)
    with app.app_context():
        rating = db.session.scalar(select(Rating))
        assert rating.overall_value == 5
        assert rating.answer_map()[rating.questionnaire.overall_question.id] == 5 and len(rating.answers) == 1
        counts = dict(db.session.execute(
            select(OverallCount.value, func.sum(OverallCount.count)).group_by(OverallCount.value)).all())
        assert {value: n for value, n in counts.items() if n} == {5: 1}
    assert count_ratings(app) == 1


def test_change_my_answer_is_refused_after_its_window_and_after_finishing(app, client, place):
    confirm_url = tap(client, place.phone_url, "2", "en")
    change_url = f"{confirm_url}/change"
    fields = page_fields(client, change_url)
    overall = overall_field(client.get(change_url).get_data(as_text=True))
    app.config["CHANGE_ANSWER_SECONDS"] = 0
    late = client.post(change_url, data={**fields, overall: "5"})
    assert late.status_code == 409 and "too late" in alerts(late.get_data(as_text=True))[0]
    assert "Change my answer" not in client.get(confirm_url).get_data(as_text=True)
    app.config["CHANGE_ANSWER_SECONDS"] = 120
    client.post(confirm_url, data={**page_fields(client, confirm_url), "finish": "1"})
    closed = client.post(change_url, data={**fields, overall: "5"})
    assert closed.status_code == 409 and "closed" in alerts(closed.get_data(as_text=True))[0]
    with app.app_context():
        assert db.session.scalar(select(Rating)).overall_value == 2


def test_the_next_tap_on_a_kiosk_closes_the_previous_follow_up(app, client, place):
    """A taps and walks away without the screen closing (no JavaScript); B taps: A's rating is closed."""
    app.config["KIOSK_MIN_INTERVAL_SECONDS"] = 0
    question = f"question_{_first_follow_up_question(app)}"
    first = tap(client, place.kiosk_url, "5")
    first_fields = page_fields(client, step_url(first, 1))
    second = tap(client, place.kiosk_url, "1")
    assert client.get(step_url(first, 1)).status_code == 303
    refused = client.post(step_url(first, 1), data={**first_fields, question: "1"})
    assert refused.status_code == 409
    answered = client.post(step_url(second, 1), data={**page_fields(client, step_url(second, 1)), question: "1"})
    assert answered.status_code == 303
    with app.app_context():
        ratings = {r.overall_value: r.answer_map() for r in db.session.scalars(select(Rating))}
        assert [len(ratings[5]), len(ratings[1])] == [1, 2]


@pytest.mark.parametrize("answer, expected, absent", [
    ("1", "sorry", "Thank you!"), ("2", "sorry", "Thank you!"), ("3", "Thank you!", "sorry"),
    ("5", "Thank you!", "sorry"), ("banana", "Thank you!", "sorry"),
])
def test_the_thank_you_matches_the_answer(client, place, answer, expected, absent):
    page = client.get(f"{place.phone_url}/thanks", query_string={"answer": answer, "lang": "en"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert expected in html and absent not in html


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


def _last_step(app) -> int:
    from survey.rating.operations import questionnaire_for

    with app.app_context():
        return len(questionnaire_for(None).follow_up_questions) + 1


@pytest.mark.parametrize("lang, expected", [("en", "too long"), ("vi", "Góp ý quá dài")])
def test_comment_over_the_limit_is_refused_and_keeps_the_rating_unchanged(app, client, place, lang, expected):
    last = step_url(tap(client, place.kiosk_url, "5", lang), _last_step(app))
    limit = app.config["COMMENT_MAX_LENGTH"]
    refused = client.post(last, data={**page_fields(client, last), "comment": "x" * (limit + 1), "finish": "1"})
    assert refused.status_code == 400
    assert expected in alerts(refused.get_data(as_text=True))[0]
    with app.app_context():
        rating = db.session.scalar(select(Rating))
        assert rating.comment is None and rating.overall_value == 5 and rating.completed_at is None


@pytest.mark.parametrize("step, spoil, message", [
    ("first", lambda data, q: {**data, f"question_{q}": "3", "question_424242": "1"}, "not in this survey"),
    ("first", lambda data, q: {**data, f"question_{q}": "9"}, "Please choose one of the answers shown."),
    ("first", lambda data, q: {**data, "question_1": "5"}, "not in this survey"),  # the overall question
    ("last", lambda data, q: {**data, "procedure_id": "banana"}, "Please choose one of the answers shown."),
])
def test_bad_follow_up_is_refused_and_stores_nothing_more(app, client, place, step, spoil, message):
    confirm_url = tap(client, place.phone_url, "3", "en")
    url = step_url(confirm_url, 1 if step == "first" else _last_step(app))
    data = {**page_fields(client, url), "finish": "1"}
    refused = client.post(url, data=spoil(data, _first_follow_up_question(app)))
    assert refused.status_code == 400
    assert message in alerts(refused.get_data(as_text=True))[0]
    with app.app_context():
        rating = db.session.scalar(select(Rating))
        assert len(rating.answers) == 1 and rating.overall_value == 3 and rating.completed_at is None


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


def test_phone_page_outlives_the_session_token_and_any_session(app, place):
    """Scanned while queuing, tapped later: the page's own token is bound to its QR code, not to the
    session's one-hour token (here made to last one second) or to a session at all."""
    import time

    app.config["WTF_CSRF_TIME_LIMIT"] = 1
    _, fields, overall = start(app.test_client(), place.phone_url)
    time.sleep(2.1)  # older than the (shortened) session token's lifetime
    later = app.test_client()  # the session cookie is gone too
    response = later.post(place.phone_url, data={**fields, overall: "4"})
    assert response.status_code == 303
    assert count_ratings(app) == 1


def test_phone_page_older_than_its_lifetime_is_refused_clearly(app, place):
    import time

    app.config["PHONE_PAGE_MAX_AGE_SECONDS"] = 1
    client = app.test_client()
    _, fields, overall = start(client, place.phone_url, "en")
    time.sleep(2.1)
    response = client.post(place.phone_url, data={**fields, overall: "4"})
    assert response.status_code == 400
    assert "expired" in alerts(response.get_data(as_text=True))[0]
    assert count_ratings(app) == 0


@pytest.mark.parametrize("spoil", ["forged", "other place", "no token", "no time", "changed time"])
def test_phone_form_token_is_refused_when_forged_or_from_another_qr_code(app, client, place, spoil):
    _, fields, overall = start(client, place.phone_url, "en")
    issued, _, signature = fields["csrf_token"].partition(".")
    other_url = f"/r/{place.office_code}"  # the office's own QR code: a different place from the counter's
    url = place.phone_url
    if spoil == "forged":
        fields["csrf_token"] = f"{issued}.{'0' * 64}"
    elif spoil == "other place":
        url = other_url
    elif spoil == "no token":
        del fields["csrf_token"]
    elif spoil == "no time":
        fields["csrf_token"] = signature
    else:
        fields["csrf_token"] = f"{int(issued) + 3600}.{signature}"
    response = client.post(url, data={**fields, overall: "4"})
    assert response.status_code == 400
    assert "expired" in alerts(response.get_data(as_text=True))[0]
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


def flags(app) -> list:
    with app.app_context():
        return list(db.session.scalars(select(Rating.flag).order_by(Rating.id)))


def test_a_hundred_phones_on_one_address_are_all_stored(app, place):
    """Everyone on a centre's guest Wi-Fi shares one address: 100 phones, 100 ratings, none refused or flagged."""
    for _ in range(100):
        phone = app.test_client()  # its own cookies: a device of its own
        _, fields, overall = start(phone, place.phone_url)
        assert phone.post(place.phone_url, data={**fields, overall: "4"}).status_code == 303
    assert count_ratings(app) == 100
    assert flags(app) == [None] * 100


def test_one_phone_beyond_a_human_rate_is_stored_but_flagged(app, client, place):
    app.config["PHONE_DEVICE_HUMAN_RATE"] = "3 per hour"
    for _ in range(5):
        _, fields, overall = start(client, place.phone_url)
        assert client.post(place.phone_url, data={**fields, overall: "5"}).status_code == 303
    assert flags(app) == [None, None, None, "burst", "burst"]
    other_phone = app.test_client()
    _, fields, overall = start(other_phone, place.phone_url)
    assert other_phone.post(place.phone_url, data={**fields, overall: "5"}).status_code == 303
    assert flags(app)[-1] is None  # the next citizen's phone has its own budget


def test_phones_without_a_device_cookie_share_one_budget_per_address(app, place):
    app.config["PHONE_DEVICE_HUMAN_RATE"] = "2 per hour"
    for _ in range(3):
        phone = app.test_client(use_cookies=False)  # no cookies at all: the device cannot be told
        page = phone.get(place.phone_url).get_data(as_text=True)
        fields = hidden_fields(page)
        assert phone.post(place.phone_url, data={**fields, overall_field(page): "4"}).status_code == 303
    assert flags(app) == [None, None, "burst"]


def test_a_forged_device_cookie_counts_as_no_device(app, place):
    app.config["PHONE_DEVICE_HUMAN_RATE"] = "1 per hour"
    for _ in range(2):
        phone = app.test_client()
        _, fields, overall = start(phone, place.phone_url)
        phone.set_cookie("survey_device", f"{'a' * 32}.{'0' * 32}")  # the same made-up id on both
        assert phone.post(place.phone_url, data={**fields, overall: "4"}).status_code == 303
    assert flags(app) == [None, "burst"]


def test_follow_up_can_be_sent_where_the_office_lists_no_procedures(app, client, place):
    from survey.models import Procedure

    with app.app_context():
        procedures = [db.session.get(Procedure, procedure_id) for procedure_id in place.procedure_ids]
        for procedure in procedures:
            procedure.offices.clear()
        db.session.commit()
    last = step_url(tap(client, place.kiosk_url, "4", "en"), _last_step(app))
    page = client.get(last).get_data(as_text=True)
    assert 'name="procedure_id"' not in page
    done = client.post(last, data={**hidden_fields(page), "finish": "1", "comment": "Nhanh"})
    assert done.status_code == 303 and done.headers["Location"].endswith("/thanks?answer=4")
    with app.app_context():
        rating = db.session.scalar(select(Rating))
        assert rating.procedure_id is None and rating.comment == "Nhanh" and rating.completed_at is not None


@pytest.mark.parametrize("first", ["finish", "skip"])
def test_a_finished_follow_up_cannot_be_changed_by_the_next_person(app, client, place, first):
    question = f"question_{_first_follow_up_question(app)}"
    confirm_url = tap(client, place.kiosk_url, "4", "en")
    first_step = step_url(confirm_url, 1)
    fields = page_fields(client, first_step)
    sent = {**fields, question: "5", "finish": "1"}
    finished = client.post(first_step, data=sent if first == "finish" else {**fields, "skip": "1", "finish": "1"})
    assert finished.status_code == 303 and finished.headers["Location"].endswith("/thanks?answer=4")

    # The next person presses Back: the page is not shown again, and changes are refused.
    assert client.get(first_step).status_code == 303
    assert client.get(confirm_url).status_code == 303
    changed = client.post(first_step, data={**sent, question: "1"})
    assert changed.status_code == 409
    assert "closed" in alerts(changed.get_data(as_text=True))[0]
    with app.app_context():
        rating = db.session.scalar(select(Rating))
        assert rating.completed_at is not None
        assert len(rating.answers) == (2 if first == "finish" else 1)
        assert rating.answer_map().get(int(question.removeprefix("question_"))) == (5 if first == "finish" else None)


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


# ---------------------------------------------------------------- what went wrong (#9)


def reasons_of(app) -> list[str]:
    from survey.models import RatingReason

    with app.app_context():
        return sorted(db.session.scalars(select(RatingReason.reason)))


@pytest.mark.parametrize("channel", ["kiosk", "phone"])
def test_after_a_negative_face_reasons_are_stored_and_replaced(app, client, place, channel):
    url = place.kiosk_url if channel == "kiosk" else place.phone_url
    confirm_url = tap(client, url, "2", "en")
    reasons_url = f"{confirm_url}/reasons"
    assert f'href="{reasons_url}"' in client.get(confirm_url).get_data(as_text=True)
    page = client.get(reasons_url).get_data(as_text=True)
    assert "I waited too long" in page and "dichvucong.gov.vn" in page
    fields = hidden_fields(page)
    sent = client.post(reasons_url, data={**fields, "reasons": ["long_wait", "extra_money"], "next": "1"})
    assert sent.status_code == 303 and sent.headers["Location"] == step_url(confirm_url, 1)
    assert reasons_of(app) == ["extra_money", "long_wait"]
    again = client.post(reasons_url, data={**fields, "reasons": ["staff_attitude"], "finish": "1"})
    assert again.status_code == 303 and again.headers["Location"].endswith("/thanks?answer=2")
    assert reasons_of(app) == ["staff_attitude"]
    closed = client.post(reasons_url, data={**fields, "reasons": ["other"], "next": "1"})
    assert closed.status_code == 409
    assert reasons_of(app) == ["staff_attitude"]


def test_reasons_are_only_asked_after_a_negative_face(app, client, place):
    confirm_url = tap(client, place.phone_url, "4", "en")
    assert "/reasons" not in client.get(confirm_url).get_data(as_text=True)
    fields = page_fields(client, confirm_url)
    response = client.post(f"{confirm_url}/reasons", data={**fields, "reasons": ["long_wait"], "next": "1"})
    assert response.status_code == 303 and response.headers["Location"] == step_url(confirm_url, 1)
    assert reasons_of(app) == []


@pytest.mark.parametrize("lang, message", [("en", "Please choose one of the answers shown."),
                                           ("vi", "Vui lòng chọn một trong các câu trả lời")])
def test_an_unknown_reason_is_refused_clearly(app, client, place, lang, message):
    confirm_url = tap(client, place.kiosk_url, "1", lang)
    reasons_url = f"{confirm_url}/reasons"
    fields = page_fields(client, reasons_url)
    refused = client.post(reasons_url, data={**fields, "reasons": ["long_wait", "bribe'--"], "next": "1"})
    assert refused.status_code == 400
    assert message in alerts(refused.get_data(as_text=True))[0]
    assert reasons_of(app) == []


def test_the_office_complaint_channel_is_shown_with_the_national_portal(app, client, place):
    from survey.models import Unit

    with app.app_context():
        db.session.get(Unit, place.office_id).complaint_contact = "Đường dây nóng 1900 1234"
        db.session.commit()
    page = client.get(f"{tap(client, place.phone_url, '1')}/reasons").get_data(as_text=True)
    assert "Cơ quan này: Đường dây nóng 1900 1234" in page
    assert '<a href="https://dichvucong.gov.vn"' in page


# ---------------------------------------------------------------- the offline queue's batch (#9)


def sync(client, place, csrf_token: str, taps: list[str], sent_at_ms: int, **extra):
    return client.post(f"{place.kiosk_url}/sync", data={"csrf_token": csrf_token, "sent_at": str(sent_at_ms),
                                                       "taps": taps, **extra}, headers={"Accept": "application/json"})


def test_a_queued_batch_stores_each_tap_once_at_its_corrected_time(app, client, place):
    import time
    import uuid
    from datetime import datetime, timedelta

    csrf_token = page_fields(client, place.kiosk_url)["csrf_token"]
    tablet_behind = 3600_000  # the tablet's clock is an hour slow
    sent_at = int(time.time() * 1000) - tablet_behind
    keys = [uuid.uuid4().hex for _ in range(20)]
    taps = [f"{key}.{1 + i % 5}.{sent_at - (20 - i) * 10_000}" for i, key in enumerate(keys)]  # 10 s apart
    first = sync(client, place, csrf_token, taps, sent_at)
    assert first.status_code == 200 and sorted(first.json["stored"]) == sorted(keys)
    again = sync(client, place, csrf_token, taps, sent_at)  # the answer was lost: the tablet sends it again
    assert again.status_code == 200
    assert count_ratings(app) == 20
    with app.app_context():
        ratings = {r.idempotency_key: r for r in db.session.scalars(select(Rating))}
        assert [ratings[key].overall_value for key in keys] == [1 + i % 5 for i in range(20)]
        assert all(r.flag is None and r.kiosk_id == place.kiosk_id for r in ratings.values())
        now = datetime.utcnow()  # noqa: DTZ003 - the stored times are naive UTC
        first_tap = ratings[keys[0]].created_at
        assert abs(first_tap - (now - timedelta(seconds=200))) < timedelta(seconds=30)  # corrected by the skew


def test_queued_taps_closer_than_the_burst_rule_are_flagged_not_refused(app, client, place):
    import time
    import uuid

    csrf_token = page_fields(client, place.kiosk_url)["csrf_token"]
    now_ms = int(time.time() * 1000)
    taps = [f"{uuid.uuid4().hex}.5.{now_ms - 60_000 + offset}" for offset in (0, 1_000, 2_000, 30_000)]
    response = sync(client, place, csrf_token, taps, now_ms)
    assert response.status_code == 200 and len(response.json["stored"]) == 4
    assert flags(app) == [None, "burst", "burst", None]


def test_queued_taps_cannot_slip_between_stored_ratings_or_come_too_late(app, client, place):
    import time
    import uuid

    app.config["KIOSK_MIN_INTERVAL_SECONDS"] = 5
    fields, overall = page_fields(client, place.kiosk_url), overall_field(client.get(place.kiosk_url).get_data(as_text=True))
    assert client.post(place.kiosk_url, data={**fields, overall: "4"}).status_code == 303  # a live tap, now
    now_ms = int(time.time() * 1000)
    taps = [f"{uuid.uuid4().hex}.1.{now_ms - 2_000}",            # two seconds before the live tap
            f"{uuid.uuid4().hex}.1.{now_ms - 600_000}",          # ten minutes earlier: fine
            f"{uuid.uuid4().hex}.1.{now_ms - 8 * 86_400_000}"]   # eight days late
    assert sync(client, place, fields["csrf_token"], taps, now_ms).status_code == 200
    with app.app_context():
        by_key = {r.idempotency_key: r.flag for r in db.session.scalars(select(Rating))}
    assert [by_key[t.split(".")[0]] for t in taps] == ["burst", None, "burst"]


@pytest.mark.parametrize("spoil", ["forged token", "bad tap", "off the scale", "no taps", "bad time"])
def test_a_bad_batch_is_refused_and_stores_nothing(app, client, place, spoil):
    import uuid

    csrf_token = page_fields(client, place.kiosk_url)["csrf_token"]
    taps, sent_at = [f"{uuid.uuid4().hex}.4.1700000000000"], "1700000001000"
    if spoil == "forged token":
        csrf_token = "0" * 64
    elif spoil == "bad tap":
        taps.append("x' or 1=1")
    elif spoil == "off the scale":
        taps.append(f"{uuid.uuid4().hex}.9.1700000000500")
    elif spoil == "no taps":
        taps = []
    else:
        sent_at = "yesterday"
    response = client.post(f"{place.kiosk_url}/sync?lang=en", data={"csrf_token": csrf_token, "sent_at": sent_at,
                                                                     "taps": taps})
    assert 400 <= response.status_code < 500 and response.json["message"]
    assert count_ratings(app) == 0
