"""The rating pages in a real browser (Debian's chromium through Playwright): kiosk and phone,
timeouts, double taps, the language switch, no JavaScript, and basic accessibility checks.

Screenshots go to ``test-artifacts/`` at the repository root for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

CHROMIUM = os.environ.get("SURVEY_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no chromium at {CHROMIUM} (install Debian's chromium or set SURVEY_CHROMIUM)",
                allow_module_level=True)
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"playwright is not importable ({exc}); install the 'test' extra", allow_module_level=True)

from werkzeug.serving import make_server  # noqa: E402

from survey.extensions import db  # noqa: E402
from survey.models import Procedure, Rating, RatingReason  # noqa: E402
from tests.conftest import make_app, make_place  # noqa: E402

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
#: Short timers (the real defaults are in survey/config.py), idle the longest as in production. Only the
#: first test waits in real time; the others stop the page's clock and move it on (``freeze_clock``).
IDLE, WARNING, THANKS, CONFIRM = 6, 3, 3, 4
KIOSK = {"viewport": {"width": 1280, "height": 800}, "has_touch": True, "locale": "vi-VN"}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2, "locale": "vi-VN"}
WORDS_VI = ["Rất không hài lòng", "Không hài lòng", "Bình thường", "Hài lòng", "Rất hài lòng"]
MIN_TARGET = 48
CLOCK_START = datetime(2026, 3, 2, 8, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))  # a Monday morning


# ---------------------------------------------------------------- a live server and a browser


@dataclass
class LiveServer:
    app: object
    url: str

    def query(self, fn):
        with self.app.app_context():
            try:
                return fn()
            finally:
                db.session.remove()


@contextmanager
def serving(app):
    """``app`` served on a free port of 127.0.0.1 in a thread, as a :class:`LiveServer`, until the end."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="module")
def live(tmp_path_factory, migrated_sqlite):
    path = tmp_path_factory.mktemp("browser") / "live.sqlite"
    shutil.copy(migrated_sqlite, path)
    app = make_app(
        f"sqlite:///{path}",
        KIOSK_IDLE_SECONDS=IDLE, KIOSK_WARNING_SECONDS=WARNING, KIOSK_THANKS_SECONDS=THANKS,
        KIOSK_CONFIRM_SECONDS=CONFIRM,
        KIOSK_MIN_INTERVAL_SECONDS=0,
    )
    with serving(app) as live_server:
        yield live_server


@dataclass
class Spot:
    """A fresh office with a counter and a kiosk, so tests do not see each other's ratings."""

    kiosk_url: str
    phone_url: str
    office_id: int


@pytest.fixture
def spot(live) -> Spot:
    def create():
        place = make_place()
        return Spot(live.url + place.kiosk_url, live.url + place.phone_url, place.office_id)

    return live.query(create)


def stored_ratings(live: LiveServer, spot: Spot) -> list[dict]:
    def load():
        ratings = db.session.scalars(select(Rating).where(Rating.office_id == spot.office_id)).all()
        return [
            {"overall": r.overall_value, "answers": r.answer_map(), "comment": r.comment, "locale": r.locale,
             "overall_id": r.questionnaire.overall_question.id,
             "follow_up_ids": [q.id for q in r.questionnaire.follow_up_questions]}
            for r in ratings
        ]

    return live.query(load)


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
def open_page(browser):
    """Open a page in a new context; fails the test on any console error or uncaught page error."""
    contexts, problems = [], []

    def open_(**options):
        context = browser.new_context(**options)
        context.set_default_timeout(5000)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda msg: msg.type == "error" and problems.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
        return page

    yield open_
    for context in contexts:
        context.close()
    assert problems == []


def freeze_clock(page) -> None:
    """Stop the page's clock: timers move only when the test calls ``page.clock.fast_forward``."""
    page.clock.install(time=CLOCK_START)
    page.clock.pause_at(CLOCK_START + timedelta(seconds=1))


