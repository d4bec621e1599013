"""Complaint cases and the misuse review in a real browser (Debian's chromium through Playwright):
answer and close a case, confirm a flag; axe-core finds no violation of any impact on these pages.

Screenshots go to ``test-artifacts/manager-cases-*.png``.
"""

from __future__ import annotations

import shutil
import threading
from datetime import timedelta

import pytest

from tests.test_browser_public import (  # noqa: F401 - fixtures and helpers shared with the public pages
    CHROMIUM, VIEWPORTS, axe_violations, browser, open_page, screenshot,
)

from playwright.sync_api import expect  # noqa: E402
from sqlalchemy import select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from survey.cases.operations import open_cases  # noqa: E402
from survey.demo import ensure_demo_manager, seed_demo  # noqa: E402
from survey.extensions import db  # noqa: E402
from survey.misuse.operations import flag_rating  # noqa: E402
from survey.models import ComplaintCase, Rating, Unit  # noqa: E402
from survey.results.service import forget_live_results  # noqa: E402
from survey.results.tree import forget_unit_tree  # noqa: E402
from survey.models._common import utcnow  # noqa: E402
from survey.rating.operations import add_follow_up  # noqa: E402
from tests.conftest import make_app  # noqa: E402
from tests.results_helpers import rate  # noqa: E402
from tests.test_browser_manager import PASSWORD, sign_in  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory, migrated_sqlite):
    path = tmp_path_factory.mktemp("cases-browser") / "site.sqlite"
    shutil.copy(migrated_sqlite, path)
    forget_live_results()
    forget_unit_tree()
    app = make_app(f"sqlite:///{path}", RESULTS_CACHE_SECONDS=0, COUNTS_MAX_AGE_SECONDS=0)
    with app.app_context():
        seed_demo(ratings=1000, seed=8)
        office = db.session.scalar(select(Unit).where(Unit.code == "HN-TTHCC"))
        now = utcnow()
        ratings = db.session.scalars(select(Rating).where(Rating.office_id == office.id, Rating.flag.is_(None))
                                     .order_by(Rating.id.desc())).all()
        unhappy = []
        for i, text in enumerate(["Chờ 2 tiếng. Gọi lại cho tôi: 0912 345 678", "Cán bộ nói chuyện khó chịu"]):
            rating = rate(office, 1, now - timedelta(hours=i + 1))[0]
            add_follow_up(rating, {}, comment=text, now=rating.created_at)
            unhappy.append(rating)
        db.session.flush()
        opened_at = max(r.created_at for r in unhappy)
        open_cases(now=opened_at)
        # The older case is past its deadline.
        late = db.session.scalar(select(ComplaintCase).where(ComplaintCase.rating_id == unhappy[1].id))
        late.opened_at, late.due_at = opened_at - timedelta(days=30), opened_at - timedelta(days=25)
        flag_rating(ratings[0], "burst", "five in a minute")
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


def test_answer_and_close_a_case_and_confirm_a_flag(site, open_page):
    base, email = site
    page = open_page(viewport=VIEWPORTS["desktop"], locale="en-US")
    sign_in(page, base, email, "en")
    page.get_by_role("link", name="Complaint cases", exact=True).click()
    expect(page.locator("tr.overdue")).to_have_count(1)
    expect(page.locator("td.comment-text").first).to_be_visible()
    assert "0912" not in page.content() and "[phone number]" in page.content()
    screenshot(page, "manager-cases-1-list-en")
    page.locator("tr:not(.overdue) th a").first.click()
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("p.notice[role=status]")).to_contain_text("acknowledged")
    page.fill("textarea[name=text]", "Chúng tôi đã xin lỗi và nhắc cán bộ.")
    page.get_by_role("button", name="Record the answer").click()
    expect(page.locator("dd.comment-text").last).to_contain_text("Chúng tôi đã xin lỗi")
    page.get_by_role("button", name="Close the case").click()
    expect(page.locator("p.notice[role=status]")).to_contain_text("closed")
    screenshot(page, "manager-cases-2-closed-en")

    page.goto(f"{base}/manager/?lang=en")
    expect(page.locator("#cases-heading")).to_be_visible()
    page.locator("#cases-heading").scroll_into_view_if_needed()
    screenshot(page, "manager-cases-3-dashboard-en")

    page.get_by_role("link", name="Misuse review", exact=True).click()
    expect(page.locator("table.misuse tbody tr")).to_have_count(1)
    page.locator("table.misuse button", has_text="Confirm the flag").click()
    expect(page.locator("table.misuse")).to_contain_text("Confirmed")
    screenshot(page, "manager-cases-4-misuse-en")


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("path", ["/manager/cases", "/manager/cases/1", "/manager/misuse"])
def test_case_and_misuse_pages_have_no_accessibility_violations(site, open_page, path, lang):
    base, email = site
    page = open_page(viewport=VIEWPORTS["desktop"], locale="vi-VN", bypass_csp=True)
    sign_in(page, base, email, lang)
    page.goto(f"{base}{path}?lang={lang}")
    assert page.locator("html").get_attribute("lang") == lang
    assert axe_violations(page) == []
    if lang == "vi":
        screenshot(page, "manager-cases-5" + path.replace("/", "-"))
