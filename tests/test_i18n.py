"""Locale negotiation and the completeness of the message catalogs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from survey.i18n import TRANSLATIONS_DIR

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None,
            "pgettext": ((1, "c"), 2)}
# The README's extract command reads babel.cfg (the questionnaire texts have their own extractor): so does this.
with (ROOT / "babel.cfg").open() as _cfg:
    METHOD_MAP, OPTIONS_MAP = parse_mapping_cfg(_cfg)


def lang_of(response) -> str:
    html = response.get_data(as_text=True)
    return html.split('<html lang="', 1)[1].split('"', 1)[0]


@pytest.mark.parametrize("query, session_lang, accept, expected", [
    (None, None, None, "vi"),                 # default
    (None, None, "en-US,en;q=0.9", "en"),     # Accept-Language
    (None, None, "fr,de", "vi"),              # nothing we speak: default
    (None, "en", "vi", "en"),                 # session beats Accept-Language
    ("vi", "en", "en", "vi"),                 # explicit switch beats session
    ("en", None, "vi", "en"),
    ("xx", None, None, "vi"),                 # unknown explicit choice is ignored
])
def test_locale_priority(client, query, session_lang, accept, expected):
    if session_lang:
        with client.session_transaction() as session:
            session["lang"] = session_lang
    headers = {"Accept-Language": accept} if accept else {}
    response = client.get("/", query_string={"lang": query} if query else None, headers=headers)
    assert lang_of(response) == expected


def test_switch_is_remembered_and_reset_forgets_it(client, place):
    client.get(place.kiosk_url, query_string={"lang": "en"})
    assert lang_of(client.get(place.kiosk_url)) == "en"
    assert lang_of(client.get(place.kiosk_url, query_string={"reset": 1})) == "vi"
    assert lang_of(client.get(place.kiosk_url)) == "vi"


def test_kiosk_ignores_the_tablets_browser_language(client, place):
    # The tablet's Accept-Language describes the device, not the citizen in front of it.
    headers = {"Accept-Language": "en-US,en;q=0.9"}
    assert lang_of(client.get(place.kiosk_url, headers=headers)) == "vi"
    assert lang_of(client.get(place.kiosk_url, query_string={"reset": 1}, headers=headers)) == "vi"
    assert lang_of(client.get(place.phone_url, headers=headers)) == "en"  # a phone is the citizen's own


def test_switch_link_points_to_the_same_page_in_the_other_language(client, place):
    html = client.get(place.kiosk_url).get_data(as_text=True)
    assert f'href="{place.kiosk_url}?lang=en"' in html
    assert 'lang="en" hreflang="en">English</a>' in html


def _extracted_ids() -> set[str]:
    ids = set()
    for _, _, message, _, _ in extract_from_dir(str(ROOT), METHOD_MAP, OPTIONS_MAP, keywords=KEYWORDS):
        ids.add(message[0] if isinstance(message, tuple) else message)
    return ids


def _catalog(path: Path):
    with path.open("rb") as f:
        return read_po(f)


def test_every_string_in_code_and_templates_is_translated_in_vietnamese():
    catalog = _catalog(TRANSLATIONS_DIR / "vi" / "LC_MESSAGES" / "messages.po")
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(_extracted_ids() - translated)
    assert not missing, f"Untranslated in vi (run the README's catalog update, then translate): {missing}"


def test_english_catalog_is_complete_and_the_template_is_fresh():
    extracted = _extracted_ids()
    template = {m.id for m in _catalog(TRANSLATIONS_DIR / "messages.pot") if m.id}
    assert template == extracted, "survey/translations/messages.pot is stale: re-run the extract command in the README"
    english = {m.id for m in _catalog(TRANSLATIONS_DIR / "en" / "LC_MESSAGES" / "messages.po") if m.id and m.string}
    assert extracted <= english


def test_vietnamese_translations_keep_their_placeholders():
    placeholder = re.compile(r"%\([a-z_]+\)[sd]|%%")
    for message in _catalog(TRANSLATIONS_DIR / "vi" / "LC_MESSAGES" / "messages.po"):
        if message.id:
            assert sorted(placeholder.findall(message.id)) == sorted(placeholder.findall(message.string)), message.id


def test_startup_refuses_a_configured_locale_without_catalog(tmp_path):
    from survey import create_app

    with pytest.raises(RuntimeError, match="No message catalog"):
        create_app({"TESTING": True, "SECRET_KEY": "x", "LANGUAGES": {"vi": "Tiếng Việt", "fr": "Français"},
                    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite", "RATELIMIT_STORAGE_URI": "memory://"})