def screenshot(page, name: str, *, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


# ---------------------------------------------------------------- small helpers

START = re.compile(r"/kiosk/[^/?]+(\?.*)?$")
CONFIRM_PAGE = re.compile(r"/(kiosk/[^/]+/r|r/[^/]+/f)/[A-Za-z0-9_-]+(\?.*)?$")
STEP = re.compile(r"/(kiosk/[^/]+/r|r/[^/]+/f)/[A-Za-z0-9_-]+/\d+(\?.*)?$")
THANKS_PAGE = re.compile(r"/thanks(\?.*)?$")


def face(page, word: str):
    return page.get_by_role("button", name=word, exact=True)


def idempotency_key(page) -> str:
    return page.locator("input[name=idempotency_key]").input_value()


def html_lang(page) -> str:
    return page.locator("html").get_attribute("lang")


def skip_button(page):
    return page.locator("button[name=skip]")


def choice(page, value: int):
    """An answer on the follow-up step shown (one question per screen): ``value`` is the scale value."""
    return page.locator(f".choice-button[value='{value}']")


REASONS_PAGE = re.compile(r"/reasons(\?.*)?$")


def tell_more(page) -> None:
    """From the confirmation to the first follow-up question (after a negative face: to "what went wrong")."""
    page.locator(".confirm a.button.primary").tap()
    page.wait_for_url(lambda url: bool(STEP.search(url) or REASONS_PAGE.search(url)))


def next_step(page, action) -> None:
    """Tap something that posts the step and wait for the next page."""
    with page.expect_navigation():
        action()


def boxes(page, selector: str) -> list[dict]:
    return [page.locator(selector).nth(i).bounding_box() for i in range(page.locator(selector).count())]


def assert_no_horizontal_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


SMALL_TARGETS = """
(minimum) => [...document.querySelectorAll("button, a, label.choice, select, textarea")]
  .map((el) => [el.outerHTML.slice(0, 80), el.getBoundingClientRect()])
  .filter(([, box]) => box.width > 0 && (box.width < minimum || box.height < minimum))
  .map(([html, box]) => `${html}: ${box.width}x${box.height}`)
"""


def assert_touch_targets(page) -> None:
    """Every visible button, link and answer is at least 48 x 48 CSS pixels (WCAG 2.5.5, Android, iOS)."""
    assert page.evaluate(SMALL_TARGETS, MIN_TARGET) == []


# ---------------------------------------------------------------- 1. the kiosk path


def test_kiosk_tap_follow_up_thanks_and_back_to_start(live, spot, open_page):
    page = open_page(**KIOSK)
    page.goto(spot.kiosk_url)
    assert html_lang(page) == "vi"
    faces = page.locator(".face-button")
    expect(faces).to_have_count(5)
    assert [faces.nth(i).inner_text().strip() for i in range(5)] == WORDS_VI
    for i in range(5):
        expect(faces.nth(i).locator(".face-label")).to_be_visible()
        expect(faces.nth(i)).to_be_in_viewport()
    first_key = idempotency_key(page)
    screenshot(page, "kiosk-1-start")

    assert face(page, "Hài lòng").get_attribute("value") == "4"
    face(page, "Hài lòng").tap()
    page.wait_for_url(CONFIRM_PAGE)
    expect(page.locator(".chosen-word")).to_have_text("Hài lòng")
    expect(page.locator(".confirm h1")).to_be_focused()
    expect(page.locator(".confirm-countdown")).to_be_visible()
    screenshot(page, "kiosk-2-confirm")
    tell_more(page)
    expect(page.locator(".progress")).to_have_text("Câu hỏi 1 / 6")
    expect(page.locator("h1")).to_be_focused()
    expect(page.locator(".choice-button")).to_have_count(5)
    screenshot(page, "kiosk-3-step")
    next_step(page, lambda: choice(page, 5).tap())
    for number in range(2, 6):  # the other questions: skipped
        expect(page.locator(".progress")).to_have_text(f"Câu hỏi {number} / 6")
        next_step(page, lambda: skip_button(page).tap())
    page.locator("textarea[name=comment]").fill("Cán bộ rất nhiệt tình")
    screenshot(page, "kiosk-4-last-step")

    page.locator("#finish").tap()
    page.wait_for_url(THANKS_PAGE)
    expect(page.locator("h1")).to_contain_text("Cảm ơn")
    expect(page.locator(".thanks-countdown")).to_be_visible()
    assert 0 <= int(page.locator(".thanks-count").inner_text()) <= THANKS
    screenshot(page, "kiosk-5-thanks")

    page.wait_for_url(START, timeout=(THANKS + 3) * 1000)
    expect(page.locator(".face-button")).to_have_count(5)
    assert html_lang(page) == "vi"
    assert idempotency_key(page) != first_key

    [rating] = stored_ratings(live, spot)
    first_follow_up = rating["follow_up_ids"][0]
    assert rating["overall"] == 4
    assert rating["answers"] == {rating["overall_id"]: 4, first_follow_up: 5}
    assert rating["comment"] == "Cán bộ rất nhiệt tình"


def rate_and_skip(page, spot: Spot, word: str = "Bình thường") -> None:
    """A tap, "Tell us more", then "Finish" on the first question: the thank-you screen."""
    page.goto(spot.kiosk_url)
    face(page, word).tap()
    page.wait_for_url(CONFIRM_PAGE)
    tell_more(page)
    page.locator("#finish").tap()
    page.wait_for_url(THANKS_PAGE)


# ---------------------------------------------------------------- 2. keep the thank-you screen


def test_keep_this_screen_stops_the_countdown(live, spot, open_page):
    page = open_page(**KIOSK)
    freeze_clock(page)
    rate_and_skip(page, spot)
    count = page.locator(".thanks-count")
    expect(count).to_have_text(str(THANKS))
    page.clock.fast_forward(1000)
    expect(count).to_have_text(str(THANKS - 1))
    page.locator("#keep-screen").tap()
    expect(page.locator(".thanks-countdown")).to_be_hidden()
    expect(page.locator("#keep-screen")).to_be_hidden()
    expect(page.locator("#start-again")).to_be_focused()
    page.clock.fast_forward(THANKS * 1000)  # past the end of the stopped countdown
    page.wait_for_timeout(300)
    assert THANKS_PAGE.search(page.url)
    page.locator("#start-again").tap()
    page.wait_for_url(START)
    expect(page.locator(".face-button")).to_have_count(5)

    # A kept screen that is then left alone asks first, then returns to the start.
    rate_and_skip(page, spot)
    page.locator("#keep-screen").tap()
    page.clock.fast_forward(IDLE * 1000)
    expect(page.locator("#timeout-dialog")).to_be_visible()
    page.clock.fast_forward(WARNING * 1000)
    page.wait_for_url(START)
    assert len(stored_ratings(live, spot)) == 2


# ---------------------------------------------------------------- 3. idle on the follow-up questions


def test_idle_follow_up_warns_then_closes_with_what_was_answered(live, spot, open_page):
    page = open_page(**KIOSK)
    freeze_clock(page)
    page.goto(spot.kiosk_url)
    face(page, "Bình thường").tap()
    page.wait_for_url(CONFIRM_PAGE)
    tell_more(page)
    step_url = page.url
    dialog, count = page.locator("#timeout-dialog"), page.locator(".timeout-count")
    page.clock.fast_forward(IDLE * 1000 - 200)
    expect(dialog).to_be_hidden()

    page.clock.fast_forward(200)
    expect(dialog).to_be_visible()
    expect(count).to_have_text(str(WARNING))
    expect(page.locator("#timeout-extend")).to_be_focused()
    screenshot(page, "kiosk-6-dialog")
    page.clock.fast_forward(1000)
    expect(count).to_have_text(str(WARNING - 1))
    page.locator("#timeout-extend").tap()
    expect(dialog).to_be_hidden()

    page.clock.fast_forward(WARNING * 1000)  # the stopped countdown would have fired by now
    assert page.url == step_url
    expect(dialog).to_be_hidden()
    next_step(page, lambda: choice(page, 2).tap())  # stored at once; the second question follows
    page.clock.fast_forward(IDLE * 1000)  # idle on the second question: asked, counting afresh
    expect(dialog).to_be_visible()
    expect(count).to_have_text(str(WARNING))
    page.clock.fast_forward(WARNING * 1000)
    page.wait_for_url(THANKS_PAGE)
    [rating] = stored_ratings(live, spot)
    assert rating["answers"] == {rating["overall_id"]: 3, rating["follow_up_ids"][0]: 2}
    assert live.query(lambda: db.session.scalar(select(Rating.completed_at).where(
        Rating.office_id == spot.office_id))) is not None


def test_timeout_warning_works_without_dialog_support(live, spot, open_page):
    # Older tablet browsers have no <dialog>: the warning must still show, and hide again.
    page = open_page(**KIOSK)
    freeze_clock(page)
    page.add_init_script("delete HTMLDialogElement.prototype.showModal; delete HTMLDialogElement.prototype.close;")
    page.goto(spot.kiosk_url)
    face(page, "Hài lòng").tap()
    page.wait_for_url(CONFIRM_PAGE)
    tell_more(page)
    dialog = page.locator("#timeout-dialog")
    page.clock.fast_forward(IDLE * 1000)
    expect(dialog).to_be_visible()
    expect(dialog).to_have_class(re.compile("is-fallback"))
    expect(dialog).to_be_in_viewport(ratio=1)
    page.locator("#timeout-extend").tap()
    expect(dialog).to_be_hidden()


# ---------------------------------------------------------------- 4. double taps


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_double_tap_stores_one_rating(live, spot, open_page, javascript):
    page = open_page(**KIOSK, java_script_enabled=javascript)
    posts = []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
    page.goto(spot.kiosk_url)
    face(page, "Rất hài lòng").dblclick()
    page.wait_for_url(CONFIRM_PAGE)
    citizens = 1
    if javascript:  # a burst of taps within one moment, on a fresh start page (a new citizen)
        page.goto(spot.kiosk_url)
        page.locator(".face-button[value='5']").evaluate("b => { b.click(); b.click(); b.click(); }")
        page.wait_for_url(CONFIRM_PAGE)
        citizens = 2
        assert len(posts) == citizens  # the script sent each page's rating once...
    ratings = stored_ratings(live, spot)
    assert [r["overall"] for r in ratings] == [5] * citizens  # ...and without it the server kept one


# ---------------------------------------------------------------- 5. one-tap language switch


def test_language_switch_is_one_tap_and_resets_for_the_next_person(live, spot, open_page):
    page = open_page(**KIOSK)
    freeze_clock(page)
    page.goto(spot.kiosk_url)
    assert html_lang(page) == "vi"
    page.get_by_role("link", name="English").tap()
    page.wait_for_url(re.compile(r"lang=en"))
    assert html_lang(page) == "en"
    expect(page.locator("h1")).to_have_text("How satisfied are you with the service you just received?")
    expect(page.get_by_role("link", name="Tiếng Việt")).to_be_visible()

    face(page, "Satisfied").tap()
    page.wait_for_url(CONFIRM_PAGE)
    assert html_lang(page) == "en"
    expect(page.locator(".chosen-word")).to_have_text("Satisfied")

    page.clock.fast_forward(CONFIRM * 1000)  # nobody touches it: closed, and ready for the next person
    page.wait_for_url(START)
    assert html_lang(page) == "vi"
    expect(page.locator("h1")).to_have_text("Ông/Bà hài lòng như thế nào với dịch vụ vừa nhận được?")
    [rating] = stored_ratings(live, spot)
    assert rating["locale"] == "en" and rating["overall"] == 4

    # The kiosk's own language waits quietly for the next person...
    start_url = page.url
    page.clock.fast_forward((IDLE + WARNING) * 1000)
    expect(page.locator("#timeout-dialog")).to_be_hidden()
    assert page.url == start_url
    # ...but someone who switches to English and walks away leaves it in Vietnamese after the warning.
    page.get_by_role("link", name="English").tap()
    page.wait_for_url(re.compile(r"lang=en"))
    page.clock.fast_forward(IDLE * 1000)
    expect(page.locator("#timeout-dialog")).to_be_visible()
    page.clock.fast_forward(WARNING * 1000)
    page.wait_for_url(re.compile(r"\?reset=1$"))
    assert html_lang(page) == "vi"
    assert len(stored_ratings(live, spot)) == 1


# ---------------------------------------------------------------- 6. without JavaScript


def test_whole_path_works_without_javascript(live, spot, open_page):
    page = open_page(**KIOSK, java_script_enabled=False)
    page.goto(spot.kiosk_url)
    face(page, "Rất hài lòng").click()
    page.wait_for_url(CONFIRM_PAGE)
    expect(page.locator("#timeout-dialog")).to_be_hidden()
    expect(page.locator(".confirm-countdown")).to_be_hidden()  # nothing counts down without the script
    expect(page.locator(".chosen-word")).to_have_text("Rất hài lòng")
    page.locator(".confirm a.button.primary").click()
    page.wait_for_url(STEP)
    for _ in range(2):
        next_step(page, lambda: skip_button(page).click())
    next_step(page, lambda: choice(page, 4).click())
    page.locator("#finish").click()
    page.wait_for_url(THANKS_PAGE)
    expect(page.locator("h1")).to_contain_text("Cảm ơn")
    # Without the script nothing counts down, so neither the countdown nor its stop button shows.
    expect(page.locator(".thanks-countdown")).to_be_hidden()
    expect(page.locator("#keep-screen")).to_be_hidden()
    page.locator("#start-again").click()
    page.wait_for_url(START)
    expect(page.locator(".face-button")).to_have_count(5)
    [rating] = stored_ratings(live, spot)
    assert rating["answers"] == {rating["overall_id"]: 5, rating["follow_up_ids"][2]: 4}


# ---------------------------------------------------------------- 7. phone


def test_phone_faces_are_stacked_large_and_fit_the_screen(live, spot, open_page):
    page = open_page(**PHONE)
    page.goto(spot.phone_url)
    assert html_lang(page) == "vi"
    faces = boxes(page, ".face-button")
    assert len(faces) == 5
    for above, below in zip(faces, faces[1:]):
        assert below["y"] >= above["y"] + above["height"] - 1  # one under the other
        assert below["x"] == above["x"]
    for box in faces:
        assert box["height"] >= MIN_TARGET
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert_no_horizontal_scroll(page)
    screenshot(page, "phone-1-start", full_page=True)

    face(page, "Hài lòng").tap()
    page.wait_for_url(CONFIRM_PAGE)
    assert_no_horizontal_scroll(page)
    assert_touch_targets(page)
    screenshot(page, "phone-2-confirm")
    tell_more(page)
    assert_no_horizontal_scroll(page)
    assert_touch_targets(page)
    screenshot(page, "phone-3-step")
    next_step(page, lambda: choice(page, 2).tap())
    page.locator("#finish").tap()
    page.wait_for_url(re.compile(r"/r/[^/]+/thanks\?answer=4$"))
    expect(page.locator("h1")).to_contain_text("Cảm ơn")
    assert_no_horizontal_scroll(page)
    assert_touch_targets(page)
    screenshot(page, "phone-4-thanks")
    [rating] = stored_ratings(live, spot)
    assert rating["overall"] == 4 and rating["answers"][rating["follow_up_ids"][0]] == 2


# ---------------------------------------------------------------- 8. accessibility basics

CONTRAST = """
(selector) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  return [...document.querySelectorAll(selector)].filter((el) => el.offsetParent).map((el) => {
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
    return [el.textContent.trim().slice(0, 30), (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
  });
}
"""
TEXT = "h1, h2, legend, label, p, .face-label, .button, .language-link, .place span"


def assert_text_contrast(page) -> None:
    low = [(text, round(ratio, 2)) for text, ratio in page.evaluate(CONTRAST, TEXT) if ratio < 4.5]
    assert low == []


def outline_of(locator) -> float:
    """Width in CSS pixels of the element's visible outline (0 when there is none)."""
    return locator.evaluate(
        "e => { const s = getComputedStyle(e); return s.outlineStyle === 'none' ? 0 : parseFloat(s.outlineWidth); }"
    )


@pytest.mark.parametrize("device", ["kiosk", "phone"])
def test_accessibility_basics(live, spot, open_page, device):
    page = open_page(**(KIOSK if device == "kiosk" else PHONE))
    page.goto(spot.kiosk_url if device == "kiosk" else spot.phone_url)
    faces = page.locator(".face-button")
    for i, word in enumerate(WORDS_VI):
        expect(faces.nth(i)).to_have_accessible_name(re.compile(re.escape(word)))
        assert faces.nth(i).get_attribute("value") == str(i + 1)
    expect(page.locator(".faces")).to_have_accessible_name(re.compile("hài lòng"))
    assert_touch_targets(page)
    assert_text_contrast(page)

    # Keyboard focus is clearly visible (a thick outline), on the faces and on the answers.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('face-button')"):
            break
    expect(faces.first).to_be_focused()
    assert outline_of(faces.first) >= 3

    faces.nth(2).tap()
    page.wait_for_url(CONFIRM_PAGE)
    assert_touch_targets(page)
    assert_text_contrast(page)
    tell_more(page)
    assert_touch_targets(page)
    assert_text_contrast(page)
    answers = page.locator(".step-choices")
    expect(answers.get_by_role("button", name="Rất hài lòng")).to_have_count(1)
    expect(answers).to_have_accessible_name(re.compile("."))
    page.keyboard.press("Tab")  # from the focused heading to the first answer
    expect(choice(page, 1)).to_be_focused()
    page.keyboard.press("Tab")
    expect(choice(page, 2)).to_be_focused()
    assert outline_of(choice(page, 2)) >= 3



# ---------------------------------------------------------------- bugs found in the browser, fixed


def test_kiosk_speaks_vietnamese_whatever_the_tablet_language(live, spot, open_page):
    page = open_page(**{**KIOSK, "locale": "en-US"})
    page.goto(spot.kiosk_url + "?reset=1")
    assert html_lang(page) == "vi"


def test_follow_up_can_be_sent_where_the_office_lists_no_procedures(live, open_page):
    def create():
        place = make_place()
        for procedure in db.session.scalars(select(Procedure).where(Procedure.id.in_(place.procedure_ids))):
            procedure.offices.clear()
        db.session.commit()
        return Spot(live.url + place.kiosk_url, live.url + place.phone_url, place.office_id)

    spot = live.query(create)
    page = open_page(**KIOSK)
    page.goto(spot.kiosk_url)
    face(page, "Hài lòng").tap()
    page.wait_for_url(CONFIRM_PAGE)
    tell_more(page)
    next_step(page, lambda: choice(page, 5).tap())
    for _ in range(4):
        next_step(page, lambda: skip_button(page).tap())
    expect(page.locator("select[name=procedure_id]")).to_have_count(0)
    page.locator("textarea[name=comment]").fill("Nhanh")
    with page.expect_navigation():
        page.locator("#finish").tap()
    assert THANKS_PAGE.search(page.url), page.locator(".error").all_inner_texts()


def test_next_person_cannot_change_the_previous_answers(live, spot, open_page):
    page = open_page(**KIOSK)
    freeze_clock(page)
    page.goto(spot.kiosk_url)
    face(page, "Hài lòng").tap()
    page.wait_for_url(CONFIRM_PAGE)
    tell_more(page)
    next_step(page, lambda: choice(page, 5).tap())
    page.locator("#finish").tap()
    page.wait_for_url(THANKS_PAGE)
    page.clock.fast_forward(THANKS * 1000)
    page.wait_for_url(START)

    for _ in range(3):  # the next person swipes back towards the previous person's questions
        page.go_back()
        page.wait_for_url(lambda url: not STEP.search(url) and not CONFIRM_PAGE.search(url))
    [rating] = stored_ratings(live, spot)
    assert rating["answers"][rating["follow_up_ids"][0]] == 5


# ---------------------------------------------------------------- the content security policy


RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def test_pages_run_under_the_content_security_policy(live, spot, browser):
    """Every kiosk screen (with its timers and dialog), the phone page, sign-in and an error page work
    under the policy with no violation; and the policy is really enforced (an injected inline script
    is refused)."""
    context = browser.new_context(**KIOSK)
    context.set_default_timeout(5000)
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = context.new_page()
    console = []
    page.on("console", lambda msg: msg.type == "error" and console.append(msg.text))
    freeze_clock(page)
    try:
        response = page.goto(spot.kiosk_url)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        face(page, "Hài lòng").tap()
        page.wait_for_url(CONFIRM_PAGE)
        expect(page.locator(".confirm-countdown")).to_be_visible()  # shown by kiosk.js
        tell_more(page)
        page.clock.fast_forward(IDLE * 1000)  # kiosk.js opens the "more time?" dialog
        expect(page.locator("#timeout-dialog")).to_be_visible()
        page.locator("#timeout-extend").tap()
        page.locator("#finish").tap()
        page.wait_for_url(THANKS_PAGE)
        expect(page.locator(".thanks-countdown")).to_be_visible()  # shown by kiosk.js
        visited = [page.url]
        for url in (spot.phone_url, live.url + "/manager/sign-in", live.url + "/kiosk/not-a-kiosk"):
            page.goto(url)
            assert page.evaluate("window.__cspViolations") == [], url
            visited.append(url)
        assert [m for m in console if "Content Security Policy" in m] == []
        expect(page.locator("a.button.primary")).to_have_attribute("href", "/")  # the error page's next step

        # The control: an inline script added to the page is blocked and reported.
        page.evaluate("""() => { const s = document.createElement("script");
                                  s.textContent = "window.__ran = true"; document.body.appendChild(s); }""")
        page.wait_for_function("window.__cspViolations.length > 0")
        assert page.evaluate("window.__ran === undefined")
        assert page.evaluate("window.__cspViolations")[0].startswith("script-src")
    finally:
        context.close()


# ---------------------------------------------------------------- the database away for a moment


def test_kiosk_queues_a_tap_during_a_database_outage_and_sends_it_once(live, spot, browser):
    """The tap reaches the server while its database is away (503): the kiosk keeps the tap, with its
    key, in its queue and shows the start screen at once; when the server answers again the queue is
    sent by itself and the rating is stored once. (Without the script the 503 page sends it again.)"""
    from tests.faults import database_away

    context = browser.new_context(**KIOSK)
    context.set_default_timeout(5000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    freeze_clock(page)
    queued = "JSON.parse(localStorage.getItem(Object.keys(localStorage)[0]) || '[]')"
    try:
        page.goto(spot.kiosk_url)
        key = idempotency_key(page)
        with database_away(live.app):
            face(page, "Hài lòng").tap()
            expect(page.locator("[data-queued-note]")).to_be_visible()
        assert START.search(page.url) and page.locator(".face-button").count() == 5
        [tap] = page.evaluate(queued)
        assert tap.split(".")[:2] == [key, "4"]
        assert idempotency_key(page) != key  # the next person's tap is a new rating
        screenshot(page, "kiosk-503-queued")
        assert stored_ratings(live, spot) == []
        page.clock.fast_forward(20_000)  # the next attempt to send the queue
        for _ in range(50):
            if stored_ratings(live, spot) and page.evaluate(queued) == []:
                break
            page.wait_for_timeout(100)
        assert page.evaluate(queued) == [] and errors == []
    finally:
        context.close()
    [rating] = stored_ratings(live, spot)
    assert rating["overall"] == 4


# ---------------------------------------------------------------- one tap, one citizen (#9)


def test_two_citizens_one_after_the_other_give_two_ratings(live, spot, open_page):
    """A taps "Rất hài lòng" and walks away; B comes 20 s later and answers everything "Rất không hài
    lòng" with a comment. Two ratings, each with its own citizen's answers."""
    page = open_page(**KIOSK)
    freeze_clock(page)
    page.goto(spot.kiosk_url)
    face(page, "Rất hài lòng").tap()  # A
    page.wait_for_url(CONFIRM_PAGE)
    a_confirm = page.url
    page.clock.fast_forward(20_000)  # A has gone; the screen closed A's rating by itself
    page.wait_for_url(START)
    expect(page.locator(".face-button")).to_have_count(5)

    face(page, "Rất không hài lòng").tap()  # B
    page.wait_for_url(CONFIRM_PAGE)
    assert page.url != a_confirm
    expect(page.locator(".chosen-word")).to_have_text("Rất không hài lòng")
    tell_more(page)
    assert REASONS_PAGE.search(page.url)  # after a sad face: what went wrong, one tap each
    page.get_by_text("Phải chờ quá lâu").tap()
    expect(page.locator("#reason-long_wait")).to_be_checked()
    screenshot(page, "kiosk-reasons")
    next_step(page, lambda: page.get_by_role("button", name="Tiếp theo").tap())
    for _ in range(5):
        next_step(page, lambda: choice(page, 1).tap())
    page.locator("textarea[name=comment]").fill("Phải chờ quá lâu")
    page.locator("#finish").tap()
    page.wait_for_url(THANKS_PAGE)
    expect(page.locator("h1")).to_have_text("Cảm ơn Ông/Bà đã cho chúng tôi biết.")  # not a grin
    screenshot(page, "kiosk-two-citizens-thanks-negative")

    ratings = sorted(stored_ratings(live, spot), key=lambda r: -r["overall"])
    assert len(ratings) == 2
    a, b = ratings
    assert a["overall"] == 5 and a["answers"] == {a["overall_id"]: 5} and a["comment"] is None
    assert b["overall"] == 1 and b["comment"] == "Phải chờ quá lâu"
    assert b["answers"] == {b["overall_id"]: 1, **{q: 1 for q in b["follow_up_ids"]}}
    assert live.query(lambda: sorted(db.session.execute(select(RatingReason.rating_id, RatingReason.reason)).all())) \
        == [(live.query(lambda: db.session.scalar(select(Rating.id).where(
            Rating.office_id == spot.office_id, Rating.overall_value == 1))), "long_wait")]


def test_change_my_answer_keeps_one_rating(live, spot, open_page):
    page = open_page(**KIOSK)
    freeze_clock(page)
    page.goto(spot.kiosk_url)
    face(page, "Không hài lòng").tap()  # a mis-tap
    page.wait_for_url(CONFIRM_PAGE)
    page.get_by_role("link", name="Đổi câu trả lời").tap()
    page.wait_for_url(re.compile(r"/change$"))
    expect(page.locator(".face-button[aria-pressed=true]")).to_have_text(re.compile("Không hài lòng"))
    expect(page.locator(".face-button")).to_have_count(5)
    screenshot(page, "kiosk-change")
    face(page, "Rất hài lòng").tap()
    page.wait_for_url(CONFIRM_PAGE)
    expect(page.locator(".chosen-word")).to_have_text("Rất hài lòng")
    [rating] = stored_ratings(live, spot)
    assert rating["overall"] == 5 and rating["answers"] == {rating["overall_id"]: 5}


AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"


def axe_violations(page) -> list[str]:
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['impact']}: {v['id']} — {v['help']} — {[n['target'] for n in v['nodes'][:3]]}"
            for v in result["violations"]]


