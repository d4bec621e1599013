"""No tap lost when the server is down (#9) and kiosk health for managers (#11), in a real browser
against a real ``survey serve`` process that is stopped and started again on the same port.

Screenshots go to the test's temporary folder (printed in the test's output when it fails).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

CHROMIUM = os.environ.get("SURVEY_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no chromium at {CHROMIUM}", allow_module_level=True)
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"playwright is not importable ({exc}); install the 'test' extra", allow_module_level=True)


from survey.cli import init_database  # noqa: E402
from survey.extensions import db  # noqa: E402
from survey.manager.operations import create_user  # noqa: E402
from survey.models import Rating  # noqa: E402
from tests.conftest import free_port, make_app, make_place, running_survey, survey_env  # noqa: E402
from tests.test_browser import serving  # noqa: E402

pytestmark = pytest.mark.browser

KIOSK = {"viewport": {"width": 1280, "height": 800}, "has_touch": True, "locale": "vi-VN"}
PASSWORD = "offline-password-1"
CACHE = "survey-kiosk-1"
QUEUE = "JSON.parse(localStorage.getItem(Object.keys(localStorage).find(k => k.startsWith('survey-queue:'))) || '[]')"
QUEUE_LENGTH = f"{QUEUE}.length"
QUEUED_KEYS = f"{QUEUE}.map(t => t.split('.')[0])"
#: Where the kiosk page's script sends its taps and its queue (survey/api/kiosk.py).
API = "/api/v1/ratings"


@dataclass
class KioskSite:
    instance: Path
    database: Path
    port: int
    kiosk_url: str
    kiosk_id: int
    office_id: int
    manager_email: str
    logs: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serving(self, name: str):
        """``survey serve`` on this site's port (the same port every time), stopped on leaving."""
        args = ["serve", "--workers", "1", "--threads", "4", "--bind", f"127.0.0.1:{self.port}"]
        env = survey_env(self.instance, SURVEY_KIOSK_MIN_INTERVAL_SECONDS="0", SURVEY_KIOSK_HEARTBEAT_SECONDS="2")
        return running_survey(args, env, self.logs / f"{name}.log", port=self.port)

    def ratings(self) -> list[tuple[str, int, str | None]]:
        """(key, overall value, flag) of this office's ratings, read from the database file itself."""
        app = make_app(f"sqlite:///{self.database}")
        with app.app_context():
            rows = db.session.execute(select(Rating.idempotency_key, Rating.overall_value, Rating.flag)
                                      .where(Rating.office_id == self.office_id)).all()
            db.session.remove()
            db.engine.dispose()
        return [tuple(row) for row in rows]


@pytest.fixture
def site(tmp_path) -> KioskSite:
    instance = tmp_path / "instance"
    instance.mkdir()
    database = instance / "survey.sqlite"
    app = make_app(f"sqlite:///{database}")
    email = "kiosk-manager@x.vn"
    with app.app_context():
        init_database()
        place = make_place()
        create_user(email, "office-manager", place.office_code, password=PASSWORD)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return KioskSite(instance, database, free_port(), place.kiosk_url, place.kiosk_id, place.office_id, email, tmp_path)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def kiosk_page(browser):
    """A tablet-sized page; fails the test on an uncaught script error (refused connections are expected
    console messages here: the server is stopped on purpose)."""
    context = browser.new_context(**KIOSK)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == []


def wait_for(page, condition, *, seconds: float = 45, what: str = "") -> None:
    for _ in range(int(seconds * 10)):
        if condition():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"not reached in {seconds} s: {what}")


def queue_length(page) -> int:
    return page.evaluate(QUEUE_LENGTH)


def tap(page, value: int, expected_queue: int) -> None:
    page.locator(f".face-button[value='{value}']").tap()
    wait_for(page, lambda: queue_length(page) == expected_queue, seconds=10, what=f"{expected_queue} queued")
    expect(page.locator("[data-queued-note]")).to_be_visible()


def kept_by_the_service_worker(page) -> list[str]:
    return page.evaluate(f"caches.open('{CACHE}').then(c => c.keys()).then(keys => keys.map(r => r.url))")


def test_twenty_taps_while_the_server_is_stopped_become_exactly_twenty_ratings(site, kiosk_page, tmp_path):
    page = kiosk_page
    with site.serving("first"):
        page.goto(site.base + site.kiosk_url)
        expect(page.locator(".face-button")).to_have_count(5)
    # The server process is stopped; the network is up (the browser does not know anything is wrong).
    assert page.evaluate("navigator.onLine") is True
    for i in range(20):
        tap(page, 1 + i % 5, i + 1)
        assert page.locator(".face-button").count() == 5  # the start screen, ready for the next person
    assert "/kiosk/" in page.url and "/r/" not in page.url
    page.screenshot(path=str(tmp_path / "kiosk-server-down-queued.png"))
    queued_keys = page.evaluate(QUEUED_KEYS)
    assert len(set(queued_keys)) == 20
    assert site.ratings() == []

    posts = []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
    with site.serving("second"):  # the same port again: the queue is sent by itself
        wait_for(page, lambda: queue_length(page) == 0, what="queue sent")
        ratings = site.ratings()
    # The queue went to the API's rating endpoint (the kiosk's heartbeat to its health address).
    sent = [url for url in posts if not url.split("?")[0].endswith("/health")]
    assert sent and all(url.split("?")[0] == site.base + API for url in sent), posts
    assert sorted(key for key, _, _ in ratings) == sorted(queued_keys)  # each key once, none twice
    assert sorted(value for _, value, _ in ratings) == sorted(1 + i % 5 for i in range(20))
    assert [flag for _, _, flag in ratings] == [None] * 20


