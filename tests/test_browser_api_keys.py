"""The API key pages in a real browser (Debian's chromium through Playwright): a provincial
administrator creates a key, copies it from the page, the key registers a dossier, the key's page
shows that activity, and revoking it refuses the key; a CSV file uploaded on the import page gets its
report; axe-core finds no accessibility violation on the key list, a key's page, the import page and
an import's report. Screenshots go to the test's temporary folder."""

from __future__ import annotations

import json
import shutil
import threading
import urllib.error
import urllib.request

import pytest

from tests.twofactor_helpers import finish_second_step_in_browser
from tests.test_browser_public import (  # noqa: F401 - fixtures and helpers shared with the public pages
    CHROMIUM, VIEWPORTS, axe_violations, browser, open_page,
)

from playwright.sync_api import expect  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from survey.extensions import db  # noqa: E402
from survey.manager.operations import create_user  # noqa: E402
from tests.conftest import make_app, make_place  # noqa: E402

pytestmark = pytest.mark.browser
PASSWORD = "browser-password-1"
#: The site's app, for reading an administrator's second factor as their authenticator app holds it.
SITE_APP: list = []


@pytest.fixture(scope="module")
def site(tmp_path_factory, migrated_sqlite):
    path = tmp_path_factory.mktemp("keys-browser") / "site.sqlite"
    shutil.copy(migrated_sqlite, path)
    app = make_app(f"sqlite:///{path}")
    SITE_APP[:] = [app]
    with app.app_context():
        place = make_place("HN")
        create_user("admin-hn@x.vn", "province-admin", "HN", password=PASSWORD)
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", place
    server.shutdown()
    thread.join(5)
    server.server_close()
    with app.app_context():
        db.engine.dispose()


def sign_in(page, base: str, lang: str) -> None:
    page.goto(f"{base}/manager/sign-in?lang={lang}")
    page.fill("input[name=email]", "admin-hn@x.vn")
    page.fill("input[name=password]", PASSWORD)
    page.locator("input[type=submit], button[type=submit]").first.click()
    finish_second_step_in_browser(page, SITE_APP[0], base, "admin-hn@x.vn")


def register(base: str, key: str, place, code: str) -> int:
    body = json.dumps({"dossier_code": code, "office_code": place.office_code, "procedure_code": "1.005169",
                       "received_at": "2026-03-01T08:15:00+07:00"}).encode()
    request = urllib.request.Request(f"{base}/api/v1/transactions?qr=none", data=body, method="POST", headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_create_use_and_revoke_a_key_in_the_browser(site, open_page, tmp_path):
    base, place = site
    page = open_page(viewport=VIEWPORTS["desktop"], locale="en-US")
    sign_in(page, base, "en")
    page.get_by_role("link", name="API keys", exact=True).click()
    page.fill("#name", "Browser one-stop system")
    page.select_option("#units", ["HN"])
    page.get_by_role("button", name="Create the key").click()
    expect(page.locator("h1")).to_contain_text("API key created")
    key = page.locator("#api-key").input_value()
    assert key.startswith("svk_")
    page.screenshot(path=str(tmp_path / "api-key-created.png"), full_page=True)

    assert register(base, key, place, "000.00.16.H26-260301-0001") == 201
    page.get_by_role("link", name="Key details").click()
    row = page.locator("#activity-caption ~ tbody tr").first
    expect(row.locator("td").first).to_have_text("1")
    assert key not in page.content()
    page.screenshot(path=str(tmp_path / "api-key-page.png"), full_page=True)

    page.get_by_role("button", name="Revoke this key").click()
    expect(page.locator("p.notice[role=status]")).to_contain_text("revoked")
    assert register(base, key, place, "000.00.16.H26-260301-0002") == 401


def test_upload_a_csv_file_and_see_its_report(site, open_page, tmp_path):
    base, place = site
    page = open_page(viewport=VIEWPORTS["phone"], locale="en-US")
    sign_in(page, base, "en")
    page.goto(f"{base}/manager/transactions/import?lang=en")
    body = ("dossier_code,office_code,procedure_code,received_at\n"
            f"000.00.16.H26-260302-0001,{place.office_code},1.005169,2026-03-02T08:15:00+07:00\n"
            f"000.00.16.H26-260302-0002,NOPE,1.005169,2026-03-02T08:15:00+07:00\n").encode()
    page.set_input_files("#file", files=[{"name": "two.csv", "mimeType": "text/csv", "buffer": body}])
    page.get_by_role("button", name="Import the file").click()
    expect(page.locator("h1")).to_contain_text("Import of two.csv")
    expect(page.locator("p.notice[role=status]")).to_contain_text("Finished")
    expect(page.locator("#refused-caption ~ tbody tr")).to_have_count(1)
    expect(page.locator("#refused-caption ~ tbody tr td").first).to_have_text("unknown_office")
    page.screenshot(path=str(tmp_path / "import-report.png"), full_page=True)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_key_pages_have_no_accessibility_violations(site, open_page, lang, tmp_path):
    base, _ = site
    page = open_page(viewport=VIEWPORTS["phone"], locale="vi-VN", bypass_csp=True)
    sign_in(page, base, lang)
    for path in ("/manager/api-keys", "/manager/api-keys/1", "/manager/transactions/import",
                 "/manager/transactions/imports/1"):
        page.goto(f"{base}{path}?lang={lang}")
        assert page.locator("html").get_attribute("lang") == lang
        page.screenshot(path=str(tmp_path / f"page-{path.replace('/', '-')}-{lang}.png"), full_page=True)
        assert axe_violations(page) == [], path
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (path, "scrolls sideways")
    page.screenshot(path=str(tmp_path / f"import-{lang}-360.png"), full_page=True)