@pytest.mark.parametrize("device", ["kiosk", "phone"])
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_citizen_screen_has_no_accessibility_violation(live, spot, open_page, lang, device):
    # The audit context bypasses CSP only to load axe-core; the pages are the ones served.
    page = open_page(**(KIOSK if device == "kiosk" else PHONE), bypass_csp=True)
    # axe-core needs the page's timers running: lengthen the screens' timers instead of stopping the clock.
    slow = {"KIOSK_CONFIRM_SECONDS": 600, "KIOSK_THANKS_SECONDS": 600, "KIOSK_IDLE_SECONDS": 600}
    saved = {name: live.app.config[name] for name in slow}
    live.app.config.update(slow)
    try:
        audit_citizen_screens(page, spot, lang, device)
    finally:
        live.app.config.update(saved)


@pytest.mark.parametrize("device", ["kiosk", "phone"])
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_high_contrast_and_large_text_screens_have_no_accessibility_violation(live, spot, open_page, lang, device):
    page = open_page(**(KIOSK if device == "kiosk" else PHONE), bypass_csp=True)
    page.context.add_cookies([{"name": "display", "value": "large-text.high-contrast", "url": live.url}])
    slow = {"KIOSK_CONFIRM_SECONDS": 600, "KIOSK_THANKS_SECONDS": 600, "KIOSK_IDLE_SECONDS": 600}
    saved = {name: live.app.config[name] for name in slow}
    live.app.config.update(slow)
    try:
        page.goto(f"{spot.kiosk_url if device == 'kiosk' else spot.phone_url}?lang={lang}")
        expect(page.locator("html")).to_have_class("large-text high-contrast")
        screenshot(page, f"{device}-start-{lang}-high-contrast")
        audit_citizen_screens(page, spot, lang, device, tag="-high-contrast")
    finally:
        live.app.config.update(saved)


