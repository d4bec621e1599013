"""What issue #9's proof names beyond the start and follow-up screens, in a real browser (Debian's
chromium): axe-core finds no violation of any impact on the citizen error pages a person can meet
(a refused quick second tap, a database away, an expired, used or forged single-use link, a form whose
token was refused), in Vietnamese and English; every step has its own ``<title>`` and focus moves to
its heading; countdowns are not announced every second; and an untranslated English sentence on a
right-to-left page keeps its punctuation at its own end.

Screenshots go to ``test-artifacts/`` (as in tests/test_browser.py).
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from tests.test_browser import (  # noqa: F401  (browser is a fixture)
    CONFIRM_PAGE, KIOSK, PHONE, REASONS_PAGE, STEP, THANKS_PAGE, axe_violations, browser, screenshot,
)
from tests.test_browser_langs import new_page, rtl_live  # noqa: F401  (rtl_live is a fixture)

from survey.api.keys import create_api_key  # noqa: E402
from survey.extensions import db  # noqa: E402
from survey.models import Procedure, Transaction  # noqa: E402
from survey.rating.invitations import link_token  # noqa: E402
from tests.conftest import make_place  # noqa: E402
from tests.faults import database_away  # noqa: E402

pytestmark = pytest.mark.browser


def fresh_place(live):
    """A new office with a counter and a kiosk (no rating yet, so no burst window open)."""
    with live.app.app_context():
        place = make_place()
        db.session.remove()
    return place


def registered_link(live, client) -> tuple[str, int]:
    """A dossier registered through the API at a new office: its single-use link's path and id."""
    with live.app.app_context():
        place = make_place()
        procedure_code = db.session.get(Procedure, place.procedure_ids[0]).code
        _, key = create_api_key("a11y", [place.office_code])
        db.session.commit()
        number = db.session.query(Transaction).count()
        db.session.remove()
    response = client.post("/api/v1/transactions?qr=none", headers={"Authorization": f"Bearer {key}"}, json={
        "dossier_code": f"000.00.16.H26-260301-{number + 100:04d}", "office_code": place.office_code,
        "procedure_code": procedure_code, "received_at": "2026-03-01T08:15:00+07:00"})
    assert response.status_code == 201, response.json
    with live.app.app_context():
        transaction_id = db.session.query(Transaction.id).order_by(Transaction.id.desc()).first()[0]
        db.session.remove()
    return response.json["rating_url"].split("/l/", 1)[1], transaction_id


