"""Page weight (#9): a kiosk on a slow connection and a phone on a weak signal load the rating page with
everything it needs (HTML, stylesheet, scripts, the offline queue included) in under 40 KB, as served:
compressed where the app compresses (gzip here), headers counted."""

from __future__ import annotations

import gzip
import re

import pytest

BUDGET = 40 * 1024
ASSET = re.compile(r'<(?:link[^>]+rel="stylesheet"[^>]+href|script[^>]+src|img[^>]+src)="([^"]+)"')


def transferred(response) -> int:
    headers = sum(len(f"{name}: {value}\r\n") for name, value in response.headers.items())
    return len(response.get_data()) + headers


@pytest.mark.parametrize("device", ["kiosk", "phone"])
def test_rating_page_with_all_its_assets_is_under_40_kb(client, place, device):
    url = place.kiosk_url if device == "kiosk" else place.phone_url
    page = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assets = [href.replace("&amp;", "&") for href in ASSET.findall(html)]
    expected = {"css/survey.css", "js/speech.js"} | ({"js/kiosk.js"} if device == "kiosk" else set())
    assert {re.sub(r"^/static/|\?.*$", "", href) for href in assets} == expected
    sizes = {url: transferred(page)}
    for href in assets:
        response = client.get(href, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        body = response.get_data()
        # Served compressed: the bytes sent are gzip, and they unpack to the file itself.
        assert response.headers.get("Content-Encoding") == "gzip", href
        assert len(gzip.decompress(body)) > len(body)
        sizes[href] = transferred(response)
    total = sum(sizes.values())
    assert total < BUDGET, f"{device} page weighs {total} bytes: {sizes}"


def test_the_offline_queue_is_part_of_the_kiosk_weight(client, place):
    """The kiosk script counted above is the one with the offline queue (not a stub that loads more)."""
    html = client.get(place.kiosk_url).get_data(as_text=True)
    [script] = [src for src in ASSET.findall(html) if "kiosk.js" in src]
    source = client.get(script.replace("&amp;", "&")).get_data(as_text=True)
    assert "localStorage" in source and "data-sync-url" in source
    assert not re.search(r"""(?:import\s*\(|importScripts|src\s*=\s*["'])""", source)