def audit_citizen_screens(page, spot: Spot, lang: str, device: str, tag: str = "") -> None:
    found = {}
    page.goto(f"{spot.kiosk_url if device == 'kiosk' else spot.phone_url}?lang={lang}")
    found["start"] = axe_violations(page)
    page.locator(".face-button[value='2']").tap()
    page.wait_for_url(CONFIRM_PAGE)
    found["confirm"] = axe_violations(page)
    page.locator(".confirm a.button.secondary").tap()
    page.wait_for_url(re.compile(r"/change$"))
    found["change"] = axe_violations(page)
    page.locator(".face-button[value='1']").tap()
    page.wait_for_url(CONFIRM_PAGE)
    tell_more(page)
    found["reasons"] = axe_violations(page)
    screenshot(page, f"{device}-reasons-{lang}{tag}", full_page=True)
    page.locator(".reason").first.tap()
    next_step(page, lambda: page.locator("button[name=next]").tap())
    found["step 1"] = axe_violations(page)
    for number in range(2, 7):  # every follow-up step, the comment step last
        next_step(page, lambda: skip_button(page).tap())
        found[f"step {number}"] = axe_violations(page)
    page.locator("#finish").tap()
    page.wait_for_url(THANKS_PAGE)
    found["thanks"] = axe_violations(page)
    screenshot(page, f"{device}-thanks-negative-{lang}{tag}")
    assert {name: problems for name, problems in found.items() if problems} == {}