def audit(page, found: dict, name: str, status: int | None, response, lang: str) -> None:
    """The page ``response`` made: its status and language, focus on its heading (or on the refusal's
    message), and axe-core's violations, run on the same HTML served at the same address in a page with
    scripts (axe is a script; the page itself was shown without them, as a form post without JavaScript)."""
    assert response is not None and (status is None or response.status == status), (name, response and response.status)
    assert page.locator("html").get_attribute("lang") == lang
    # Focus on the new page's heading, or on the message of a refused form shown again.
    assert page.evaluate("""() => document.activeElement !== null && (document.activeElement.tagName === 'H1'
        || document.activeElement.matches('.error[role=alert]'))"""), name
    screenshot(page, f"error-{name.replace(' ', '-')}-{lang}")
    html, url = response.text(), page.url
    viewer = page.context.browser.new_context(viewport=page.viewport_size, bypass_csp=True)
    try:
        shown = viewer.new_page()
        shown.route(url, lambda route: route.fulfill(status=response.status, body=html,
                                                     content_type="text/html; charset=utf-8"))
        shown.goto(url)
        found[name] = axe_violations(shown)
    finally:
        viewer.close()


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_error_page_a_citizen_can_meet_has_no_accessibility_violation(rtl_live, browser, lang):  # noqa: F811
    live = rtl_live
    found: dict[str, list] = {}
    # Without JavaScript the forms post, so each refusal is a page of its own.
    options = dict(**KIOSK, bypass_csp=True, java_script_enabled=False)

    # 429: a second new tap at one kiosk within the burst interval (KIOSK_MIN_INTERVAL_SECONDS = 5).
    place = fresh_place(live)
    page = new_page(browser, **options)
    page.goto(f"{live.url}{place.kiosk_url}?lang={lang}")
    with page.expect_navigation():
        page.locator(".face-button[value='4']").click()
    page.goto(f"{live.url}{place.kiosk_url}?lang={lang}")  # the next person, a moment later
    with page.expect_navigation() as navigation:
        page.locator(".face-button[value='2']").click()
    audit(page, found, "kiosk quick second tap", 429, navigation.value, lang)
    assert page.locator(".face-button").count() == 5  # and the faces are there to tap again

    # 503: the database is away when a phone's tap arrives (the page offers to send it again).
    phone = new_page(browser, **{**PHONE, "bypass_csp": True, "java_script_enabled": False})
    phone.goto(f"{live.url}{place.phone_url}?lang={lang}")
    with database_away(live.app):
        with phone.expect_navigation() as navigation:
            phone.locator(".face-button[value='3']").click()
        audit(phone, found, "database away", 503, navigation.value, lang)

    # 400: the form's token was refused (here: changed in the page).
    phone.goto(f"{live.url}{place.phone_url}?lang={lang}")
    phone.evaluate("document.querySelector('input[name=csrf_token]').value = '1.forged'")
    with phone.expect_navigation() as navigation:
        phone.locator(".face-button[value='3']").click()
    audit(phone, found, "refused form", 400, navigation.value, lang)

    # Single-use links: forged, expired, used.
    token, transaction_id = registered_link(live, live.app.test_client())
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    audit(page, found, "link forged", 404, page.goto(f"{live.url}/l/{forged}?lang={lang}"), lang)
    with live.app.app_context():
        expired = link_token(transaction_id, datetime(2026, 1, 1))
    audit(page, found, "link expired", 410, page.goto(f"{live.url}/l/{expired}?lang={lang}"), lang)
    page.goto(f"{live.url}/l/{token}?lang={lang}")
    for group in range(page.locator("fieldset").count()):  # answer every question: the link is consumed
        page.locator("fieldset").nth(group).locator("input[type=radio]").last.check()
    with page.expect_navigation():
        page.locator("button[type=submit]").last.click()
    audit(page, found, "link used", 409, page.goto(f"{live.url}/l/{token}?lang={lang}"), lang)

    page.context.close()
    phone.context.close()
    assert {name: problems for name, problems in found.items() if problems} == {}
    assert len(found) == 6


def focused_heading(page) -> bool:
    return page.evaluate("() => document.activeElement !== null && document.activeElement.tagName === 'H1'")


@pytest.mark.parametrize("device", ["kiosk", "phone"])
def test_each_step_has_its_own_title_and_focus_moves_to_its_heading(rtl_live, browser, device):  # noqa: F811
    live = rtl_live
    place = fresh_place(live)
    page = new_page(browser, **(KIOSK if device == "kiosk" else PHONE))
    page.goto(f"{live.url}{place.kiosk_url if device == 'kiosk' else place.phone_url}?lang=en")
    titles = [("start", page.title())]

    def step(name: str, action, url) -> None:
        action()
        page.wait_for_url(url)
        page.locator("h1").first.wait_for()
        assert focused_heading(page), f"{name}: focus is on {page.evaluate('document.activeElement.outerHTML')[:80]}"
        titles.append((name, page.title()))
        assert titles[-1][1] != titles[-2][1], titles[-2:]

    step("confirmation", lambda: page.locator(".face-button[value='2']").tap(), CONFIRM_PAGE)
    step("reasons", lambda: page.locator(".confirm a.button.primary").tap(), REASONS_PAGE)
    page.locator(".reason").first.tap()
    step("question 1", lambda: page.locator("button[name=next]").tap(), STEP)
    step("question 2", lambda: page.locator("button[name=skip]").tap(), STEP)
    step("question 3", lambda: page.locator("button[name=skip]").tap(), STEP)
    step("thank-you", lambda: page.locator("#finish").tap(), THANKS_PAGE)
    assert all(place.office_code not in title for _, title in titles)  # the office's name, not its code
    assert len({title for _, title in titles}) == len(titles) - 1 or len({t for _, t in titles}) >= 5
    page.context.close()


