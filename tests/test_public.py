"""The public pages: both languages, the controls, charts (small, accessible SVG), the methodology
(from docs/methodology.md, shipped in the wheel), page weight, and bad input fuzzed."""

from __future__ import annotations

import re
import shutil
from urllib.parse import quote
import xml.etree.ElementTree as ET
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from survey.demo import seed_demo
from survey.extensions import db
from survey.public import methodology
from survey.results.service import forget_live_results
from tests.conftest import make_app

TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def site(tmp_path_factory, migrated_sqlite):
    """A demo site for the whole module (read-only tests)."""
    path = tmp_path_factory.mktemp("site") / "site.sqlite"
    shutil.copy(migrated_sqlite, path)
    forget_live_results()
    app = make_app(f"sqlite:///{path}", RESULTS_TODAY=TODAY)
    with app.app_context():
        seed_demo(ratings=2500, seed=4, end_date=date(2026, 10, 31))
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


PAGES = ["/", "/?level=commune&period=2026-Q3", "/?level=office&period=2026-08", "/u/HN", "/methodology", "/data"]


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("lang, words", [
    ("vi", ["Kết quả", "Phương pháp", "Dữ liệu mở"]),
    ("en", ["Results", "Methodology", "Open data"]),
])
def test_pages_speak_both_languages(site, path, lang, words):
    response = site.test_client().get(path + ("&" if "?" in path else "?") + f"lang={lang}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'<html lang="{lang}">' in html and all(word in html for word in words)


def test_results_page_in_vietnamese_reads_vietnamese(site):
    html = site.test_client().get("/", query_string={"lang": "vi", "period": "2026-Q3"}).get_data(as_text=True)
    for phrase in ("Chỉ số hài lòng (khoảng tin cậy 95%)", "So sánh công bằng", "Quý 3/2026", "Tỉnh, thành phố",
                   "Tạm tính: kỳ này đã kết thúc"):
        assert phrase in html
    english = site.test_client().get("/", query_string={"lang": "en", "period": "2026-Q3"}).get_data(as_text=True)
    assert "Satisfaction index (95% interval)" in english and "Chỉ số hài lòng (khoảng" not in english


def test_the_default_is_the_last_complete_quarter(site):
    html = site.test_client().get("/", query_string={"lang": "en"}).get_data(as_text=True)
    assert re.search(r'<option value="2026-Q3" selected>', html)
    assert "Provinces and cities · Quarter 3/2026" in html


def test_the_controls_are_a_get_form_that_needs_no_script(site):
    html = site.test_client().get("/").get_data(as_text=True)
    form = re.search(r'<form class="controls" method="get" action="/">(.*?)</form>', html, re.S).group(1)
    assert {"level", "period", "questionnaire", "unit"} <= set(re.findall(r'<select id="(\w+)" name="\1"', form))
    assert '<button type="submit"' in form and "<script" not in html
    for name in ("level", "period", "questionnaire", "unit"):
        assert f'<label for="{name}">' in form


def test_similar_units_view_keeps_units_of_similar_volume(site):
    client = site.test_client()
    rows = client.get("/api/v1/results", query_string={"level": "province", "period": "2026-Q3"}).get_json()["units"]
    pick = sorted(rows, key=lambda r: r["n"])[len(rows) // 2]
    html = client.get("/", query_string={"level": "province", "period": "2026-Q3", "compare": "similar",
                                          "around": pick["code"]}).get_data(as_text=True)
    shown = set(re.findall(r'data-code="([^"]+)"', html))
    expected = {r["code"] for r in rows if pick["n"] / 2 <= r["n"] <= 2 * pick["n"]}
    assert shown == expected and pick["code"] in shown and len(shown) < len(rows)


def test_pages_link_the_charts_and_follow_each_with_a_table(site):
    html = site.test_client().get("/", query_string={"period": "2026-Q3"}).get_data(as_text=True)
    for chart in ("/charts/forest.svg", "/charts/funnel.svg"):
        position = html.index(chart)
        assert "<table" in html[position:position + 5000]
    assert "cdn" not in html.lower() and "https://" not in html.split("<footer")[0]


@pytest.mark.parametrize("path", ["/charts/forest.svg?period=2026-Q3", "/charts/funnel.svg?period=2026-Q3",
                                  "/u/HN/trend.svg?period=2026-Q3", "/u/HN/badge.svg?period=2026-Q3"])
def test_charts_are_small_accessible_svg_without_fonts(site, path):
    client = site.test_client()
    response = client.get(path)
    svg = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg" and root.get("role") == "img"
    assert root.find(f"{ns}title") is not None and root.find(f"{ns}title").text.strip()
    assert "@font-face" not in svg and "<font" not in svg and "DejaVuSans-" not in svg  # no embedded glyphs
    assert len(svg.encode()) < 60_000
    again = client.get(path, headers={"If-None-Match": response.headers["ETag"].strip('"')})
    assert again.status_code == 304  # cached per revision


def test_forest_chart_draws_only_units_with_enough_ratings(site):
    client = site.test_client()
    rows = client.get("/api/v1/results", query_string={"level": "office", "period": "2026-Q3"}).get_json()["units"]
    svg = client.get("/charts/forest.svg", query_string={"level": "office", "period": "2026-Q3"}).get_data(as_text=True)
    labels = set(re.findall(r"<text[^>]*>([^<]+)</text>", svg))
    published = [r for r in rows if r["publishable"]]
    withheld = [r for r in rows if not r["publishable"] and r["n"] > 0]
    assert published and withheld
    short = [lambda r: r["name"][:29].rstrip() + "…" if len(r["name"]) > 30 else r["name"]][0]
    assert all(any(short(r) in label for label in labels) for r in published[:5])
    ambiguous = {short(r) for r in published}  # commune names repeat across provinces
    assert not any(short(r) in label for r in withheld if short(r) not in ambiguous for label in labels)


def test_page_weight_stays_under_150_kb(site):
    client = site.test_client()
    html = client.get("/", query_string={"period": "2026-Q3"}).get_data()
    assets = re.findall(r'(?:href|src)="(/(?:static|charts)/[^"]+)"', html.decode())
    total = len(html)
    for asset in assets:
        with client.get(asset.replace("&amp;", "&")) as response:  # static files are streamed: close them
            total += len(response.get_data())
    assert len(assets) >= 4 and total < 150_000


def test_methodology_shows_one_language_at_a_time(site):
    client = site.test_client()
    vi = client.get("/methodology", query_string={"lang": "vi"}).get_data(as_text=True)
    en = client.get("/methodology", query_string={"lang": "en"}).get_data(as_text=True)
    source = methodology.methodology_path().read_text(encoding="utf-8")
    vi_heading = next(line[3:] for line in source.splitlines() if line.startswith("## ") and "Tiếng Việt" in line)
    en_heading = next(line[3:] for line in source.splitlines() if line.startswith("## ") and "English" in line)
    assert vi_heading in vi and en_heading not in vi
    assert en_heading in en and vi_heading not in en
    assert "<table>" in vi and "<h2>" in vi and "<h1>" in vi and vi.count("<h1>") == 1
    assert "Excluded as suspected misuse" in en and "Bị loại do nghi ngờ" in vi


def test_methodology_escapes_raw_html_in_the_document():
    html = methodology.split_by_language("# T\n\n<script>alert(1)</script>\n\n## Phần 1 — Tiếng Việt\n\nA\n\n"
                                         "## Part 2 — English\n\nB\n", "vi")
    assert "B" not in html and "A" in html
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark", {"html": False}).render(html)
    assert "<script>" not in rendered


def test_the_wheel_ships_the_methodology(tmp_path):
    """The page reads survey/docs/methodology.md from the installed package: the build must put it there."""
    hatchling = pytest.importorskip("hatchling.builders.wheel")
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    builder = hatchling.WheelBuilder(str(root))
    wheel = next(iter(builder.build(directory=str(tmp_path), versions=["standard"])))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "survey/docs/methodology.md" in names
        packaged = archive.read("survey/docs/methodology.md").decode()
    assert packaged == (root / "docs" / "methodology.md").read_text(encoding="utf-8")
    assert "survey/templates/public/results.html" in names and "survey/static/css/public.css" in names


BAD = st.one_of(st.text(max_size=40), st.sampled_from(["2026-Q5", "2026-13", "99999", "0000-Q1", "2026-Q1'",
                                                        "province\x00", "<script>", "-1", "1e9", "2030-Q1"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(level=BAD, period=BAD, questionnaire=BAD, unit=BAD, revision=BAD, fmt=st.sampled_from(["json", "csv", "xml"]))
def test_bad_requests_get_a_message_never_a_500(site, level, period, questionnaire, unit, revision, fmt):
    client = site.test_client()
    args = {"level": level, "period": period, "questionnaire": questionnaire, "unit": unit, "revision": revision}
    api = client.get("/api/v1/results", query_string={**args, "format": fmt, "lang": "vi"})
    assert api.status_code < 500
    if api.status_code >= 400:
        body = api.get_json()
        assert set(body) == {"code", "message"} and body["message"] and re.fullmatch(r"[a-z_]+", body["code"])
    page = client.get("/", query_string={**args, "lang": "vi"})
    assert page.status_code < 500
    if page.status_code >= 400:
        assert 'role="alert"' in page.get_data(as_text=True)
    for path in ("/charts/forest.svg", "/charts/funnel.svg"):
        assert client.get(path, query_string=args).status_code < 500
    code = quote(unit or "x", safe="")
    assert client.get(f"/u/{code}", query_string={"period": period}).status_code < 500
    assert client.get(f"/u/{code}/badge.svg", query_string={"period": period}).status_code < 500


@pytest.mark.parametrize("path, status, code", [
    ("/api/v1/results?level=country", 400, "bad_level"),
    ("/api/v1/results?period=2026-Q5", 400, "bad_period"),
    ("/api/v1/results?questionnaire=nope", 400, "bad_questionnaire"),
    ("/api/v1/results?unit=NOPE", 404, "unknown_unit"),
    ("/api/v1/results?format=xml", 400, "bad_format"),
    ("/api/v1/results?period=2026-Q3&revision=4", 404, "no_revision"),
    ("/api/v1/results?period=2031-Q1", 400, "future_period"),
    ("/api/v1/snapshots/999.csv", 404, "no_snapshot"),
    ("/api/v1/nothing-here", 404, "not_found"),
])
def test_api_errors_have_stable_codes_and_translated_messages(site, path, status, code):
    client = site.test_client()
    vi = client.get(path, headers={"Accept-Language": "vi"})
    en = client.get(path, headers={"Accept-Language": "en"})
    assert (vi.status_code, vi.get_json()["code"]) == (status, code) == (en.status_code, en.get_json()["code"])
    assert vi.get_json()["message"] != en.get_json()["message"]


def test_api_answers_405_in_json(site):
    response = site.test_client().post("/api/v1/results")
    assert response.status_code == 405 and response.get_json()["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("chart", ["forest", "funnel"])
def test_a_chart_with_no_publishable_unit_says_so(site, chart):
    """A month of a rarely used questionnaire: every commune below the minimum (was a 500 in the browser)."""
    client = site.test_client()
    units = client.get("/api/v1/results", query_string={"level": "commune", "period": "2026-08",
                                                        "questionnaire": "dossier"}).get_json()["units"]
    assert units and not any(u["publishable"] for u in units)
    svg = client.get(f"/charts/{chart}.svg", query_string={"level": "commune", "period": "2026-08",
                                                          "questionnaire": "dossier", "lang": "en"})
    assert svg.status_code == 200 and "No unit has enough ratings to draw." in svg.get_data(as_text=True)


def test_old_results_address_keeps_any_query_and_never_fails(client):
    # ?endpoint= and ?_external= are url_for's own parameters: they must not reach it as keywords.
    for query in ("endpoint=x&level=province", "_method=X", "_external=1&period=2026-Q3"):
        response = client.get(f"/results?{query}")
        assert response.status_code == 301, query
        assert response.headers["Location"] == f"/?{query}"
    assert client.get("/results").headers["Location"] == "/"
