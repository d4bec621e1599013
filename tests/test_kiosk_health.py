"""Kiosk health (#9, #11): the kiosk page's heartbeat (queued taps, clock), the clock measured by the
offline batch, implausible tap times flagged, and what managers see on the kiosk pages."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from sqlalchemy import select

from survey.extensions import db
from survey.manager.operations import create_user
from survey.models import Kiosk, Rating
from survey.models._common import utcnow
from tests.test_dashboard import PASSWORD, signed_in
from tests.test_rating import page_fields, sync


def kiosk_row(app, kiosk_id: int) -> Kiosk:
    with app.app_context():
        kiosk = db.session.get(Kiosk, kiosk_id)
        db.session.expunge(kiosk)
        return kiosk


def heartbeat(client, place, csrf_token: str, **data):
    return client.post(f"{place.kiosk_url}/health", data={"csrf_token": csrf_token, **data},
                       headers={"Accept": "application/json"})


def test_heartbeat_records_contact_queued_taps_and_clock(app, client, place):
    assert kiosk_row(app, place.kiosk_id).last_contact_at is None
    csrf_token = page_fields(client, place.kiosk_url)["csrf_token"]
    before = utcnow()
    ten_minutes_slow = int(time.time() * 1000) - 600_000
    response = heartbeat(client, place, csrf_token, queued="7", sent_at=str(ten_minutes_slow))
    assert response.status_code == 200 and response.json == {"ok": True}
    kiosk = kiosk_row(app, place.kiosk_id)
    assert kiosk.queued_taps == 7
    assert before <= kiosk.last_contact_at <= utcnow()
    assert 595 <= kiosk.clock_skew_seconds <= 610  # the server's clock is 600 s ahead of the tablet's

    assert heartbeat(client, place, csrf_token, queued="0").status_code == 200  # no clock sent: skew kept
    kiosk = kiosk_row(app, place.kiosk_id)
    assert kiosk.queued_taps == 0 and 595 <= kiosk.clock_skew_seconds <= 610


def test_heartbeat_refuses_a_forged_token_and_bad_values(app, client, place):
    csrf_token = page_fields(client, place.kiosk_url)["csrf_token"]
    assert heartbeat(client, place, "0" * 64, queued="5").status_code == 400
    assert heartbeat(client, place, csrf_token, queued="-1").status_code == 400
    assert heartbeat(client, place, csrf_token, queued="5", sent_at="soon").status_code == 400
    assert heartbeat(client, place, csrf_token).status_code == 400  # no count
    kiosk = kiosk_row(app, place.kiosk_id)
    assert kiosk.last_contact_at is None and kiosk.queued_taps == 0


def test_batch_records_the_skew_and_flags_taps_after_the_sending_time(app, client, place):
    csrf_token = page_fields(client, place.kiosk_url)["csrf_token"]
    sent_at = int(time.time() * 1000) + 1_800_000  # the tablet's clock is 30 minutes fast
    normal = [uuid.uuid4().hex for _ in range(2)]
    later = uuid.uuid4().hex  # "tapped" an hour after the batch was sent: the clock was changed in between
    taps = [f"{normal[0]}.5.{sent_at - 60_000}", f"{normal[1]}.4.{sent_at - 30_000}",
            f"{later}.3.{sent_at + 3_600_000}"]
    response = sync(client, place, csrf_token, taps, sent_at)
    assert response.status_code == 200 and sorted(response.json["stored"]) == sorted([*normal, later])
    with app.app_context():
        flags = dict(db.session.execute(select(Rating.idempotency_key, Rating.flag)).all())
        when = dict(db.session.execute(select(Rating.idempotency_key, Rating.created_at)).all())
    assert flags == {normal[0]: None, normal[1]: None, later: "clock"}
    now = utcnow()
    assert abs(when[normal[0]] - (now - timedelta(seconds=60))) < timedelta(seconds=10)  # corrected by -30 min
    assert when[later] <= now  # never later than now
    kiosk = kiosk_row(app, place.kiosk_id)
    assert -1810 <= kiosk.clock_skew_seconds <= -1790 and kiosk.last_contact_at is not None


def _manager_of(app, place):
    email = f"{uuid.uuid4().hex[:6]}@x.vn"
    with app.app_context():
        create_user(email, "office-manager", place.office_code, password=PASSWORD)
        db.session.commit()
    return signed_in(app, email)


def test_manager_pages_show_last_contact_ratings_today_queued_taps_and_silence(app, client, place):
    csrf_token = page_fields(client, place.kiosk_url)["csrf_token"]
    now_ms = int(time.time() * 1000)
    # Three taps a minute apart now, one 30 hours ago (yesterday in Vietnam whatever the hour): 3 today.
    taps = [f"{uuid.uuid4().hex}.5.{now_ms - m * 60_000}" for m in (1, 2, 3)]
    taps.append(f"{uuid.uuid4().hex}.2.{now_ms - 30 * 3_600_000}")
    assert sync(client, place, csrf_token, taps, now_ms).status_code == 200
    assert heartbeat(client, place, csrf_token, queued="12", sent_at=str(now_ms - 900_000)).status_code == 200
    manager = _manager_of(app, place)

    listing = manager.get("/manager/kiosks")
    html = listing.get_data(as_text=True)
    assert listing.status_code == 200 and listing.headers["Cache-Control"] == "no-store"
    assert "Ratings today" in html and "Taps queued on the tablet" in html
    assert '<td class="num">3</td><td class="num" data-queued-taps>12</td>' in html
    assert "not seen recently" not in html and "clock wrong" in html  # 15 minutes off > 5 minutes

    page = manager.get(f"/manager/kiosks/{place.kiosk_id}").get_data(as_text=True)
    assert "<dd data-queued-taps>12</dd>" in page and "15 minutes off" in page

    with app.app_context():  # silent for 11 minutes (KIOSK_SILENT_MINUTES is 10)
        db.session.get(Kiosk, place.kiosk_id).last_contact_at = utcnow() - timedelta(minutes=11)
        db.session.commit()
    assert "not seen recently" in manager.get("/manager/kiosks").get_data(as_text=True)
    assert "not seen recently" in manager.get(f"/manager/kiosks/{place.kiosk_id}").get_data(as_text=True)


def test_service_worker_is_served_under_the_kiosk_path_and_allowed_by_the_policy(client, place):
    with client.get("/kiosk/service-worker.js") as response:
        assert response.status_code == 200 and response.mimetype in {"text/javascript", "application/javascript"}
        assert b"caches.open" in response.data
        assert response.headers["Cache-Control"] == "no-cache"
    page = client.get(place.kiosk_url)
    assert "worker-src 'self'" in page.headers["Content-Security-Policy"]
    assert 'data-service-worker="/kiosk/service-worker.js"' in page.get_data(as_text=True)
    assert f'data-health-url="{place.kiosk_url}/health"' in page.get_data(as_text=True)


def test_a_kiosk_never_opened_is_not_an_alarm_until_a_day_has_passed(app, client, place):
    """Registered a moment ago and not yet set up: "not connected yet", not the red "not seen recently";
    registered two days ago and never heard from: a plain note naming the day it was registered."""
    manager = _manager_of(app, place)
    listing = manager.get("/manager/kiosks?lang=en").get_data(as_text=True)
    assert "not connected yet" in listing
    assert "not seen recently" not in listing and 'class="overdue"' not in listing
    with app.app_context():
        db.session.get(Kiosk, place.kiosk_id).created_at = utcnow() - timedelta(days=2)
        db.session.commit()
    listing = manager.get("/manager/kiosks?lang=en").get_data(as_text=True)
    assert "never connected since its registration on" in listing and 'class="overdue"' not in listing
    page = manager.get(f"/manager/kiosks/{place.kiosk_id}?lang=en").get_data(as_text=True)
    assert "never connected since its registration on" in page
    # Once the tablet has been heard from, it is judged by its last contact.
    with app.app_context():
        db.session.get(Kiosk, place.kiosk_id).last_contact_at = utcnow()
        db.session.commit()
    listing = manager.get("/manager/kiosks?lang=en").get_data(as_text=True)
    assert "never connected" not in listing and "not connected yet" not in listing