#: Counts changes inside live regions (aria-live other than off, role status/alert/log/timer, output).
WATCH_LIVE_REGIONS = """() => {
  window.__liveChanges = [];
  const live = '[aria-live]:not([aria-live="off"]), [role="status"], [role="alert"], [role="log"], [role="timer"], output';
  new MutationObserver((mutations) => {
    for (const m of mutations) {
      const node = m.target.nodeType === Node.TEXT_NODE ? m.target.parentElement : m.target;
      if (node && node.closest(live)) { window.__liveChanges.push(node.closest(live).textContent.trim()); }
    }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def announced_while_counting(page, count_selector: str, seconds: float = 3.5) -> tuple[list[str], list[str]]:
    """(the visible numbers seen, the live-region changes) over ``seconds`` of a running countdown."""
    page.evaluate(WATCH_LIVE_REGIONS)
    seen = []
    for _ in range(int(seconds * 4)):
        seen.append(page.locator(count_selector).first.inner_text())
        page.wait_for_timeout(250)
    return sorted(set(seen)), page.evaluate("window.__liveChanges")


def test_countdowns_tick_on_screen_but_are_not_announced_every_second(rtl_live, browser):  # noqa: F811
    live = rtl_live
    place = fresh_place(live)
    # The confirmation screen's countdown (KIOSK_CONFIRM_SECONDS is 600 s here: it ticks, nothing closes).
    page = new_page(browser, **KIOSK)
    page.goto(f"{live.url}{place.kiosk_url}?lang=en")
    page.locator(".face-button[value='5']").tap()
    page.wait_for_url(CONFIRM_PAGE)
    numbers, announced = announced_while_counting(page, ".confirm-count")
    assert len(numbers) >= 3, numbers  # it ticks on screen ...
    assert len(announced) <= 1, announced  # ... and is not read out each second
    # The "send again" countdown of the database-away page (a phone, with its script).
    phone = new_page(browser, **PHONE)
    phone.goto(f"{live.url}{place.phone_url}?lang=en")
    with database_away(live.app):
        with phone.expect_navigation():
            phone.locator(".face-button[value='4']").tap()
        numbers, announced = announced_while_counting(phone, ".retry-count", seconds=3)
    assert len(numbers) >= 3, numbers
    assert len(announced) <= 1, announced
    page.context.close()
    phone.context.close()


def test_untranslated_english_keeps_its_punctuation_at_its_end_on_a_right_to_left_page(rtl_live, browser):  # noqa: F811
    """The ``ar`` catalog translates only "Thank you": the start page's English question (a fallback to
    the msgid) must read left to right inside the right-to-left page, its "?" at its right end."""
    page = new_page(browser, **KIOSK)
    page.goto(f"{rtl_live.kiosk_url}?lang=ar")
    assert page.locator("html").get_attribute("dir") == "rtl"
    question = page.locator("h1.question")
    text = question.inner_text()
    assert re.match(r"^[A-Za-z]", text) and text.rstrip().endswith("?"), text
    # Where the last character ("?") is drawn: at the right end of the text, not at its left.
    last, first = question.evaluate("""h => {
      const node = [...h.childNodes].reverse().find(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
      const text = node.textContent.replace(/\\s+$/, '');
      const range = document.createRange();
      range.setStart(node, text.length - 1); range.setEnd(node, text.length);
      const end = range.getBoundingClientRect();
      range.setStart(node, text.search(/\\S/)); range.setEnd(node, text.search(/\\S/) + 1);
      const start = range.getBoundingClientRect();
      return [end.left, start.left];
    }""")
    assert last > first, (text, last, first)  # the "?" is to the right of the first letter
    screenshot(page, "kiosk-start-ar-untranslated-english")
    page.context.close()