# ---------------------------------------------------------------- every face on every screen (#9)

#: name → (viewport width, height, layout). "1280x800@200%" is a 1280 × 800 tablet zoomed to 200 %.
SCREENS = {
    "600x960": (600, 960, "kiosk"), "800x1280": (800, 1280, "kiosk"), "1280x800": (1280, 800, "kiosk"),
    "1280x800@200%": (640, 400, "kiosk"), "360x740": (360, 740, "phone"), "320x640": (320, 640, "phone"),
}


def overlap(a: dict, b: dict) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


@pytest.fixture(scope="module")
def start_screens(live) -> Spot:
    """One place for the 36 layout cases, which only look (a place each would risk two random office
    codes colliding)."""
    def create():
        place = make_place()
        return Spot(live.url + place.kiosk_url, live.url + place.phone_url, place.office_id)

    return live.query(create)


def assert_faces_in_view(page, width: int, height: int) -> None:
    """All five faces fully inside the viewport, in order, readable, not overlapping the question."""
    found = boxes(page, ".face-button")
    outside = [(i + 1, box) for i, box in enumerate(found)
               if box["x"] < 0 or box["y"] < 0 or box["x"] + box["width"] > width + 0.5
               or box["y"] + box["height"] > height + 0.5]
    assert outside == [], f"faces not fully on screen at {width}x{height}"
    assert all(box["width"] >= MIN_TARGET and box["height"] >= MIN_TARGET for box in found), found
    # The order never changes: left to right in a row, top to bottom in a column.
    row = found[1]["x"] > found[0]["x"]
    key = (lambda box: box["x"]) if row else (lambda box: box["y"])
    assert [key(box) for box in found] == sorted(key(box) for box in found)
    assert row == (width > height)
    question = page.locator(".rate-form h1").bounding_box()
    assert not any(overlap(question, box) for box in found), (question, found)  # the question stays readable
    assert not any(overlap(a, b) for a, b in zip(found, found[1:])), found
    labels = boxes(page, ".face-button .face-label")
    assert all(overlap(label, box) and label["y"] + label["height"] <= box["y"] + box["height"] + 0.5
               for label, box in zip(labels, found)), (labels, found)  # each word inside its face
    # The header's text never runs under the language button, which stays on screen.
    place, language = page.locator(".rating-header .place").bounding_box(), page.locator(".language-link").bounding_box()
    assert not overlap(place, language), (place, language)
    assert language["x"] + language["width"] <= width + 0.5 and language["y"] >= 0
    assert_no_horizontal_scroll(page)


