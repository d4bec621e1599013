"""Static files: fingerprinted addresses cached for a year, everything else revalidated; compression
where it is safe (never on pages that carry a CSRF token or a kiosk's secret address)."""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from pathlib import Path

import brotli
import pytest

STATIC = Path(__file__).resolve().parent.parent / "survey" / "static"
YEAR = "public, max-age=31536000, immutable"


def content_hash(relative: str) -> str:
    return hashlib.sha256((STATIC / relative).read_bytes()).hexdigest()[:16]


def decode(response) -> bytes:
    body = response.get_data()
    encoding = response.headers.get("Content-Encoding")
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":
        return brotli.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    assert encoding is None, encoding
    return body


@pytest.mark.parametrize("page, asset", [
    ("/", "css/survey.css"),
    ("kiosk", "css/survey.css"),
    ("kiosk", "js/kiosk.js"),
])
def test_pages_link_assets_by_a_hash_of_their_content(client, place, page, asset):
    html = client.get(place.kiosk_url if page == "kiosk" else page).get_data(as_text=True)
    assert f"/static/{asset}?v={content_hash(asset)}" in html


@pytest.mark.parametrize("asset, mimetype", [("css/survey.css", "text/css"), ("js/kiosk.js", "text/javascript")])
def test_a_fingerprinted_asset_is_cached_for_a_year(client, asset, mimetype):
    response = client.get(f"/static/{asset}", query_string={"v": content_hash(asset)})
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.headers["Cache-Control"] == YEAR
    assert decode(response) == (STATIC / asset).read_bytes()


@pytest.mark.parametrize("query", [{}, {"v": "0123456789abcdef"}], ids=["no-hash", "stale-hash"])
def test_an_unfingerprinted_or_stale_address_is_revalidated(client, query):
    response = client.get("/static/css/survey.css", query_string=query)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache"
    assert "immutable" not in response.headers["Cache-Control"]
    again = client.get("/static/css/survey.css", query_string=query,
                       headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""


def test_a_changed_file_gets_a_new_address(app, tmp_path):
    from flask import url_for

    (tmp_path / "site.css").write_text("body { color: black }")
    app.static_folder = str(tmp_path)
    with app.test_request_context():
        first = url_for("static", filename="site.css")
        (tmp_path / "site.css").write_text("body { color: navy; }")
        second = url_for("static", filename="site.css")
    assert first != second
    assert second.endswith("v=" + hashlib.sha256(b"body { color: navy; }").hexdigest()[:16])


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_assets_are_compressed_when_the_client_accepts_it(client, encoding):
    asset = "css/survey.css"
    response = client.get(f"/static/{asset}", query_string={"v": content_hash(asset)},
                          headers={"Accept-Encoding": encoding})
    assert response.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in response.headers["Vary"]
    assert int(response.headers["Content-Length"]) == len(response.get_data())
    assert len(response.get_data()) < (STATIC / asset).stat().st_size / 2
    assert decode(response) == (STATIC / asset).read_bytes()


def test_no_compression_without_accept_encoding(client):
    response = client.get("/static/css/survey.css")
    assert "Content-Encoding" not in response.headers
    assert response.get_data() == (STATIC / "css/survey.css").read_bytes()


def test_public_pages_are_compressed(client):
    plain = client.get("/methodology").get_data()
    response = client.get("/methodology", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert decode(response) == plain


@pytest.mark.parametrize("page", ["kiosk", "phone", "/manager/sign-in"])
def test_pages_with_secrets_beside_reflected_input_are_not_compressed(client, place, page):
    """BREACH: a CSRF token or the kiosk's address next to echoed query arguments must not be
    compressed, or its value leaks through the response sizes."""
    url = {"kiosk": place.kiosk_url, "phone": place.phone_url}.get(page, page)
    response = client.get(url, query_string={"probe": "csrf_token"}, headers={"Accept-Encoding": "gzip, br"})
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert re.search(r'name="csrf_token"', response.get_data(as_text=True))


@pytest.mark.parametrize("path", ["/static/%00", "/static/css/%00survey.css", "/static/..%2f..%2fpyproject.toml"])
def test_crafted_static_paths_are_a_404(client, path):
    """A NUL byte or a parent-directory step in a static path is a 404, never a 500 (found by the fuzz)."""
    response = client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == 404
