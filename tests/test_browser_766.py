"""The unit page's 766-compatible rate in a real browser (Debian's chromium through Playwright): no axe-core
violation in either language, nothing scrolls sideways on a 360 px phone. Screenshots go to
``test-artifacts/unit-766-*.png``."""

from __future__ import annotations

import shutil
import threading

import pytest

from tests.test_browser_public import (  # noqa: F401  (fixtures)
    VIEWPORTS, axe_violations, browser, open_page, screenshot,
)
from tests.test_public_766 import dossiers

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory, migrated_sqlite):
    from werkzeug.serving import make_server

    from survey.extensions import db
    from tests.conftest import make_app, make_place

    path = tmp_path_factory.mktemp("unit-766") / "site.sqlite"
    shutil.copy(migrated_sqlite, path)
    app = make_app(f"sqlite:///{path}")
    with app.app_context():
        place = make_place("HN")
        dossiers(place.office_id, 40, late=4, ratings=(1, 1, 5, 5, 5, 5))
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/u/{place.office_code}?period=2026-03"
    server.shutdown()
    thread.join(5)
    server.server_close()
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_766_block_is_accessible_and_fits_a_phone(site, open_page, lang):
    page = open_page(viewport=VIEWPORTS["desktop"], locale="vi-VN", bypass_csp=True)
    page.goto(f"{site}&lang={lang}")
    assert page.locator(".rate-766 strong").inner_text().replace("\u00a0", " ") in ("85.0%", "85,0 %", "85,0%")
    assert axe_violations(page) == []
    phone = open_page(viewport=VIEWPORTS["phone"], locale="vi-VN")
    phone.goto(f"{site}&lang={lang}")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(phone, f"unit-766-{lang}-phone")
