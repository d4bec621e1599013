"""Alerts, large exports, the settings page and the reply request in a real browser (Debian's
chromium through Playwright): axe-core finds no violation of any impact; screenshots are saved in
the test's temporary folder."""

from __future__ import annotations

import re
import shutil
import threading
from datetime import timedelta

import pytest

from tests.test_browser_public import (  # noqa: F401 - fixtures and helpers shared with the public pages
    CHROMIUM, VIEWPORTS, axe_violations, browser, open_page,
)

from playwright.sync_api import expect  # noqa: E402
from sqlalchemy import select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from survey.alerts.operations import refresh_alerts  # noqa: E402
from survey.cases.operations import open_cases  # noqa: E402
from survey.extensions import db  # noqa: E402
from survey.manager.operations import create_user  # noqa: E402
from survey.models import ComplaintCase, ReplyRequest  # noqa: E402
from survey.models._common import utcnow  # noqa: E402
from survey.rating.operations import add_follow_up  # noqa: E402
from survey.results.service import forget_live_results  # noqa: E402
from survey.results.tree import forget_unit_tree  # noqa: E402
from tests.conftest import make_app, make_place  # noqa: E402
from tests.results_helpers import office_of, rate  # noqa: E402
from tests.test_browser_manager import PASSWORD, sign_in  # noqa: E402

pytestmark = pytest.mark.browser
EMAIL = "national@x.vn"


@pytest.fixture(scope="module")
def site(tmp_path_factory, migrated_sqlite):
    path = tmp_path_factory.mktemp("alerts-browser") / "site.sqlite"
    shutil.copy(migrated_sqlite, path)
    forget_live_results()
    forget_unit_tree()
    app = make_app(f"sqlite:///{path}", RESULTS_CACHE_SECONDS=0, COUNTS_MAX_AGE_SECONDS=0)
    with app.app_context():
        place = make_place()
        office = office_of(place.office_code)
        old = rate(office, 1, utcnow() - timedelta(days=10))[0]
        add_follow_up(old, {}, comment="Không ai gọi lại", now=old.created_at)
        rate(office, 5, utcnow() - timedelta(days=1), 40)
        open_cases(now=old.created_at)
        refresh_alerts()  # the case is overdue: one alert
        create_user(EMAIL, "national-admin", None, password=PASSWORD)
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", place, app
    server.shutdown()
    thread.join(5)
    server.server_close()
    forget_live_results()
    forget_unit_tree()
    with app.app_context():
        db.engine.dispose()


def test_a_citizen_asks_for_a_reply_and_the_manager_sees_the_contact(site, open_page, tmp_path):
    base, place, app = site
    page = open_page(viewport=VIEWPORTS["phone"], locale="vi-VN", bypass_csp=True)
    page.goto(f"{base}{place.phone_url}?lang=vi")
    page.locator(".face-button[value='1']").click()
    page.wait_for_url(re.compile(r"/r/[^/]+/f/[A-Za-z0-9_-]+(\?.*)?$"))  # the confirmation
    page.goto(page.url.split("?")[0] + "/reasons")
    page.get_by_text("Tôi muốn được trả lời").click()
    expect(page.locator("#reply")).to_be_checked()
    assert axe_violations(page) == []
    page.screenshot(path=str(tmp_path / "reasons-reply-vi.png"), full_page=True)
    page.fill("#contact", "0912 345 678")
    page.locator("#finish").click()
    page.wait_for_url(re.compile(r"/thanks"))
    with app.app_context():
        rating_id = db.session.scalar(select(ReplyRequest.rating_id))
        assert open_cases() == 1
        db.session.commit()
        case_id = db.session.scalar(select(ComplaintCase.id).where(ComplaintCase.rating_id == rating_id))
    manager = open_page(viewport=VIEWPORTS["desktop"], locale="en-US")
    sign_in(manager, base, EMAIL, "en", app)
    manager.goto(f"{base}/manager/cases/{case_id}?lang=en")
    expect(manager.locator("dd.reply-contact")).to_have_text("0912 345 678")


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_alerts_export_and_settings_pages(site, open_page, tmp_path, lang):
    base, place, app = site
    page = open_page(viewport=VIEWPORTS["desktop"], locale="vi-VN", bypass_csp=True)
    sign_in(page, base, EMAIL, lang, app)
    page.goto(f"{base}/manager/?lang={lang}")
    expect(page.locator(".dashboard-alerts li")).to_have_count(1)
    assert axe_violations(page) == []
    page.goto(f"{base}/manager/alerts?lang={lang}")
    expect(page.locator(".alerts-list li")).to_have_count(1)
    assert axe_violations(page) == []
    page.screenshot(path=str(tmp_path / f"alerts-{lang}.png"), full_page=True)
    page.goto(f"{base}/manager/?lang={lang}")
    page.select_option("#export-format", "csv")
    page.locator(".export-form [type=submit]").click()
    page.wait_for_url(re.compile(r"/manager/exports/\d+$"))
    progress = page.locator("progress#export-progress")
    expect(progress).to_be_visible()
    assert progress.get_attribute("value") == progress.get_attribute("max") and int(progress.get_attribute("max")) >= 41
    assert axe_violations(page) == []
    page.screenshot(path=str(tmp_path / f"export-{lang}.png"), full_page=True)
    with page.expect_download() as download:
        page.locator("a.button.primary").click()
    assert download.value.suggested_filename.endswith(".csv")
    page.goto(f"{base}/manager/settings?lang={lang}")
    expect(page.locator("#keep_unmasked_comments")).not_to_be_checked()
    assert axe_violations(page) == []
    page.screenshot(path=str(tmp_path / f"settings-{lang}.png"), full_page=True)