def test_the_start_page_reloaded_while_the_server_is_down_still_shows_the_faces(site, kiosk_page, tmp_path):
    page = kiosk_page
    with site.serving("first"):
        page.goto(site.base + site.kiosk_url)
        wait_for(page, lambda: page.evaluate("navigator.serviceWorker.controller !== null"), seconds=15,
                 what="service worker in control")
        start = site.base + site.kiosk_url
        wait_for(page, lambda: start in kept_by_the_service_worker(page), seconds=15, what="start page kept")
        wait_for(page, lambda: any("/static/js/kiosk.js" in url for url in kept_by_the_service_worker(page)),
                 seconds=15, what="script kept")
    page.reload()  # the server is stopped: the service worker answers with the kept start page
    expect(page.locator(".face-button")).to_have_count(5)
    expect(page.locator("h1.question")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.querySelector('.faces')).display") != "inline"  # styled
    page.screenshot(path=str(tmp_path / "kiosk-reloaded-server-down.png"))
    tap(page, 4, 1)  # and the script works: the tap is queued
    page.reload()
    tap(page, 2, 2)  # a second showing of the kept page mints its own key
    keys = page.evaluate(QUEUED_KEYS)
    assert len(set(keys)) == 2

    with site.serving("second"):
        wait_for(page, lambda: queue_length(page) == 0, what="queue sent")
        assert sorted(value for _, value, _ in site.ratings()) == [2, 4]


def test_a_tap_whose_answer_is_lost_is_stored_once(site, kiosk_page):
    page = kiosk_page
    arrived = []
    with site.serving("only"):
        start = site.base + site.kiosk_url
        page.goto(start)

        def lose_the_answer(route):
            if route.request.method != "POST" or arrived:
                route.continue_()
                return
            response = route.fetch()  # the server receives the tap and stores it ...
            arrived.append((response.status, len(site.ratings())))
            route.abort("connectionreset")  # ... but its answer never reaches the tablet

        page.route(site.base + API + "*", lose_the_answer)
        tap(page, 5, 1)
        assert arrived == [(201, 1)]
        [queued] = page.evaluate(QUEUE)
        wait_for(page, lambda: queue_length(page) == 0, what="queue sent")  # the queued copy is sent
        ratings = site.ratings()
    assert ratings == [(queued.split(".")[0], 5, None)]  # one rating, under the key of the lost tap


def test_a_server_that_does_not_answer_for_seconds_gets_the_tap_queued_and_stored_once(site, kiosk_page):
    page = kiosk_page
    held = []
    with site.serving("only"):
        start = site.base + site.kiosk_url
        page.goto(start)
        page.route(site.base + API + "*",  # the tap is held: the server neither answers nor refuses
                   lambda route: held.append(route) if route.request.method == "POST" and not held
                   else route.continue_())
        page.locator(".face-button[value='2']").tap()
        # Nothing answers: after a few seconds the tap is queued and the start screen is ready again.
        wait_for(page, lambda: queue_length(page) == 1, seconds=15, what="queued after the time-out")
        expect(page.locator("[data-queued-note]")).to_be_visible()
        [queued_key] = page.evaluate(QUEUED_KEYS)
        assert len(held) == 1 and site.ratings() == []
        held[0].continue_()  # the slow request arrives after all ...
        wait_for(page, lambda: len(site.ratings()) == 1, seconds=15, what="late tap stored")
        wait_for(page, lambda: queue_length(page) == 0, what="queue sent")  # ... and so does the queued copy
        page.wait_for_timeout(500)
        ratings = site.ratings()
    assert ratings == [(queued_key, 2, None)]  # once


def test_the_manager_kiosk_page_shows_the_taps_queued_on_the_tablet(site, kiosk_page, browser, tmp_path):
    page = kiosk_page
    with site.serving("only"):
        start = site.base + site.kiosk_url
        page.goto(start)
        page.route(site.base + API + "*", lambda route: route.abort("connectionrefused"))  # sending the queue keeps failing
        page.context.set_offline(True)
        for i in range(3):
            tap(page, 3, i + 1)
        page.context.set_offline(False)
        # The heartbeat (every 2 s here) tells the server that three taps wait on the tablet.
        wait_for(page, lambda: _queued_on_server(site) == 3, seconds=20, what="heartbeat stored")

    # The manager pages of the same database (an in-process server with the test settings).
    with serving(make_app(f"sqlite:///{site.database}")) as live:
        base = live.url
        manager = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB").new_page()
        manager.goto(f"{base}/manager/sign-in?lang=en")
        manager.fill("input[name=email]", site.manager_email)
        manager.fill("input[name=password]", PASSWORD)
        manager.locator("button[type=submit], input[type=submit]").first.click()
        manager.wait_for_url(f"{base}/manager/")
        manager.goto(f"{base}/manager/kiosks")
        expect(manager.locator("td[data-queued-taps]")).to_have_text("3")
        manager.goto(f"{base}/manager/kiosks/{site.kiosk_id}")
        expect(manager.locator("dd[data-queued-taps]")).to_have_text("3")
        manager.screenshot(path=str(tmp_path / "manager-kiosk-health.png"), full_page=True)
        manager.context.close()


def _queued_on_server(site: KioskSite) -> int:
    from survey.models import Kiosk

    app = make_app(f"sqlite:///{site.database}")
    with app.app_context():
        queued = db.session.scalar(select(Kiosk.queued_taps).where(Kiosk.id == site.kiosk_id))
        db.session.remove()
        db.engine.dispose()
    return queued