@pytest.mark.parametrize("text", [100, 150, 200], ids=lambda t: f"text{t}")
@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("screen", list(SCREENS))
def test_all_five_faces_are_inside_the_viewport(live, start_screens, open_page, screen, lang, text):
    spot = start_screens
    width, height, layout = SCREENS[screen]
    page = open_page(viewport={"width": width, "height": height}, has_touch=True, is_mobile=layout == "phone",
                     locale="vi-VN")
    page.goto(f"{spot.kiosk_url if layout == 'kiosk' else spot.phone_url}?lang={lang}")
    # Larger text as the browser's text-size setting gives it: a larger root font size (every size is in rem).
    page.evaluate("(percent) => { document.documentElement.style.fontSize = percent + '%'; }", text)
    faces = page.locator(".face-button")
    expect(faces).to_have_count(5)
    assert [faces.nth(i).get_attribute("value") for i in range(5)] == ["1", "2", "3", "4", "5"]
    if lang == "vi":
        assert [faces.nth(i).inner_text().strip() for i in range(5)] == WORDS_VI
    assert_faces_in_view(page, width, height)
    screenshot(page, f"faces-{screen.replace('@', '-zoom').replace('%', '')}-{lang}-text{text}")


def test_keyboard_alone_rates_and_answers(live, spot, open_page):
    """No touch, no mouse: Tab and Enter through the start, the confirmation, a question and the end."""
    page = open_page(**KIOSK)
    freeze_clock(page)
    page.goto(spot.kiosk_url)

    def press_tab_until(selector: str, limit: int = 15) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate("(s) => document.activeElement.matches(s)", selector):
                return
        raise AssertionError(f"Tab never reached {selector}")

    press_tab_until(".face-button[value='4']")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert CONFIRM_PAGE.search(page.url)
    expect(page.locator(".confirm h1")).to_be_focused()
    press_tab_until(".confirm a.button.primary")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert STEP.search(page.url)
    expect(page.locator("h1")).to_be_focused()
    press_tab_until(".choice-button[value='5']")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    press_tab_until("#finish")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert THANKS_PAGE.search(page.url)
    [rating] = stored_ratings(live, spot)
    assert rating["answers"] == {rating["overall_id"]: 4, rating["follow_up_ids"][0]: 5}


