"""QR posters (survey.kiosks.posters): PDF and SVG, A4 and A5, read back with real readers — pypdf for
the page size and the text, PDFium to render the page, zxing-cpp to scan the code — from the module,
the manager pages and the ``survey poster`` command."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.kiosks.posters import INSTRUCTION_EN, INSTRUCTION_VI, QUIET_ZONE, PosterContent, PosterError, make_qr, poster
from survey.manager.operations import create_user
from survey.models import Unit
from tests.test_authorisation import LANGUAGE_LINK
from tests.test_dashboard import PASSWORD, signed_in

#: ISO 216 in points (1 pt = 1/72 in, 1 in = 25.4 mm): A4 210 × 297 mm, A5 148 × 210 mm.
PAGE_POINTS = {"a4": (210 / 25.4 * 72, 297 / 25.4 * 72), "a5": (148 / 25.4 * 72, 210 / 25.4 * 72)}
OFFICE = "Trung tâm Phục vụ hành chính công tỉnh Thừa Thiên Huế"
COUNTER = "Quầy số 3 — Đất đai, xây dựng"
ADDRESS = "https://khaosat.example.vn/r/TTH-TTHCC-Q03"


def pdf_text_and_size(data: bytes) -> tuple[str, tuple[float, float], int]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    page = reader.pages[0]
    return page.extract_text(), (float(page.mediabox.width), float(page.mediabox.height)), len(reader.pages)


def scan_pdf(data: bytes, save_as=None) -> list[str]:
    """Render the page with PDFium (3 px per point) and scan it: what a phone camera would read."""
    import pypdfium2
    import zxingcpp

    document = pypdfium2.PdfDocument(data)
    try:
        image = document[0].render(scale=3).to_pil()
    finally:
        document.close()
    if save_as is not None:
        image.save(save_as)
    return [code.text for code in zxingcpp.read_barcodes(image.convert("L"))]


def scan_svg(svg: str) -> list[str]:
    """Fill the poster SVG's rectangles (matplotlib writes the code as ``M L L L z`` squares of one
    path) into an image, 2 px per point, and scan it."""
    import zxingcpp

    root = ET.fromstring(svg)
    width = float(root.get("width").removesuffix("pt"))
    height = float(root.get("height").removesuffix("pt"))
    paths = [p.get("d") for p in root.iter("{http://www.w3.org/2000/svg}path")]
    code_path = max(paths, key=lambda d: d.count("z"))  # the page background is one rectangle, the code hundreds
    image = np.full((int(height * 2) + 1, int(width * 2) + 1), 255, dtype=np.uint8)
    for square in re.findall(r"M ([^z]*)z", code_path):
        points = np.array([float(v) for v in re.findall(r"-?[\d.]+", square)]).reshape(-1, 2) * 2
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        image[round(y0):round(y1), round(x0):round(x1)] = 0
    return [code.text for code in zxingcpp.read_barcodes(image)]


@pytest.mark.parametrize("size", ["a4", "a5"])
def test_pdf_poster_page_size_text_font_and_code(size, tmp_path):
    data = poster(PosterContent(OFFICE, COUNTER, ADDRESS), kind="pdf", size=size)
    assert data.startswith(b"%PDF-")
    text, (width, height), pages = pdf_text_and_size(data)
    assert pages == 1
    assert (round(width), round(height)) == {"a4": (595, 842), "a5": (420, 595)}[size]
    assert (width, height) == pytest.approx(PAGE_POINTS[size], abs=0.01)
    flat = " ".join(text.split())  # long names are wrapped over lines
    for expected in (OFFICE, COUNTER, INSTRUCTION_VI, INSTRUCTION_EN, ADDRESS):
        assert expected in flat, (expected, text)
    assert b"/FontFile2" in data  # the TrueType font travels with the file: diacritics print anywhere
    assert scan_pdf(data, tmp_path / f"poster-{size}.png") == [ADDRESS]


def test_the_code_has_high_error_correction_and_a_wide_quiet_zone():
    code = make_qr(ADDRESS)
    assert code.error == "H" and not code.is_micro and QUIET_ZONE >= 4  # ISO/IEC 18004 asks for 4 modules


def test_a5_is_a4_scaled_down():
    a4 = pdf_text_and_size(poster(PosterContent(OFFICE, None, ADDRESS), kind="pdf", size="a4"))[1]
    a5 = pdf_text_and_size(poster(PosterContent(OFFICE, None, ADDRESS), kind="pdf", size="a5"))[1]
    assert a4[0] / a5[0] == pytest.approx(210 / 148) and a4[1] / a5[1] == pytest.approx(297 / 210)


@pytest.mark.parametrize("size", ["a4", "a5"])
def test_svg_poster_size_text_and_code(size):
    svg = poster(PosterContent(OFFICE, COUNTER, ADDRESS), kind="svg", size=size).decode()
    root = ET.fromstring(svg)
    width, height = (float(root.get(name).removesuffix("pt")) for name in ("width", "height"))
    assert (width, height) == pytest.approx(PAGE_POINTS[size], abs=0.01)
    texts = " ".join(t.text for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for expected in (OFFICE, COUNTER, INSTRUCTION_VI, INSTRUCTION_EN, ADDRESS):
        assert expected in texts.replace(" ", " "), expected
    assert OFFICE in root.find("{http://www.w3.org/2000/svg}title").text
    assert "<script" not in svg and "DejaVu Sans" in svg
    # No style attribute or element: the site's CSP (style-src 'self') would drop them in the browser.
    assert "style" not in svg
    title = next(t for t in root.iter("{http://www.w3.org/2000/svg}text") if OFFICE.startswith(t.text))
    assert title.get("font-weight") == "700" and float(title.get("font-size").removesuffix("px")) > 10
    assert scan_svg(svg) == [ADDRESS]


def test_a_long_address_is_wrapped_and_the_code_still_scans():
    address = "https://khao-sat-hai-long.trung-tam-phuc-vu-hanh-chinh-cong.example.gov.vn/r/" + "X" * 40
    data = poster(PosterContent("Ủy ban nhân dân xã Ứng Hòa", None, address), kind="pdf", size="a5")
    text = pdf_text_and_size(data)[0]
    assert "".join(text.split()).endswith(address) and "Ủy ban nhân dân xã Ứng Hòa" in " ".join(text.split())
    assert scan_pdf(data) == [address]


def test_unknown_format_or_size_is_refused():
    content = PosterContent(OFFICE, None, ADDRESS)
    with pytest.raises(PosterError):
        poster(content, kind="png")
    with pytest.raises(PosterError):
        poster(content, size="letter")


# ------------------------------------------------------------------ manager pages


@pytest.fixture
def manager(app, place):
    with app.app_context():
        office = db.session.get(Unit, place.office_id)
        create_user("posters@x.vn", "office-manager", office.code, password=PASSWORD)
        db.session.commit()
    return signed_in(app, "posters@x.vn")


def test_manager_downloads_the_posters_of_the_office_and_its_counter(app, place, manager):
    response = manager.get(f"/manager/u/{place.counter_code}/poster.pdf", query_string={"size": "a5"})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"] == f'inline; filename="poster-{place.counter_code}-a5.pdf"'
    text, size, _ = pdf_text_and_size(response.data)
    assert (round(size[0]), round(size[1])) == (420, 595)
    flat = " ".join(text.split())
    assert "Trung tâm Phục vụ hành chính công" in flat and "Quầy 1" in flat  # conftest's Vietnamese names
    address = f"http://localhost/r/{place.counter_code}"
    assert scan_pdf(response.data) == [address] and address in "".join(text.split())
    # The address on the poster is the phone rating page of that counter.
    assert app.test_client().get(f"/r/{place.counter_code}").status_code == 200

    response = manager.get(f"/manager/u/{place.office_code}/poster.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert scan_svg(response.get_data(as_text=True)) == [f"http://localhost/r/{place.office_code}"]
    width = float(ET.fromstring(response.data).get("width").removesuffix("pt"))
    assert round(width) == 595  # A4 unless asked


def test_poster_links_on_the_kiosks_page(place, manager):
    html = manager.get("/manager/kiosks").get_data(as_text=True)
    for code in (place.office_code, place.counter_code):
        for kind in ("pdf", "svg"):
            for size in ("a4", "a5"):
                assert f"/manager/u/{code}/poster.{kind}?size={size}" in html
    page = manager.get(f"/manager/u/{place.office_code}").get_data(as_text=True)  # the office's dashboard
    assert f'href="/manager/u/{place.office_code}/poster.pdf"' in page
    assert f'href="/manager/u/{place.office_code}/poster.pdf?size=a5"' in page


def test_no_poster_for_a_province_a_closed_counter_or_an_unknown_size(app, place, manager):
    with app.app_context():
        counter = db.session.get(Unit, place.counter_id)
        province_code = counter.parent.parent.code
    national = "national-posters@x.vn"
    with app.app_context():
        create_user(national, "national-admin", None, password=PASSWORD)
        db.session.commit()
    admin = signed_in(app, national)
    assert admin.get(f"/manager/u/{province_code}/poster.pdf").status_code == 404
    assert manager.get(f"/manager/u/{place.office_code}/poster.pdf?size=letter").status_code == 404
    assert manager.get(f"/manager/u/{place.office_code}/poster.png").status_code == 404
    with app.app_context():
        import datetime

        db.session.get(Unit, place.counter_id).valid_to = datetime.date(2026, 1, 1)
        db.session.commit()
    assert manager.get(f"/manager/u/{place.counter_code}/poster.pdf").status_code == 404


def test_another_office_gets_no_poster(app, place, manager):
    with app.app_context():
        from tests.conftest import make_place

        other = make_place("HCM")
    response = manager.get(f"/manager/u/{other.office_code}/poster.pdf")
    body = LANGUAGE_LINK.sub("", response.get_data(as_text=True))  # the language link repeats the address asked
    assert response.status_code == 404 and other.office_code not in body and "%PDF" not in body
    assert app.test_client().get(f"/manager/u/{place.office_code}/poster.pdf").status_code == 302  # signed out


# ------------------------------------------------------------------ the command


def test_poster_command_writes_the_file(app, runner, place, tmp_path):
    out = tmp_path / "quay.pdf"
    result = runner.invoke(args=["poster", place.counter_code, "--size", "a5", "-o", str(out),
                                 "--base-url", "https://khaosat.tinh.gov.vn"])
    assert result.exit_code == 0, result.output
    address = f"https://khaosat.tinh.gov.vn/r/{place.counter_code}"
    assert result.output.strip() == f"{out}: {address}"
    text, size, _ = pdf_text_and_size(out.read_bytes())
    assert (round(size[0]), round(size[1])) == (420, 595) and "Quầy 1" in text
    assert scan_pdf(out.read_bytes()) == [address]

    app.config["PUBLIC_BASE_URL"] = "https://danhgia.example.vn/khaosat"  # the setting, under a path
    svg_out = tmp_path / "office.svg"
    result = runner.invoke(args=["poster", place.office_code, "--format", "svg", "-o", str(svg_out)])
    assert result.exit_code == 0, result.output
    assert scan_svg(svg_out.read_text()) == [f"https://danhgia.example.vn/khaosat/r/{place.office_code}"]


def test_poster_command_refusals(app, runner, place, tmp_path):
    result = runner.invoke(args=["poster", place.office_code, "-o", str(tmp_path / "x.pdf")])
    assert result.exit_code != 0 and "--base-url" in result.output
    with app.app_context():
        province = db.session.scalar(select(Unit.code).where(Unit.id == db.session.get(Unit, place.office_id).parent_id))
    for code in ("NOPE", province):
        result = runner.invoke(args=["poster", code, "--base-url", "https://x.vn", "-o", str(tmp_path / "x.pdf")])
        assert result.exit_code != 0 and "No open office or counter" in result.output
    result = runner.invoke(args=["poster", place.office_code, "--size", "a3", "--base-url", "https://x.vn"])
    assert result.exit_code != 0
    assert not (tmp_path / "x.pdf").exists()


def test_manager_poster_prints_the_configured_public_address(app, place, manager):
    # A manager on an internal address still prints the address citizens can reach.
    app.config["PUBLIC_BASE_URL"] = "https://khaosat.example.gov.vn"
    response = manager.get(f"/manager/u/{place.office_code}/poster.svg")
    assert response.status_code == 200
    assert scan_svg(response.get_data(as_text=True)) == [f"https://khaosat.example.gov.vn/r/{place.office_code}"]


def test_a_long_address_is_broken_only_between_its_parts():
    """A citizen types the address from the poster: the office's code (with its hyphens) and every part
    of the host name stay whole on one line; lines break only after a "/" or a "."."""
    code = "HN-TTHCC-Q01-QUAY-SO-12"
    address = f"https://khao-sat-hai-long.trung-tam-phuc-vu-hanh-chinh-cong.example.gov.vn/r/{code}"
    data = poster(PosterContent("Ủy ban nhân dân xã Ứng Hòa", None, address), kind="pdf", size="a4")
    lines = [line.strip() for line in pdf_text_and_size(data)[0].splitlines()]
    address_lines = [line for line in lines if line and line.replace(" ", "") in address.replace(" ", "")
                     and any(ch in line for ch in "/.")]
    assert "".join(address_lines) == address, lines
    assert len(address_lines) >= 2  # it did need more than one line
    assert all(line.endswith(("/", ".")) for line in address_lines[:-1]), address_lines
    assert any(line.endswith(code) for line in address_lines)  # the code whole, at the end of a line
    for part in ("khao-sat-hai-long.", "trung-tam-phuc-vu-hanh-chinh-cong."):
        assert any(part in line for line in address_lines), (part, address_lines)
    assert scan_pdf(data) == [address]
