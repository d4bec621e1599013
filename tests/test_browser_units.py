"""The unit page and the procedure catalogue in a real browser (Debian's chromium through Playwright):
a provincial administrator adds a counter, enters a score and records a merger through the forms; a
national administrator imports a catalogue file; axe-core finds no accessibility violation of any
impact. Screenshots go to the test's temporary folder."""

from __future__ import annotations

import shutil
import threading

import pytest

from tests.twofactor_helpers import finish_second_step_in_browser
from tests.test_browser_public import (  # noqa: F401 - fixtures and helpers shared with the public pages
    VIEWPORTS, axe_violations, browser, open_page,
)

from playwright.sync_api import expect  # noqa: E402
from sqlalchemy import select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from survey.extensions import db  # noqa: E402
from survey.manager.operations import create_user  # noqa: E402
from survey.models import Unit, UnitLevel  # noqa: E402
from survey.results.service import forget_live_results  # noqa: E402
from survey.results.tree import forget_unit_tree  # noqa: E402
from tests.conftest import make_app  # noqa: E402
from tests.test_procedures_import import CATALOGUE  # noqa: E402

pytestmark = pytest.mark.browser
PASSWORD = "browser-password-1"
#: The site's app, for reading an administrator's second factor as their authenticator app holds it.
SITE_APP: list = []


@pytest.fixture(scope="module")
def site(tmp_path_factory, migrated_sqlite):
    path = tmp_path_factory.mktemp("units-browser") / "site.sqlite"
    shutil.copy(migrated_sqlite, path)
    forget_live_results()
    forget_unit_tree()
    app = make_app(f"sqlite:///{path}")
    SITE_APP[:] = [app]
    with app.app_context():
        hn = Unit(code="HN", level=UnitLevel.PROVINCE, name_vi="Hà Nội", name_en="Ha Noi")
        for code, vi, en in (("HN-A", "Trung tâm A", "Centre A"), ("HN-B", "Trung tâm B", "Centre B")):
            office = Unit(code=code, level=UnitLevel.OFFICE, parent=hn, name_vi=vi, name_en=en)
            db.session.add(Unit(code=f"{code}-Q1", level=UnitLevel.COUNTER, parent=office, name_vi="Quầy 1",
                                name_en="Counter 1"))
        db.session.add(hn)
        db.session.flush()
        create_user("national@x.vn", "national-admin", None, password=PASSWORD)
        create_user("admin-hn@x.vn", "province-admin", "HN", password=PASSWORD)
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app
    server.shutdown()
    thread.join(5)
    server.server_close()
    forget_live_results()
    forget_unit_tree()
    with app.app_context():
        db.engine.dispose()


def sign_in(page, base: str, email: str, lang: str) -> None:
    page.goto(f"{base}/manager/sign-in?lang={lang}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("input[type=submit], button[type=submit]").first.click()
    finish_second_step_in_browser(page, SITE_APP[0], base, email)


def test_an_administrator_changes_the_tree_through_the_unit_page(site, open_page, tmp_path):
    base, app = site
    page = open_page(viewport=VIEWPORTS["desktop"], locale="vi-VN")
    sign_in(page, base, "admin-hn@x.vn", "en")
    page.goto(f"{base}/manager/units/HN-A?lang=en")
    page.select_option("#add-level", "counter")
    page.fill("#add-code", "HN-A-Q2")
    page.fill("#add-name_vi", "Quầy 2")
    page.click("#add-submit")
    expect(page.locator("h1")).to_have_text("Quầy 2")  # English name left out: the Vietnamese one shows
    page.goto(f"{base}/manager/units/HN-A?lang=en")
    page.select_option("#score-index_number", "5")
    page.select_option("#score-points", "1")
    page.fill("#score-valid_from", "2026-10-01")
    page.fill("#score-note", "Inspection 12/BB")
    page.click("#score-submit")
    expect(page.locator("#scores-caption ~ tbody tr").first).to_contain_text(
        "5. Dossier received, handled and its result returned at the one-stop unit")
    page.select_option("#merge-successor", "HN-B")
    page.fill("#merge-on", "2026-10-01")
    page.click("#merge-submit")
    expect(page.locator("p.notice[role=status]")).to_contain_text("The merger is recorded")
    page.screenshot(path=str(tmp_path / "unit-merged-en.png"), full_page=True)
    with app.app_context():
        merged = db.session.scalar(select(Unit).where(Unit.code == "HN-A"))
        assert (merged.successor.code, str(merged.valid_to)) == ("HN-B", "2026-09-30")
        assert db.session.scalar(select(Unit.parent_id).where(Unit.code == "HN-A-Q2")) == merged.id


def test_a_national_administrator_imports_the_catalogue(site, open_page, tmp_path):
    base, _ = site
    page = open_page(viewport=VIEWPORTS["desktop"], locale="vi-VN")
    sign_in(page, base, "national@x.vn", "vi")
    page.goto(f"{base}/manager/procedures?lang=vi")
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text(CATALOGUE, encoding="utf-8")
    page.set_input_files("#file", str(catalogue))
    page.click("#submit")
    expect(page.locator(".import-errors li").first).to_contain_text("Dòng 5:")
    expect(page.locator("#procedures-caption")).to_have_text("3 thủ tục trong danh mục")
    page.screenshot(path=str(tmp_path / "procedures-vi.png"), full_page=True)


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("email, path", [("admin-hn@x.vn", "/manager/units/HN-B"),
                                         ("admin-hn@x.vn", "/manager/units/HN"),
                                         ("admin-hn@x.vn", "/manager/units/HN-B/evaluation"),
                                         ("national@x.vn", "/manager/procedures")])
def test_the_unit_pages_have_no_accessibility_violations(site, open_page, email, path, lang):
    base, _ = site
    page = open_page(viewport=VIEWPORTS["desktop"], locale="vi-VN", bypass_csp=True)
    sign_in(page, base, email, lang)
    page.goto(f"{base}{path}?lang={lang}")
    assert page.locator("html").get_attribute("lang") == lang
    assert axe_violations(page) == []
