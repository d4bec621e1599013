"""The manager's pages in a real browser (Debian's chromium through Playwright): sign in, see the
dashboard of the scope, register a kiosk, open its address, rate there, and see the rating counted;
comments are masked; axe-core finds no accessibility violation of any impact.

Screenshots go to ``test-artifacts/manager-*.png``.
"""

from __future__ import annotations

import io
import re
import shutil
import threading

import pytest

from tests.test_browser_public import (  # noqa: F401 - fixtures and helpers shared with the public pages
    CHROMIUM, VIEWPORTS, axe_violations, browser, open_page, screenshot,
)

from playwright.sync_api import expect  # noqa: E402
from sqlalchemy import select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from survey.demo import ensure_demo_manager, seed_demo  # noqa: E402
from survey.extensions import db  # noqa: E402
from survey.models import Rating, Unit  # noqa: E402
from survey.results.service import forget_live_results  # noqa: E402
from survey.results.tree import forget_unit_tree  # noqa: E402
from tests.conftest import make_app  # noqa: E402

pytestmark = pytest.mark.browser
PASSWORD = "browser-password-1"


@pytest.fixture(scope="module")
def site(tmp_path_factory, migrated_sqlite):
    path = tmp_path_factory.mktemp("manager-browser") / "site.sqlite"
    shutil.copy(migrated_sqlite, path)
    forget_live_results()
    forget_unit_tree()
    # Results recomputed at every request, so a new rating shows at once.
    # Every test here signs in again from 127.0.0.1: the per-address limit has its own tests (test_manager.py).
    app = make_app(f"sqlite:///{path}", RESULTS_CACHE_SECONDS=0, COUNTS_MAX_AGE_SECONDS=0,
                   SIGN_IN_RATE_LIMIT="1000 per minute")
    with app.app_context():
        seed_demo(ratings=4000, seed=8)
        office = db.session.scalar(select(Unit).where(Unit.code == "HN-TTHCC"))
        rating = db.session.scalar(select(Rating).where(Rating.office_id == office.id).order_by(Rating.id.desc()))
        rating.comment = "Chờ 2 tiếng. Gọi lại cho tôi: 0912 345 678"
        email = ensure_demo_manager(PASSWORD).email
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", email
    server.shutdown()
    thread.join(5)
    server.server_close()
    forget_live_results()
    forget_unit_tree()
    with app.app_context():
        db.engine.dispose()


def sign_in(page, base: str, email: str, lang: str, app=None) -> None:
    """Sign in; with ``app``, an administrator's second step too (enrolment or a code, read from the site)."""
    page.goto(f"{base}/manager/sign-in?lang={lang}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("input[type=submit], button[type=submit]").first.click()
    if app is not None:
        from tests.twofactor_helpers import finish_second_step_in_browser

        finish_second_step_in_browser(page, app, base, email)
    else:
        page.wait_for_url(f"{base}/manager/")


def this_month_n(page) -> int:
    """The number of ratings in the trend table's newest row (the current month)."""
    return int(re.sub(r"\D", "", page.locator("#trend-caption ~ tbody tr").last.locator("td").nth(1).inner_text()))


def test_sign_in_register_a_kiosk_rate_and_see_it_counted(site, open_page):
    base, email = site
    page = open_page(viewport=VIEWPORTS["desktop"], locale="en-US")
    sign_in(page, base, email, "en")
    expect(page.locator("h1")).to_contain_text("Public Administration Service Centre")
    expect(page.locator(".big-number, .headline").first).to_be_visible()
    before = this_month_n(page)
    screenshot(page, "manager-1-dashboard-en")

    page.get_by_role("link", name="Kiosks", exact=True).click()
    page.select_option("#office", "HN-TTHCC")
    page.fill("#label", "Browser tablet")
    page.get_by_role("button", name="Register the kiosk").click()
    expect(page.locator("h1")).to_contain_text("Kiosk registered")
    address = page.locator("#kiosk-address").input_value()
    assert "/kiosk/" in address
    expect(page.locator("img[src^='data:image/svg+xml']")).to_be_visible()
    screenshot(page, "manager-2-kiosk-registered")

    kiosk = open_page(viewport=VIEWPORTS["phone"], locale="vi-VN")
    kiosk.goto(address)
    kiosk.get_by_role("button", name="Hài lòng", exact=True).click()
    kiosk.wait_for_url(re.compile(r"/kiosk/[^/]+/r/"))
    screenshot(kiosk, "manager-3-rated-on-the-new-kiosk")

    page.goto(f"{base}/manager/?lang=en")
    assert this_month_n(page) == before + 1


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_comments_are_masked_in_the_browser(site, open_page, lang):
    base, email = site
    page = open_page(viewport=VIEWPORTS["phone"], locale="vi-VN")
    sign_in(page, base, email, lang)
    page.goto(f"{base}/manager/comments?lang={lang}")
    masked = "[số điện thoại]" if lang == "vi" else "[phone number]"
    expect(page.locator("td.comment-text").first).to_contain_text(masked)
    assert "0912" not in page.content()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "page scrolls sideways"
    screenshot(page, f"manager-4-comments-{lang}-360")


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("path", ["/manager/", "/manager/comments", "/manager/kiosks", "/manager/kiosks/1"])
def test_manager_pages_have_no_accessibility_violations(site, open_page, path, lang):
    base, email = site
    page = open_page(viewport=VIEWPORTS["desktop"], locale="vi-VN", bypass_csp=True)
    sign_in(page, base, email, lang)
    page.goto(f"{base}{path}?lang={lang}")
    assert page.locator("html").get_attribute("lang") == lang
    assert axe_violations(page) == []
    if path == "/manager/":
        screenshot(page, f"manager-5-dashboard-{lang}-1280")


def test_poster_links_on_the_kiosks_page_give_the_poster(site, open_page):
    """The kiosks page lists a poster for each office and counter; its A5 PDF link, followed with the
    manager's session, gives an A5 page whose code scans to the office's phone rating address."""
    import pypdfium2
    import zxingcpp
    from pypdf import PdfReader

    base, email = site
    page = open_page(viewport=VIEWPORTS["desktop"], locale="vi-VN")
    sign_in(page, base, email, "vi")
    page.goto(f"{base}/manager/kiosks?lang=vi")
    expect(page.locator("#posters-heading")).to_have_text("Áp phích mã QR")
    link = page.locator("a[href='/manager/u/HN-TTHCC/poster.pdf?size=a5']")
    expect(link).to_have_text("A5")
    link.scroll_into_view_if_needed()
    screenshot(page, "manager-6-posters-vi")
    response = page.request.get(base + link.get_attribute("href"))
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    data = response.body()
    reader = PdfReader(io.BytesIO(data))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (420, 595)
    assert "Quét mã để đánh giá mức độ hài lòng" in reader.pages[0].extract_text()
    document = pypdfium2.PdfDocument(data)
    image = document[0].render(scale=3).to_pil().convert("L")
    document.close()
    assert [code.text for code in zxingcpp.read_barcodes(image)] == [f"{base}/r/HN-TTHCC"]
