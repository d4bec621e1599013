"""Languages from the catalogs present, one command to add one, right-to-left from Babel's data, and
per-kiosk timings (issue 9)."""

from __future__ import annotations

import re
import shutil

import pytest
from babel.messages.pofile import read_po, write_po
from click.testing import CliRunner
from sqlalchemy import func, select

from survey.catalogs import CATALOG_DIR, catalog_languages, compile_catalogs
from survey.cli import add_language_command
from survey.extensions import db
from survey.models import AuditEntry, Kiosk
from tests.conftest import hidden_fields, make_app, make_place
from tests.test_kiosk_service import register, site  # noqa: F401  (fixture)
from tests.test_dashboard import signed_in


def copy_catalogs(tmp_path):
    target = tmp_path / "translations"
    shutil.copytree(CATALOG_DIR, target, ignore=shutil.ignore_patterns("*.mo"))
    return target


def translate(po_path, strings: dict[str, str]) -> None:
    with po_path.open("rb") as f:
        catalog = read_po(f)
    for msgid, msgstr in strings.items():
        catalog[msgid].string = msgstr
    with po_path.open("wb") as f:
        write_po(f, catalog, width=100)


def test_the_shipped_catalogs_are_the_languages_default_first():
    assert catalog_languages(CATALOG_DIR, "vi") == {"vi": "Tiếng Việt", "en": "English"}


def test_add_language_creates_a_catalog_from_the_template(tmp_path):
    directory = copy_catalogs(tmp_path)
    result = CliRunner().invoke(add_language_command, ["km", "--directory", str(directory)])
    assert result.exit_code == 0, result.output
    po = directory / "km" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as f:
        catalog = read_po(f)
    with (directory / "messages.pot").open("rb") as f:
        template = read_po(f)
    assert str(catalog.locale) == "km"
    assert {m.id for m in catalog if m.id} == {m.id for m in template if m.id}
    assert (directory / "km" / "LC_MESSAGES" / "messages.mo").exists()
    assert catalog_languages(directory, "vi") == {"vi": "Tiếng Việt", "en": "English", "km": "ខ្មែរ"}
    # Twice, or a code Babel does not know: refused with a message, nothing overwritten.
    again = CliRunner().invoke(add_language_command, ["km", "--directory", str(directory)])
    assert again.exit_code == 1 and "exists already" in again.output
    unknown = CliRunner().invoke(add_language_command, ["xx", "--directory", str(directory)])
    assert unknown.exit_code == 1 and "does not know" in unknown.output
    assert not (directory / "xx").exists()


@pytest.fixture
def rtl_app(tmp_path, migrated_sqlite):
    """The app with an Arabic catalog made by the command, a few strings translated."""
    directory = copy_catalogs(tmp_path)
    CliRunner().invoke(add_language_command, ["ar", "--directory", str(directory)], catch_exceptions=False)
    translate(directory / "ar" / "LC_MESSAGES" / "messages.po", {"Thank you": "شكرا لك"})
    compile_catalogs(directory)  # a copied tree is not the source checkout: its .mo files are made here
    shutil.copy(migrated_sqlite, tmp_path / "x.sqlite")
    return make_app(f"sqlite:///{tmp_path / 'x.sqlite'}", BABEL_TRANSLATION_DIRECTORIES=str(directory))


def html_attrs(html: str) -> tuple[str, str]:
    """The page's language and direction (``ltr``, HTML's default, is not written out)."""
    match = re.search(r'<html lang="([^"]+)"(?: dir="([^"]+)")?>', html)
    return match[1], match[2] or "ltr"


def test_a_new_catalog_appears_in_the_switch_and_rtl_comes_from_babel(rtl_app):
    assert list(rtl_app.config["LANGUAGES"]) == ["vi", "ar", "en"]  # the default, then by code
    client = rtl_app.test_client()
    vi = client.get("/").get_data(as_text=True)
    assert html_attrs(vi) == ("vi", "ltr")
    assert 'hreflang="ar">العربية</a>' in vi
    assert html_attrs(client.get("/", query_string={"lang": "ar"}).get_data(as_text=True)) == ("ar", "rtl")
    assert html_attrs(client.get("/", query_string={"lang": "en"}).get_data(as_text=True)) == ("en", "ltr")


def kiosk_address_and_id(site, client) -> tuple[str, int]:
    html = register(client, office="HNA").get_data(as_text=True)
    address = re.search(r'id="kiosk-address"[^>]*value="([^"]+)"', html)[1].replace("http://localhost", "")
    with site.app_context():
        return address, db.session.scalar(select(Kiosk.id))


#: The four timings a manager sets per kiosk (the page carries others too, e.g. the heartbeat).
TIMINGS = ("idle", "warning", "thanks", "confirm")


def kiosk_timings(html: str) -> dict[str, int]:
    return {name: int(value) for name, value in re.findall(r'data-(\w+)-seconds="(\d+)"', html) if name in TIMINGS}


