"""Large text and high contrast (#9) without JavaScript: plain links that switch a mode, a cookie that
keeps it on the device, and the mode drawn as a class on ``<html>`` from the first byte."""

from __future__ import annotations

import re

import pytest

from tests.conftest import hidden_fields, overall_field



def html_classes(html: str) -> set[str]:
    match = re.search(r"<html\b[^>]*>", html)
    found = re.search(r'class="([^"]*)"', match.group(0))
    return set(found.group(1).split()) if found else set()


def toggle(html: str, mode: str) -> tuple[str, str]:
    """The switch for ``mode``: its address and whether it is pressed."""
    match = re.search(rf'<a class="display-link" href="([^"]+)" role="button" data-display="{mode}"\s+'
                      rf'aria-pressed="(true|false)"', html)
    assert match, f"no {mode} switch"
    return match.group(1).replace("&amp;", "&"), match.group(2)


@pytest.mark.parametrize("device", ["kiosk", "phone"])
def test_each_mode_is_one_link_and_is_remembered(client, place, device):
    url = place.kiosk_url if device == "kiosk" else place.phone_url
    html = client.get(url).get_data(as_text=True)
    assert html_classes(html) == set()
    assert toggle(html, "large-text")[1] == "false" and toggle(html, "high-contrast")[1] == "false"

    href, _ = toggle(html, "large-text")
    assert href.startswith(url + "?") and "large-text=on" in href
    response = client.get(href)
    assert response.status_code == 200
    assert "display=large-text" in response.headers["Set-Cookie"]
    assert "HttpOnly" not in response.headers["Set-Cookie"]  # the kiosk script keeps it in step
    html = response.get_data(as_text=True)
    assert html_classes(html) == {"large-text"}
    assert toggle(html, "large-text")[1] == "true"

    # Remembered: the plain address now opens in large text; contrast adds to it; each goes off again.
    html = client.get(url).get_data(as_text=True)
    assert html_classes(html) == {"large-text"}
    html = client.get(toggle(html, "high-contrast")[0]).get_data(as_text=True)
    assert html_classes(html) == {"large-text", "high-contrast"}
    html = client.get(toggle(html, "large-text")[0]).get_data(as_text=True)
    assert html_classes(html) == {"high-contrast"}
    assert toggle(html, "high-contrast")[1] == "true" and toggle(html, "large-text")[1] == "false"
    html = client.get(url).get_data(as_text=True)
    assert html_classes(html) == {"high-contrast"}


def test_the_mode_applies_to_every_step_and_a_tap_still_counts(client, place):
    client.get(place.kiosk_url, query_string={"high-contrast": "on"})
    html = client.get(place.kiosk_url).get_data(as_text=True)
    response = client.post(place.kiosk_url, data={**hidden_fields(html), overall_field(html): "4"})
    assert response.status_code == 303
    confirm = client.get(response.headers["Location"]).get_data(as_text=True)
    assert html_classes(confirm) == {"high-contrast"}
    # The switch on a page is the same page with the mode switched back.
    href, pressed = toggle(confirm, "high-contrast")
    assert pressed == "true" and href.startswith(response.headers["Location"].split("?")[0] + "?")


@pytest.mark.parametrize("query, cookie", [
    ({"large-text": "yes"}, None), ({"large-text": "on<script>"}, None), ({"high-contrast": ["on", "off"]}, None),
    ({}, "large-text.evil.<b>"), ({}, "x" * 3000),
])
def test_unknown_values_are_ignored(client, place, query, cookie):
    if cookie is not None:
        client.set_cookie("display", cookie)
    response = client.get(place.phone_url, query_string=query)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html_classes(html) <= {"large-text", "high-contrast"}
    assert "evil" not in html and "<b>" not in html.split("<body", 1)[0]


def test_the_switch_never_leads_off_site(client, place):
    html = client.get("//evil.example/r/" + place.phone_url.split("/")[-1]).get_data(as_text=True)
    for mode in ("large-text", "high-contrast"):
        assert not toggle(html, mode)[0].startswith("//")
