"""Finishing a sign-in's second step in tests, the way a person with an authenticator app would."""

from __future__ import annotations

import re

import pyotp

from survey.extensions import db
from survey.manager import twofactor
from survey.models import User
from tests.conftest import hidden_fields


def totp_key(html: str) -> str:
    """The key shown on the enrolment page (what the QR code also holds)."""
    return re.search(r'id="totp-key"[^>]*value="([A-Z2-7]+)"', html)[1]


def stored_secret(app, email: str, *, forget_last_code: bool = False) -> str:
    """The decrypted secret of an enrolled account (what the person's app holds). ``forget_last_code``
    lets a test sign the same account in twice within one 30-second step, as if the clock had moved on."""
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(email=email))
        secret = twofactor._decrypt(user.totp_secret)
        if forget_last_code:
            user.totp_last_step = None
            db.session.commit()
        return secret


def finish_second_step(app, client, response, email: str, **request_options):
    """After a right password: enrol (administrators without a factor) or type the code, as needed."""
    location = response.headers.get("Location", "") if response.status_code == 302 else ""
    if location.endswith("/manager/sign-in/two-factor"):
        page = client.get(location, **request_options).get_data(as_text=True)
        code = pyotp.TOTP(totp_key(page)).now()
        return client.post(location, data={**hidden_fields(page), "code": code}, **request_options)
    if location.endswith("/manager/sign-in/code"):
        page = client.get(location, **request_options).get_data(as_text=True)
        code = pyotp.TOTP(stored_secret(app, email, forget_last_code=True)).now()
        return client.post(location, data={**hidden_fields(page), "code": code}, **request_options)
    return response


def finish_second_step_in_browser(page, app, base: str, email: str) -> None:
    """After the password step in a real browser: enrol (an administrator's first sign-in) or type the
    code from the stored secret, as the person's authenticator app would; ends on the dashboard."""
    page.wait_for_url(lambda url: url.split("?")[0].endswith(("/manager/", "/sign-in/two-factor", "/sign-in/code")))
    url = page.url.split("?")[0]
    if url.endswith("/sign-in/two-factor"):
        page.fill("input[name=code]", pyotp.TOTP(page.locator("#totp-key").input_value()).now())
        page.locator("main button[type=submit], main input[type=submit]").first.click()
    elif url.endswith("/sign-in/code"):
        page.fill("input[name=code]", pyotp.TOTP(stored_secret(app, email, forget_last_code=True)).now())
        page.locator("main button[type=submit], main input[type=submit]").first.click()
    page.wait_for_url(f"{base}/manager/")
