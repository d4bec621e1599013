"""Issue 9 in a real browser: a right-to-left catalog made by ``survey add-language`` (all five faces in
view, worst to best left to right), every citizen error page free of axe-core violations in both
languages, and a kiosk's error page going back to the kiosk's start by itself."""

from __future__ import annotations

import shutil
import threading

import pytest

from tests.test_browser import (  # noqa: F401  (browser is a fixture)
    KIOSK, PHONE, LiveServer, axe_violations, browser, screenshot,
)
from tests.conftest import make_app, make_place
from tests.test_languages import copy_catalogs, translate

from click.testing import CliRunner  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from survey.catalogs import compile_catalogs  # noqa: E402
from survey.cli import add_language_command  # noqa: E402
from survey.extensions import db  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def rtl_live(tmp_path_factory, migrated_sqlite):
    tmp = tmp_path_factory.mktemp("langs")
    directory = copy_catalogs(tmp)
    CliRunner().invoke(add_language_command, ["ar", "--directory", str(directory)], catch_exceptions=False)
    translate(directory / "ar" / "LC_MESSAGES" / "messages.po", {"Thank you": "شكرا لك"})
    compile_catalogs(directory)
    shutil.copy(migrated_sqlite, tmp / "live.sqlite")
    app = make_app(f"sqlite:///{tmp / 'live.sqlite'}", BABEL_TRANSLATION_DIRECTORIES=str(directory),
                   KIOSK_ERROR_RETURN_SECONDS=1, KIOSK_CONFIRM_SECONDS=600, KIOSK_IDLE_SECONDS=600)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    live = LiveServer(app, f"http://127.0.0.1:{server.server_port}")
    with app.app_context():
        place = make_place()
        live.kiosk_url, live.phone_url = live.url + place.kiosk_url, live.url + place.phone_url
        db.session.remove()
    yield live
    server.shutdown()
    thread.join(5)
    server.server_close()
    with app.app_context():
        db.engine.dispose()


def new_page(browser, **options):  # noqa: F811
    context = browser.new_context(**options)
    context.set_default_timeout(5000)
    return context.new_page()


@pytest.mark.parametrize("device", ["kiosk", "phone"])
def test_a_right_to_left_catalog_mirrors_the_page_but_not_the_faces(rtl_live, browser, device):  # noqa: F811
    page = new_page(browser, **(KIOSK if device == "kiosk" else PHONE))
    page.goto(f"{rtl_live.kiosk_url if device == 'kiosk' else rtl_live.phone_url}?lang=ar")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("html").get_attribute("lang") == "ar"
    # Questionnaire texts have vi/en columns only: a new language shows the English words (see README).
    assert page.locator(".face-button .face-label").first.inner_text() == "Very dissatisfied"
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    faces = [page.locator(".face-button").nth(i).bounding_box() for i in range(5)]
    assert all(b["x"] >= 0 and b["y"] >= 0 and b["x"] + b["width"] <= width + 0.5
               and b["y"] + b["height"] <= height + 0.5 for b in faces), faces  # all five in view
    values = [page.locator(".face-button").nth(i).get_attribute("value") for i in range(5)]
    assert values == sorted(values)  # worst first in the page's order
    # Worst to best: left to right on the kiosk's row (not mirrored), top to bottom on the phone's column.
    key = "x" if device == "kiosk" else "y"
    assert [b[key] for b in faces] == sorted(b[key] for b in faces) and faces[0][key] < faces[4][key]
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    screenshot(page, f"{device}-start-ar-rtl")
    page.context.close()


#: (name, path under the kiosk's or phone's address or the site, status): every citizen error page.
ERRORS = [
    ("kiosk unknown step", "kiosk", "/no/such/step", 404),
    ("kiosk unknown token", "site", "/kiosk/not-a-registered-token", 404),
    ("phone unknown step", "phone", "/no/such/step", 404),
    ("phone unknown code", "site", "/r/NO-SUCH-CODE", 404),
    ("rating link not valid", "site", "/l/not-a-valid-link-token", 404),
    ("unknown page", "site", "/no-such-page", 404),
]


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("name, base, path, status", ERRORS, ids=[e[0] for e in ERRORS])
def test_every_citizen_error_page_has_no_accessibility_violation(rtl_live, browser, lang, name, base, path,  # noqa: F811
                                                                  status):
    page = new_page(browser, **KIOSK, bypass_csp=True)
    root = {"kiosk": rtl_live.kiosk_url, "phone": rtl_live.phone_url, "site": rtl_live.url}[base]
    response = page.goto(f"{root}{path}?lang={lang}")
    assert response.status == status
    heading = page.locator("h1")
    assert heading.evaluate("element => element === document.activeElement")  # focus on the new step
    assert page.locator("#error-next").is_visible()
    found = axe_violations(page)
    assert found == [], name
    page.context.close()


def test_a_kiosk_error_page_goes_back_to_the_start_by_itself(rtl_live, browser):  # noqa: F811
    page = new_page(browser, **KIOSK)
    page.goto(f"{rtl_live.kiosk_url}/no/such/step")
    assert "1" in page.locator("main").inner_text()
    page.wait_for_url(rtl_live.kiosk_url)
    assert page.locator(".face-button").count() == 5
    page.context.close()
