"""The XLSX export: the same masked rows as the CSV export, written by openpyxl's write-only mode to a
temporary file and streamed; memory measured flat from 4,000 to 80,000 ratings; the file removed."""

from __future__ import annotations

import csv
import io
import tempfile
import tracemalloc
from datetime import date
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select, update

from survey.extensions import db
from survey.manager.exports import ratings_csv, ratings_xlsx, write_ratings_xlsx
from survey.manager.operations import create_user
from survey.models import Questionnaire, Rating, UnitLevel
from survey.units.scope import Scope
from tests.test_dashboard import PASSWORD, signed_in, unit
from tests.test_exports import fill


def read_rows(data: bytes) -> list[tuple]:
    book = load_workbook(io.BytesIO(data), read_only=True)
    try:
        return list(book["ratings"].iter_rows(values_only=True))
    finally:
        book.close()


def peak_while_writing(scope: Scope, path: Path) -> tuple[int, int]:
    """(peak traced bytes, ratings written) while the whole XLSX file is written."""
    tracemalloc.start()
    try:
        rows = write_ratings_xlsx(str(path), scope)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, rows


def test_xlsx_memory_does_not_grow_with_the_ratings(app, tmp_path):
    with app.app_context():
        province = unit("HN", UnitLevel.PROVINCE)
        office = unit("HNA", UnitLevel.OFFICE, province)
        db.session.flush()
        questionnaire_id = db.session.scalar(select(Questionnaire.id).limit(1))
        scope = Scope("province-admin", province.id, "HN")
        fill(4000, office.id, questionnaire_id, 0)
        db.session.commit()
        small, small_rows = peak_while_writing(scope, tmp_path / "small.xlsx")
        fill(76000, office.id, questionnaire_id, 4000)
        db.session.commit()
        large, large_rows = peak_while_writing(scope, tmp_path / "large.xlsx")
        # Side by side: an ordinary (not write-only) workbook holding 20,000 of the same rows.
        from openpyxl import Workbook

        tracemalloc.start()
        book = Workbook()
        sheet = book.active
        for i in range(20000):
            sheet.append([i, date(2026, 10, 1), "HNA", "", "phone", 3, "", f"rating {i}: call [phone number]"])
        _, held = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del book, sheet
    assert (small_rows, large_rows) == (4000, 80000)
    assert large < 1.5 * small + 512 * 1024, (small, large)
    assert large < held / 4, (large, held)
    book = load_workbook(tmp_path / "large.xlsx", read_only=True)
    try:
        rows = book["ratings"].iter_rows(values_only=True)
        header, first = next(rows), next(rows)
        assert header[:3] == ("rating_id", "service_date", "office_code")
        assert first[0] == 1 and first[1].date() == date(2026, 10, 1) and first[2] == "HNA"
        assert first[-1] == "rating 0: call [phone number]"
        assert sum(1 for _ in rows) == 80000 - 1
    finally:
        book.close()


def test_the_xlsx_holds_the_csv_rows_and_its_file_is_removed(app, monkeypatch, tmp_path):
    exports_dir = tmp_path / "exports"
    exports_dir.mkdir()
    with app.app_context():
        province = unit("HN", UnitLevel.PROVINCE)
        office = unit("HNA", UnitLevel.OFFICE, province)
        db.session.flush()
        questionnaire_id = db.session.scalar(select(Questionnaire.id).limit(1))
        fill(30, office.id, questionnaire_id, 0)
        db.session.execute(update(Rating).where(Rating.id == 2)
                           .values(comment="=HYPERLINK(\"http://evil\") \x07 mail a@b.vn"))
        db.session.commit()
        scope = Scope("province-admin", province.id, "HN")
        csv_rows = list(csv.reader(io.StringIO("".join(ratings_csv(scope)))))
        monkeypatch.setattr(tempfile, "tempdir", str(exports_dir))
        pieces = ratings_xlsx(scope)
        data = next(pieces)
        assert [p.suffix for p in exports_dir.iterdir()] == [".xlsx"]  # written, being sent
        data += b"".join(pieces)
    assert list(exports_dir.iterdir()) == []  # the temporary file is gone once sent
    xlsx_rows = read_rows(data)
    as_text = [["" if v is None else (v.date().isoformat() if hasattr(v, "date") else str(v)) for v in row]
               for row in xlsx_rows]
    csv_rows[2][-1] = csv_rows[2][-1].replace("\x07", "")  # a control character an XLSX cell cannot hold
    assert as_text == csv_rows
    assert xlsx_rows[2][-1] == "'=HYPERLINK(\"http://evil\")  mail [email]"


def test_the_xlsx_route_streams_the_scope(app):
    with app.app_context():
        province = unit("HN", UnitLevel.PROVINCE)
        unit("HNA", UnitLevel.OFFICE, province)
        db.session.flush()
        create_user("hn@x.vn", "province-admin", "HN", password=PASSWORD)
        db.session.commit()
    response = signed_in(app, "hn@x.vn").get("/manager/export/ratings.xlsx")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert 'filename="ratings-HN.xlsx"' in response.headers["Content-Disposition"]
    rows = read_rows(response.get_data())
    assert len(rows) == 1  # the header, no ratings yet
