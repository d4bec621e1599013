"""An administrator's whole journey in a real browser (Debian's chromium through Playwright), signing
in with two factors: first sign-in with a one-time password (choose a new one, set up the authenticator
app from the QR page), then a later sign-in with password and code; see the dashboard, register a kiosk,
open its address, rate, see the rating counted, answer a complaint. The codes are computed with pyotp, as
the person's app would. axe-core finds no accessibility violation of any impact on each manager page
visited. Screenshots go to the test's temporary folder.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from datetime import timedelta

import pyotp
import pytest

from tests.test_browser_public import (  # noqa: F401 - fixtures and helpers shared with the public pages
    CHROMIUM, VIEWPORTS, axe_violations, browser, open_page,
)

from playwright.sync_api import expect  # noqa: E402
from sqlalchemy import select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from survey.cases.operations import open_cases  # noqa: E402
from survey.demo import seed_demo  # noqa: E402
from survey.extensions import db  # noqa: E402
from survey.manager.operations import create_user  # noqa: E402
from survey.models import ComplaintCase, Unit, User  # noqa: E402
from survey.models._common import utcnow  # noqa: E402
from survey.rating.operations import add_follow_up  # noqa: E402
from survey.results.service import forget_live_results  # noqa: E402
from survey.results.tree import forget_unit_tree  # noqa: E402
from tests.conftest import make_app  # noqa: E402
from tests.results_helpers import rate  # noqa: E402
from tests.test_browser_manager import this_month_n  # noqa: E402

pytestmark = pytest.mark.browser
EMAIL = "admin-hn@demo.gov.vn"
NEW_PASSWORD = "my-own-admin-password"


@pytest.fixture(scope="module")
def site(tmp_path_factory, migrated_sqlite):
    path = tmp_path_factory.mktemp("admin-totp-browser") / "site.sqlite"
    shutil.copy(migrated_sqlite, path)
    forget_live_results()
    forget_unit_tree()
    app = make_app(f"sqlite:///{path}", RESULTS_CACHE_SECONDS=0, COUNTS_MAX_AGE_SECONDS=0)
    with app.app_context():
        seed_demo(ratings=1500, seed=8)
        office = db.session.scalar(select(Unit).where(Unit.code == "HN-TTHCC"))
        rating = rate(office, 1, utcnow() - timedelta(hours=1))[0]
        add_follow_up(rating, {}, comment="Chờ 2 tiếng. Gọi lại cho tôi: 0912 345 678", now=rating.created_at)
        db.session.flush()
        open_cases(now=rating.created_at)
        _, one_time = create_user(EMAIL, "province-admin", "HN", name="Quản trị Hà Nội")  # as create-user does
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}", one_time
    server.shutdown()
    thread.join(5)
    server.server_close()
    forget_live_results()
    forget_unit_tree()
    with app.app_context():
        db.engine.dispose()


def checked(page, shots, name: str) -> None:
    """No accessibility violation of any impact on this page, and a screenshot of it."""
    assert axe_violations(page) == [], page.url
    path = shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)


def password_step(page, base: str, password: str) -> None:
    page.goto(f"{base}/manager/sign-in?lang=en")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", password)
    page.get_by_role("button", name="Sign in").click()


def test_an_administrator_signs_in_with_totp_and_works_through_the_day(site, open_page, tmp_path):
    app, base, one_time = site
    shots = tmp_path
    page = open_page(viewport=VIEWPORTS["desktop"], locale="en-US", bypass_csp=True)

    # First sign-in: the one-time password opens only the page to choose one's own.
    password_step(page, base, one_time)
    page.wait_for_url(f"{base}/manager/sign-in/new-password")
    checked(page, shots, "admin-1-new-password")
    page.fill("input[name=password]", NEW_PASSWORD)
    page.fill("input[name=confirm]", NEW_PASSWORD)
    page.get_by_role("button", name="Change the password").click()

    # Then enrolment: the QR code and the key; the app's first code finishes it.
    page.wait_for_url(f"{base}/manager/sign-in/two-factor")
    expect(page.locator("img[src^='data:image/svg+xml']")).to_be_visible()
    key = page.locator("#totp-key").input_value()
    assert re.fullmatch(r"[A-Z2-7]{32}", key)
    checked(page, shots, "admin-2-enrol")
    page.fill("input[name=code]", pyotp.TOTP(key).now())
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{base}/manager/")
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.email == EMAIL))
        assert admin.two_factor_enrolled and not admin.must_change_password and key not in admin.totp_secret

    # A later sign-in, in another browser: password, then a code. The enrolment's code was used, so this
    # is the next step's code (accepted: one step of clock difference is allowed).
    page = open_page(viewport=VIEWPORTS["desktop"], locale="en-US", bypass_csp=True)
    password_step(page, base, NEW_PASSWORD)
    page.wait_for_url(f"{base}/manager/sign-in/code")
    checked(page, shots, "admin-3-code")
    page.fill("input[name=code]", pyotp.TOTP(key).at(time.time() + 30))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{base}/manager/")

    # The dashboard of the province.
    expect(page.locator("h1")).to_contain_text("Ha Noi")
    before = this_month_n(page)
    checked(page, shots, "admin-4-dashboard")

    # Register a kiosk and open its address on a tablet; rate there.
    page.get_by_role("link", name="Kiosks", exact=True).click()
    checked(page, shots, "admin-5-kiosks")
    page.select_option("#office", "HN-TTHCC")
    page.fill("#label", "Admin's tablet")
    page.get_by_role("button", name="Register the kiosk").click()
    expect(page.locator("h1")).to_contain_text("Kiosk registered")
    address = page.locator("#kiosk-address").input_value()
    checked(page, shots, "admin-6-kiosk-registered")
    kiosk = open_page(viewport=VIEWPORTS["phone"], locale="vi-VN")
    kiosk.goto(address)
    kiosk.get_by_role("button", name="Hài lòng", exact=True).click()
    kiosk.wait_for_url(re.compile(r"/kiosk/[^/]+/r/"))

    # The rating is counted.
    page.goto(f"{base}/manager/?lang=en")
    assert this_month_n(page) == before + 1

    # Answer the complaint.
    page.get_by_role("link", name="Complaint cases", exact=True).click()
    expect(page.locator("td.comment-text").first).to_contain_text("[phone number]")
    assert "0912" not in page.content()
    checked(page, shots, "admin-7-cases")
    page.locator("tbody th a").first.click()
    page.fill("textarea[name=text]", "Chúng tôi đã gọi lại và xin lỗi anh/chị.")
    page.get_by_role("button", name="Record the answer").click()
    expect(page.locator("p.notice[role=status]")).to_contain_text("The answer is recorded.")
    checked(page, shots, "admin-8-case-answered")
    with app.app_context():
        case = db.session.scalar(select(ComplaintCase))
        admin = db.session.scalar(select(User).where(User.email == EMAIL))
        assert case.state == "answered" and case.answered_by_id == admin.id

    # The account page says the second factor is on and cannot be turned off.
    page.get_by_role("link", name="My account").click()
    expect(page.locator("#two-factor-status")).to_have_text("on")
    expect(page.locator("main")).to_contain_text("Administrators must keep two-factor sign-in")
    assert key not in page.content()
    checked(page, shots, "admin-9-account")
    print(f"screenshots in {shots}")