# ---------------------------------------------------------------- no tap lost offline (#9)


def test_twenty_taps_offline_become_exactly_twenty_ratings(live, spot, open_page):
    page = open_page(**KIOSK)
    freeze_clock(page)
    page.goto(spot.kiosk_url)
    # A kiosk has been online before it loses the network: its service worker is in place (going
    # offline while the worker's script is still being fetched is a console error of its own).
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.context.set_offline(True)
    keys = set()
    for i in range(20):
        keys.add(idempotency_key(page))
        page.locator(f".face-button[value='{1 + i % 5}']").tap()
        expect(page.locator("[data-queued-note]")).to_be_visible()  # told at once; the screen stays ready
        page.clock.fast_forward(6_000)  # the next citizen, later than the kiosk's burst interval
    assert START.search(page.url) and len(keys) == 20  # every tap had its own key
    screenshot(page, "kiosk-offline-queued")
    assert stored_ratings(live, spot) == []
    assert page.evaluate("Object.keys(localStorage).length") == 1

    page.context.set_offline(False)  # the network returns: the queue is sent by itself
    for _ in range(50):
        if len(stored_ratings(live, spot)) == 20 and page.evaluate(
                "JSON.parse(localStorage.getItem(Object.keys(localStorage)[0]) || '[]').length") == 0:
            break
        page.wait_for_timeout(100)
    ratings = stored_ratings(live, spot)
    assert sorted(r["overall"] for r in ratings) == sorted(1 + i % 5 for i in range(20))
    page.clock.fast_forward(30_000)  # a later attempt finds nothing left to send: still 20
    page.wait_for_timeout(300)
    assert len(stored_ratings(live, spot)) == 20
    flags = live.query(lambda: list(db.session.scalars(select(Rating.flag).where(Rating.office_id == spot.office_id))))
    assert flags == [None] * 20


#: A few sizes for the display modes: tablet portrait and landscape, zoomed tablet, small phones.
MODE_SCREENS = ["600x960", "1280x800", "1280x800@200%", "360x740", "320x640"]


@pytest.mark.parametrize("text", [100, 200], ids=lambda t: f"text{t}")
@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("modes", [("large-text",), ("high-contrast",), ("large-text", "high-contrast")],
                         ids=lambda m: "+".join(m))
