"""The rating pages in a real browser (Debian's chromium through Playwright): kiosk and phone,
timeouts, double taps, the language switch, no JavaScript, and basic accessibility checks.

Screenshots go to ``test-artifacts/`` at the repository root for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
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
from survey.models import Procedure, Rating  # noqa: E402
from tests.conftest import make_app, make_place  # noqa: E402

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
#: Short timers (the real defaults are in survey/config.py), idle the longest as in production. Only the
#: first test waits in real time; the others stop the page's clock and move it on (``freeze_clock``).
IDLE, WARNING, THANKS = 6, 3, 3
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


@pytest.fixture(scope="module")
def live(tmp_path_factory, migrated_sqlite):
    path = tmp_path_factory.mktemp("browser") / "live.sqlite"
    shutil.copy(migrated_sqlite, path)
    app = make_app(
        f"sqlite:///{path}",
        KIOSK_IDLE_SECONDS=IDLE, KIOSK_WARNING_SECONDS=WARNING, KIOSK_THANKS_SECONDS=THANKS,
        KIOSK_MIN_INTERVAL_SECONDS=0,
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveServer(app, f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    thread.join(5)
    server.server_close()
    with app.app_context():
        db.engine.dispose()


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
FOLLOW_UP = re.compile(r"/(kiosk/[^/]+/r|r/[^/]+/f)/[A-Za-z0-9_-]+(\?.*)?$")
THANKS_PAGE = re.compile(r"/thanks(\?.*)?$")


def face(page, word: str):
    return page.get_by_role("button", name=word, exact=True)


def idempotency_key(page) -> str:
    return page.locator("input[name=idempotency_key]").input_value()


def html_lang(page) -> str:
    return page.locator("html").get_attribute("lang")


def skip_button(page):
    return page.locator(".actions-top button[name=skip]")


def choice(page, question: int, value: int):
    """The label of a follow-up answer: ``question`` counts from 0, ``value`` is the scale value."""
    return page.locator("fieldset.follow-up-question").nth(question).locator(f"input[value='{value}'] + label")


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
    page.wait_for_url(FOLLOW_UP)
    expect(page.locator(".saved")).to_be_visible()
    expect(skip_button(page)).to_be_visible()
    expect(skip_button(page)).to_be_in_viewport()
    choice(page, 0, 5).tap()
    expect(page.locator("fieldset.follow-up-question").first.locator("input[value='5']")).to_be_checked()
    page.locator("textarea[name=comment]").fill("Cán bộ rất nhiệt tình")
    screenshot(page, "kiosk-2-follow-up", full_page=True)

    page.locator("#finish").tap()
    page.wait_for_url(THANKS_PAGE)
    expect(page.locator("h1")).to_contain_text("Cảm ơn")
    expect(page.locator(".thanks-countdown")).to_be_visible()
    assert 0 <= int(page.locator(".thanks-count").inner_text()) <= THANKS
    screenshot(page, "kiosk-3-thanks")

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
    page.goto(spot.kiosk_url)
    face(page, word).tap()
    page.wait_for_url(FOLLOW_UP)
    skip_button(page).tap()
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


def test_idle_follow_up_warns_then_saves_what_was_answered(live, spot, open_page):
    page = open_page(**KIOSK)
    freeze_clock(page)
    page.goto(spot.kiosk_url)
    face(page, "Không hài lòng").tap()
    page.wait_for_url(FOLLOW_UP)
    follow_up_url = page.url
    dialog, count = page.locator("#timeout-dialog"), page.locator(".timeout-count")
    page.clock.fast_forward(IDLE * 1000 - 200)
    expect(dialog).to_be_hidden()

    page.clock.fast_forward(200)
    expect(dialog).to_be_visible()
    expect(count).to_have_text(str(WARNING))
    expect(page.locator("#timeout-extend")).to_be_focused()
    screenshot(page, "kiosk-4-dialog")
    page.clock.fast_forward(1000)
    expect(count).to_have_text(str(WARNING - 1))
    page.locator("#timeout-extend").tap()
    expect(dialog).to_be_hidden()
    choice(page, 1, 2).tap()

    page.clock.fast_forward(WARNING * 1000)  # the stopped countdown would have fired by now
    assert page.url == follow_up_url
    expect(dialog).to_be_hidden()
    page.clock.fast_forward((IDLE - WARNING) * 1000)  # another idle spell: asked again, counting afresh
    expect(dialog).to_be_visible()
    expect(count).to_have_text(str(WARNING))
    page.clock.fast_forward(WARNING * 1000)
    page.wait_for_url(THANKS_PAGE)
    [rating] = stored_ratings(live, spot)
    assert rating["answers"] == {rating["overall_id"]: 2, rating["follow_up_ids"][1]: 2}


def test_timeout_warning_works_without_dialog_support(live, spot, open_page):
    # Older tablet browsers have no <dialog>: the warning must still show, and hide again.
    page = open_page(**KIOSK)
    freeze_clock(page)
    page.add_init_script("delete HTMLDialogElement.prototype.showModal; delete HTMLDialogElement.prototype.close;")
    page.goto(spot.kiosk_url)
    face(page, "Hài lòng").tap()
    page.wait_for_url(FOLLOW_UP)
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
    page.wait_for_url(FOLLOW_UP)
    citizens = 1
    if javascript:  # a burst of taps within one moment, on a fresh start page (a new citizen)
        page.goto(spot.kiosk_url)
        page.locator(".face-button[value='5']").evaluate("b => { b.click(); b.click(); b.click(); }")
        page.wait_for_url(FOLLOW_UP)
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
    page.wait_for_url(FOLLOW_UP)
    assert html_lang(page) == "en"
    skip_button(page).tap()
    page.wait_for_url(THANKS_PAGE)
    expect(page.locator("h1")).to_contain_text("Thank you")

    page.clock.fast_forward(THANKS * 1000)
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
    page.wait_for_url(FOLLOW_UP)
    expect(page.locator("#timeout-dialog")).to_be_hidden()
    choice(page, 2, 4).click()
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
    page.wait_for_url(FOLLOW_UP)
    assert_no_horizontal_scroll(page)
    choice(page, 0, 2).tap()
    assert_touch_targets(page)
    screenshot(page, "phone-2-follow-up")
    page.locator("#finish").tap()
    page.wait_for_url(re.compile(r"/r/[^/]+/thanks$"))
    expect(page.locator("h1")).to_contain_text("Cảm ơn")
    assert_no_horizontal_scroll(page)
    assert_touch_targets(page)
    screenshot(page, "phone-3-thanks")
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
    page.wait_for_url(FOLLOW_UP)
    assert_touch_targets(page)
    assert_text_contrast(page)
    first = page.locator("fieldset.follow-up-question").first
    expect(first.get_by_role("radio", name="Rất hài lòng")).to_have_count(1)
    first.locator("input").first.focus()
    page.keyboard.press("ArrowRight")  # radios move and select with the arrow keys
    expect(first.locator("input[value='2']")).to_be_checked()
    assert outline_of(first.locator("input[value='2'] + label")) >= 3



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
    page.wait_for_url(FOLLOW_UP)
    expect(page.locator("select[name=procedure_id]")).to_have_count(0)
    choice(page, 0, 5).tap()
    with page.expect_navigation():
        page.locator("#finish").tap()
    assert THANKS_PAGE.search(page.url), page.locator(".error").all_inner_texts()


def test_next_person_cannot_change_the_previous_answers(live, spot, open_page):
    page = open_page(**KIOSK)
    freeze_clock(page)
    page.goto(spot.kiosk_url)
    face(page, "Hài lòng").tap()
    page.wait_for_url(FOLLOW_UP)
    choice(page, 0, 5).tap()
    page.locator("#finish").tap()
    page.wait_for_url(THANKS_PAGE)
    page.clock.fast_forward(THANKS * 1000)
    page.wait_for_url(START)

    page.go_back()  # the next person swipes back to the previous person's questions
    if FOLLOW_UP.search(page.url):
        choice(page, 0, 1).tap()
        page.locator("#finish").tap()
        page.wait_for_url(THANKS_PAGE)
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
        page.wait_for_url(FOLLOW_UP)
        page.clock.fast_forward(IDLE * 1000)  # kiosk.js opens the "more time?" dialog
        expect(page.locator("#timeout-dialog")).to_be_visible()
        page.locator("#timeout-extend").tap()
        skip_button(page).tap()
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


def test_kiosk_sends_a_tap_again_after_a_database_outage(live, spot, browser):
    """The tap reaches the server while its database is away: the 503 page counts down the delay the
    server asked for and sends the same answers again by itself; the rating is stored once."""
    from tests.faults import database_away

    context = browser.new_context(**KIOSK)
    context.set_default_timeout(5000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    freeze_clock(page)
    try:
        page.goto(spot.kiosk_url)
        key = idempotency_key(page)
        with database_away(live.app):
            face(page, "Hài lòng").tap()
            expect(page.locator(".retry-countdown")).to_be_visible()
        assert "Hệ thống đang bận" in page.locator("[role=alert]").inner_text()
        expect(page.locator(".retry-count")).to_have_text("5")
        assert page.locator("input[name=idempotency_key]").input_value() == key
        screenshot(page, "kiosk-503-sending-again")
        page.clock.fast_forward(5000)
        page.wait_for_url(FOLLOW_UP)
        expect(page.locator(".saved")).to_be_visible()
        assert errors == []
    finally:
        context.close()
    [rating] = stored_ratings(live, spot)
    assert rating["overall"] == 4
