"""The kiosk page's script and its offline queue send to POST /api/v1/ratings with the kiosk's own
credential (``Authorization: Kiosk <token>``): one tap judged by the kiosk's burst rule as on the page,
a batch of queued taps stored once each at their tap times (burst judged on those times, flagged never
refused; clock flags), refused kiosks, no cross-site use."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Channel, Kiosk, Rating
from tests.conftest import make_place


@pytest.fixture
def kiosk(app):
    app.config["KIOSK_MIN_INTERVAL_SECONDS"] = 5
    with app.app_context():
        return make_place("HN")


def send(client, place, body, token=None, lang="en"):
    return client.post(f"/api/v1/ratings?lang={lang}", json=body,
                       headers={"Authorization": f"Kiosk {token or place.kiosk_token}"})


def tap(value=4, key=None, **extra):
    return {"idempotency_key": key or uuid.uuid4().hex, "answers": {"overall": value}, **extra}


def stored(app, place) -> list[tuple]:
    with app.app_context():
        return [tuple(r) for r in db.session.execute(
            select(Rating.idempotency_key, Rating.overall_value, Rating.flag, Rating.channel, Rating.kiosk_id,
                   Rating.counter_id, Rating.locale)
            .where(Rating.office_id == place.office_id).order_by(Rating.created_at))]


def now_ms() -> int:
    return int(time.time() * 1000)


def test_one_tap_is_stored_once_at_the_kiosks_place_and_leads_to_its_confirmation(app, client, kiosk):
    body = tap(5, locale="en")
    first = send(client, kiosk, body)
    assert first.status_code == 201 and first.json["status"] == "created"
    assert first.json["next"] == f"{kiosk.kiosk_url}/r/{body['idempotency_key']}?lang=en"
    again = send(client, kiosk, body)  # a retry of a tap whose answer was lost
    assert again.status_code == 200 and again.json["status"] == "unchanged"
    [row] = stored(app, kiosk)
    assert row == (body["idempotency_key"], 5, None, Channel.KIOSK, kiosk.kiosk_id, kiosk.counter_id, "en")
    assert client.get(first.json["next"]).status_code == 200  # the confirmation screen


def test_a_second_new_tap_within_the_burst_interval_is_refused_as_on_the_page(app, client, kiosk):
    assert send(client, kiosk, tap(4)).status_code == 201
    second = send(client, kiosk, tap(1))
    assert second.status_code == 429 and second.json["code"] == "kiosk_burst"
    assert [value for _, value, *_ in stored(app, kiosk)] == [4]


def test_a_queued_batch_is_stored_once_at_its_tap_times_with_bursts_and_clock_jumps_flagged(app, client, kiosk):
    sent = now_ms()
    taps = [{"idempotency_key": uuid.uuid4().hex, "value": v, "tapped_at": sent - offset}
            for v, offset in [(1, 600_000), (2, 300_000), (3, 298_000),  # the third 2 s after the second: burst
                              (4, 60_000)]]
    taps.append({"idempotency_key": uuid.uuid4().hex, "value": 5, "tapped_at": sent + 600_000})  # after sending
    body = {"sent_at": sent, "taps": taps, "locale": "en"}
    first = send(client, kiosk, body)
    assert first.status_code == 200 and sorted(first.json["stored"]) == sorted(t["idempotency_key"] for t in taps)
    assert send(client, kiosk, body).json["stored"] == first.json["stored"]  # the same batch again: nothing new
    rows = {key: (value, flag) for key, value, flag, *_ in stored(app, kiosk)}
    assert len(rows) == 5
    flags = {rows[t["idempotency_key"]][0]: rows[t["idempotency_key"]][1] for t in taps}
    assert flags == {1: None, 2: None, 3: "burst", 4: None, 5: "clock"}


@pytest.mark.parametrize("body, code", [
    ([1], "bad_json"),
    ({"idempotency_key": "short", "answers": {"overall": 4}}, "bad_idempotency_key"),
    ({"idempotency_key": "a" * 20, "answers": {"overall": 9}}, "out_of_scale"),
    ({"idempotency_key": "a" * 20, "answers": {"overall": True}}, "out_of_scale"),
    ({"idempotency_key": "a" * 20, "answers": {"access": 4}}, "bad_answers"),
    ({"idempotency_key": "a" * 20, "answers": {"overall": 4}, "office_code": "X"}, "unknown_field"),
    ({"sent_at": 1, "taps": []}, "bad_time"),
    ({"sent_at": 1_800_000_000_000, "taps": []}, "bad_batch"),
    ({"sent_at": 1_800_000_000_000, "taps": ["key.4.1800000000000"]}, "bad_batch"),
    ({"sent_at": 1_800_000_000_000, "taps": [{"idempotency_key": "a" * 20, "value": 4, "tapped_at": "now"}]},
     "bad_time"),
])
def test_bad_bodies_are_refused_with_a_reason_and_store_nothing(app, client, kiosk, body, code):
    response = send(client, kiosk, body)
    assert response.status_code == 400 and response.json["code"] == code
    assert response.json["message"]
    assert stored(app, kiosk) == []


def test_unknown_and_revoked_kiosks_are_refused(app, client, kiosk):
    unknown = send(client, kiosk, tap(), token="not-a-kiosk-token-at-all")
    assert unknown.status_code == 401 and unknown.json["code"] == "invalid_kiosk"
    with app.app_context():
        db.session.get(Kiosk, kiosk.kiosk_id).revoked_at = db.func.now()
        db.session.commit()
    revoked = send(client, kiosk, tap(), lang="vi")
    assert revoked.status_code == 403 and revoked.json["code"] == "kiosk_revoked"
    assert "tắt" in revoked.json["message"]  # in the page's language
    assert stored(app, kiosk) == []


def test_no_cross_site_page_can_send_a_kiosk_credential(client, kiosk):
    """A browser sends a request with an Authorization header to another site only after a preflight
    that allows it: the preflight here allows nothing."""
    preflight = client.options("/api/v1/ratings", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert not [h for h in preflight.headers.keys() if h.lower().startswith("access-control-allow")]


def test_the_kiosk_page_names_the_api_and_its_own_credential(client, kiosk):
    html = client.get(kiosk.kiosk_url).get_data(as_text=True)
    token = kiosk.kiosk_url.rsplit("/", 1)[1]
    assert 'data-api-url="/api/v1/ratings"' in html and f'data-kiosk-token="{token}"' in html
    assert 'data-overall-key="overall"' in html