def test_a_manager_sets_a_kiosks_timings_and_the_kiosk_page_uses_them(site):  # noqa: F811
    client = signed_in(site, "a@x.vn")
    address, kiosk_id = kiosk_address_and_id(site, client)
    config = site.config
    defaults = {"idle": config["KIOSK_IDLE_SECONDS"], "warning": config["KIOSK_WARNING_SECONDS"],
                "thanks": config["KIOSK_THANKS_SECONDS"], "confirm": config["KIOSK_CONFIRM_SECONDS"]}
    assert kiosk_timings(site.test_client().get(address).get_data(as_text=True)) == defaults
    page = client.get(f"/manager/kiosks/{kiosk_id}").get_data(as_text=True)
    token = hidden_fields(page)
    response = client.post(f"/manager/kiosks/{kiosk_id}/timings",
                           data={**token, "confirm": "12", "idle": "", "warning": "45", "thanks": "5"})
    assert response.status_code == 302
    assert "timings are saved" in client.get(response.headers["Location"]).get_data(as_text=True)
    # The empty field keeps the default; the others are the kiosk's own.
    assert kiosk_timings(site.test_client().get(address).get_data(as_text=True)) == {
        "idle": config["KIOSK_IDLE_SECONDS"], "warning": 45, "thanks": 5, "confirm": 12}
    with site.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "kiosk_timings_changed")).one()
        assert entry.actor.email == "a@x.vn" and entry.target_id == kiosk_id
    # The same values again change nothing and write no second entry.
    client.post(f"/manager/kiosks/{kiosk_id}/timings",
                data={**token, "confirm": "12", "idle": "", "warning": "45", "thanks": "5"})
    with site.app_context():
        assert db.session.scalar(select(func.count()).where(AuditEntry.action == "kiosk_timings_changed")) == 1


@pytest.mark.parametrize("field, value", [
    ("confirm", "2"), ("confirm", "61"), ("warning", "19"), ("idle", "29"), ("thanks", "0"), ("confirm", "abc")])
def test_timings_outside_their_bounds_are_refused(site, field, value):  # noqa: F811
    client = signed_in(site, "a@x.vn")
    _, kiosk_id = kiosk_address_and_id(site, client)
    token = hidden_fields(client.get(f"/manager/kiosks/{kiosk_id}").get_data(as_text=True))
    response = client.post(f"/manager/kiosks/{kiosk_id}/timings", data={**token, field: value})
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert client.post(f"/manager/kiosks/{kiosk_id}/timings", data={field: "30"}).status_code == 400  # no CSRF
    with site.app_context():
        kiosk = db.session.get(Kiosk, kiosk_id)
        assert (kiosk.confirm_seconds, kiosk.idle_seconds, kiosk.warning_seconds, kiosk.thanks_seconds) == (None,) * 4


def test_citizen_error_pages_give_help_and_a_kiosk_goes_back_by_itself(app, client, place):
    seconds = app.config["KIOSK_ERROR_RETURN_SECONDS"]
    # An unknown step of a kiosk: the kiosk's own start page, help, and the return.
    kiosk = client.get(place.kiosk_url + "/no/such/step", query_string={"lang": "en"})
    html = kiosk.get_data(as_text=True)
    assert kiosk.status_code == 404
    link = re.search(r'<a class="button primary" id="error-next"([^>]*) href="([^"]+)">', html)
    assert link[2] == place.kiosk_url and link[1] == f' data-return-seconds="{seconds}"', link[0]
    assert f"goes back to the start by itself in {seconds} seconds" in html
    assert "please ask the office staff" in html and "js/error-return.js" in html
    # A phone has no one else waiting: help and a link, no automatic return.
    phone = client.get("/r/NO-SUCH-CODE", query_string={"lang": "en"}).get_data(as_text=True)
    assert "please ask the office staff" in phone and "data-return-seconds" not in phone
    assert "error-return.js" not in phone
    # An unknown public address: neither.
    public = client.get("/no-such-page", query_string={"lang": "en"}).get_data(as_text=True)
    assert "office staff" not in public and "data-return-seconds" not in public


def test_a_new_language_translates_the_questionnaire_texts_too(tmp_path, migrated_sqlite):
    """The catalog made by the command carries every shipped question and scale word (context
    "questionnaire"); translated ones show in that language, the others stay English."""
    directory = copy_catalogs(tmp_path)
    CliRunner().invoke(add_language_command, ["km", "--directory", str(directory)], catch_exceptions=False)
    po_path = directory / "km" / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as f:
        catalog = read_po(f)
    questionnaire = {m.id for m in catalog if m.context == "questionnaire"}
    # The default questionnaire's overall question and two of its follow-ups, and the five-point scale's ends,
    # as templates.py writes them (copied here by hand, so a text missing from the catalog fails).
    overall = "How satisfied are you with the service you just received?"
    follow_up = "The civil servant who handled your case"
    assert {overall, follow_up, "Access to the service (location, facilities, convenience)",
            "Very satisfied", "Very dissatisfied"} <= questionnaire
    catalog.get(overall, context="questionnaire").string = "តើអ្នកពេញចិត្តនឹងសេវាកម្មនេះកម្រិតណា?"
    catalog.get("Very satisfied", context="questionnaire").string = "ពេញចិត្តខ្លាំង"
    with po_path.open("wb") as f:
        write_po(f, catalog, width=100)
    compile_catalogs(directory)
    shutil.copy(migrated_sqlite, tmp_path / "x.sqlite")
    app = make_app(f"sqlite:///{tmp_path / 'x.sqlite'}", BABEL_TRANSLATION_DIRECTORIES=str(directory))
    with app.app_context():
        place = make_place()
    client = app.test_client()
    khmer = client.get(f"/r/{place.counter_code}", query_string={"lang": "km"}).get_data(as_text=True)
    assert "តើអ្នកពេញចិត្តនឹងសេវាកម្មនេះកម្រិតណា?" in khmer and "ពេញចិត្តខ្លាំង" in khmer
    assert overall not in khmer and "Very dissatisfied" in khmer  # untranslated: English
    # Vietnamese and English keep their own columns.
    vi = client.get(f"/r/{place.counter_code}", query_string={"lang": "vi"}).get_data(as_text=True)
    assert "Ông/Bà hài lòng như thế nào với dịch vụ vừa nhận được?" in vi
    en = client.get(f"/r/{place.counter_code}", query_string={"lang": "en"}).get_data(as_text=True)
    assert overall in en and "Very satisfied" in en