@pytest.mark.parametrize("screen", MODE_SCREENS)
def test_all_five_faces_stay_in_view_in_large_text_and_high_contrast(live, start_screens, open_page, screen, modes,
                                                                     lang, text):
    spot = start_screens
    width, height, layout = SCREENS[screen]
    page = open_page(viewport={"width": width, "height": height}, has_touch=True, is_mobile=layout == "phone",
                     locale="vi-VN")
    with_voices(page, ["vi-VN", "en-US"])  # the widest header: the speaker shows beside the two switches
    if text != 100:  # the browser's own text-size setting (default font size), which the modes multiply
        page.context.new_cdp_session(page).send("Page.setFontSizes", {"fontSizes": {"standard": 16 * text // 100}})
    page.goto(f"{spot.kiosk_url if layout == 'kiosk' else spot.phone_url}?lang={lang}")
    base = page.evaluate("() => parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert base == 16 * text / 100
    for mode in modes:  # one tap each: in place on the kiosk (script), a plain link on the phone
        switch = page.locator(f"[data-display='{mode}']")
        expect(switch).to_have_attribute("aria-pressed", "false")
        switch.tap()
        expect(page.locator(f"[data-display='{mode}']")).to_have_attribute("aria-pressed", "true")
        expect(page.locator("html")).to_have_class(re.compile(rf"\b{mode}\b"))
    page.wait_for_load_state()
    root = page.evaluate("() => parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert root == pytest.approx(base * (1.25 if "large-text" in modes else 1)), (base, root)
    if "high-contrast" in modes:
        assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") == "rgb(0, 0, 0)"
    shot = f"faces-{screen.replace('@', '-zoom').replace('%', '')}-{lang}-text{text}-{'+'.join(modes)}"
    screenshot(page, shot)
    assert_faces_in_view(page, width, height)
    expect(page.locator("[data-speak]")).to_be_visible()
    switches = boxes(page, ".display-link")
    assert len(switches) == 3
    assert all(0 <= box["x"] and box["x"] + box["width"] <= width + 0.5 and box["y"] >= 0 for box in switches)
    assert all(box["width"] >= MIN_TARGET and box["height"] >= MIN_TARGET for box in switches), switches
    # Remembered on the device: the next page (the kiosk's next citizen, the phone's next visit) opens in it.
    page.goto(f"{spot.kiosk_url if layout == 'kiosk' else spot.phone_url}?lang={lang}")
    for mode in modes:
        expect(page.locator("html")).to_have_class(re.compile(rf"\b{mode}\b"))
        expect(page.locator(f"[data-display='{mode}']")).to_have_attribute("aria-pressed", "true")
    if layout == "kiosk":
        assert set(page.evaluate("() => localStorage.getItem('survey-display')").split(".")) == set(modes)
    screenshot(page, f"{shot}-again")
    assert_faces_in_view(page, width, height)


# ---------------------------------------------------------------- read-aloud (#9)

#: A device with the given voices: getVoices answers them, and each speak() is recorded (text, language).
SPEECH_STUB = """
(langs) => {
  const synth = window.speechSynthesis;
  window.__spoken = [];
  synth.getVoices = () => langs.map((lang) => ({lang, name: 'Test ' + lang, voiceURI: 'test-' + lang,
                                                localService: true, default: false}));
  synth.speak = (utterance) => { window.__spoken.push([utterance.text, utterance.lang]); };
  synth.cancel = () => { window.__spoken.push(['(cancel)', '']); };
}
"""


def with_voices(page, langs: list[str]) -> None:
    page.add_init_script(f"({SPEECH_STUB})({langs!r})")


def spoken(page) -> list[list[str]]:
    return [entry for entry in page.evaluate("() => window.__spoken") if entry[0] != "(cancel)"]


@pytest.mark.parametrize("device", ["kiosk", "phone"])
def test_speaker_is_hidden_without_a_voice_for_the_language(live, spot, open_page, device):
    url = spot.kiosk_url if device == "kiosk" else spot.phone_url
    page = open_page(**(KIOSK if device == "kiosk" else PHONE))
    page.goto(url)  # this chromium as it is: no voice for Vietnamese (checked, so the test means something)
    page.wait_for_load_state("load")
    has_vi = page.evaluate("() => speechSynthesis.getVoices().some((v) => v.lang.toLowerCase().startsWith('vi'))")
    expect(page.locator("[data-speak]")).to_be_hidden() if not has_vi else None
    # Only an English voice on the device: hidden on the Vietnamese page, shown on the English one.
    page = open_page(**(KIOSK if device == "kiosk" else PHONE))
    with_voices(page, ["en-US"])
    page.goto(url)
    page.wait_for_load_state("load")
    expect(page.locator("[data-speak]")).to_be_hidden()
    page.goto(f"{url}?lang=en")
    expect(page.locator("[data-speak]")).to_be_visible()


@pytest.mark.parametrize("device", ["kiosk", "phone"])
def test_speaker_reads_the_question_then_each_answer_in_the_page_language(live, spot, open_page, device):
    url = spot.kiosk_url if device == "kiosk" else spot.phone_url
    page = open_page(**(KIOSK if device == "kiosk" else PHONE))
    with_voices(page, ["en-GB", "vi-VN"])
    page.goto(url)
    speaker = page.locator("[data-speak]")
    expect(speaker).to_be_visible()
    assert speaker.get_attribute("aria-label") is None and "Đọc to" in speaker.inner_text()
    speaker.tap()
    question = "Ông/Bà hài lòng như thế nào với dịch vụ vừa nhận được?"
    assert spoken(page) == [[text, "vi-VN"] for text in [question, *WORDS_VI]]
    screenshot(page, f"{device}-speaker-vi")

    # A follow-up step reads its own question and answers; in English with the English voice.
    page.goto(f"{url}?lang=en")
    page.locator(".face-button[value='4']").tap()
    page.wait_for_url(CONFIRM_PAGE)
    page.locator("[data-speak]").tap()
    assert spoken(page) == [["Satisfied", "en-GB"], ["Thank you, your answer is saved.", "en-GB"]]
    tell_more(page)
    expect(page.locator("h1")).to_be_visible()
    step_question = page.locator("main h1").inner_text().strip()
    answers = [text.strip() for text in page.locator(".choice-button > span").all_inner_texts()]
    assert len(answers) == 5 and step_question
    page.locator("[data-speak]").tap()
    assert spoken(page) == [[text, "en-GB"] for text in [step_question, *answers]]
