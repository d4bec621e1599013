"""The single-use link page in a real browser (Debian's chromium through Playwright): a citizen
opens the link on a phone, answers, sends, is thanked; the link opened again says it was used.
axe-core finds no accessibility violation on the form. Screenshots go to ``test-artifacts/link-*.png``.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("SURVEY_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no chromium at {CHROMIUM} (install Debian's chromium or set SURVEY_CHROMIUM)",
                allow_module_level=True)
try:
    from playwright.sync_api import sync_playwright
except ImportError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"playwright is not importable ({exc}); install the 'test' extra", allow_module_level=True)

from sqlalchemy import select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from survey.api.keys import create_api_key  # noqa: E402
from survey.extensions import db  # noqa: E402
from survey.models import Channel, Rating  # noqa: E402
from tests.conftest import make_app, make_place  # noqa: E402

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"


@pytest.fixture
def site(tmp_path, migrated_sqlite):
    path = tmp_path / "site.sqlite"
    shutil.copy(migrated_sqlite, path)
    app = make_app(f"sqlite:///{path}")
    with app.app_context():
        place = make_place("HN")
        _, key = create_api_key("Hà Nội", ["HN"])
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    response = app.test_client().post(
        "/api/v1/transactions?qr=none", base_url=base,
        json={"dossier_code": "000.00.16.H26-260301-0001", "office_code": place.office_code,
              "procedure_code": "1.005169", "received_at": "2026-03-01T08:15:00+07:00"},
        headers={"Authorization": f"Bearer {key}"})
    yield app, response.json["rating_url"]
    server.shutdown()
    thread.join(5)
    server.server_close()
    with app.app_context():
        db.engine.dispose()


def test_a_citizen_rates_through_the_link_once(site):
    app, url = site
    ARTIFACTS.mkdir(exist_ok=True)
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 360, "height": 800}, locale="vi-VN", bypass_csp=True)
        page.set_default_timeout(15000)
        # The used link answers 409 on purpose; any other failure is a problem.
        page.on("console", lambda msg: msg.type == "error" and "409" not in msg.text and problems.append(msg.text))
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.goto(url)
        assert page.locator("h1").inner_text() == "Ông/Bà đánh giá thế nào về việc giải quyết hồ sơ của mình?"
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        assert [f"{v['impact']}: {v['id']}" for v in result["violations"]] == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.screenshot(path=str(ARTIFACTS / "link-form.png"), full_page=True)
        page.locator("fieldset").first.locator("label").nth(3).click()
        page.locator("fieldset").nth(1).locator("label").last.click()
        page.get_by_role("button", name="Gửi").click()
        page.wait_for_url("**/l/thanks")
        page.screenshot(path=str(ARTIFACTS / "link-thanks.png"), full_page=True)
        page.goto(url)
        assert "đã được sử dụng" in page.locator("[role=alert]").inner_text()
        page.screenshot(path=str(ARTIFACTS / "link-used.png"), full_page=True)
        browser.close()
    assert problems == []
    with app.app_context():
        [rating] = db.session.scalars(select(Rating)).all()
        assert rating.channel == Channel.LINK and rating.overall_value == 4 and len(rating.answers) == 2
