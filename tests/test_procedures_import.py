"""Importing the procedure catalogue from CSV (survey.procedures.operations, ``survey procedures import``):
codes checked, bad rows reported by line with the reason, re-import idempotent, every change audited."""

from __future__ import annotations

import json

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from survey.extensions import db
from survey.models import AuditEntry, Procedure
from survey.procedures.operations import CatalogueFormatError, import_procedures

CATALOGUE = (
    "code,name_vi,name_en,field,time_limit_days\n"
    "1.005169,Đăng ký khai sinh,Birth registration,Hộ tịch,0\n"
    "2.000488,Cấp phiếu lý lịch tư pháp,,Lý lịch tư pháp,10\n"
    "\n"
    "1.5169,Sai mã,,,\n"                               # line 5: not a national code
    "1.000894,,Marriage,Hộ tịch,\n"                     # line 6: no Vietnamese name
    "1.000894,Đăng ký kết hôn,Marriage,Hộ tịch,ba\n"    # line 7: days not a number
    "1.005169,Đăng ký khai sinh lần hai,,,\n"           # line 8: code already on line 2
    "3.000123,Thủ tục,,,,thừa\n"                        # line 9: a cell too many
    "1.000894,Đăng ký kết hôn,Marriage registration,Hộ tịch,5\n"
)


def codes_and_names() -> dict[str, tuple]:
    return {p.code: (p.name_vi, p.name_en, p.field, p.time_limit_days) for p in db.session.scalars(select(Procedure))}


def test_good_rows_are_stored_and_bad_rows_reported_by_line(app):
    with app.app_context():
        report = import_procedures(CATALOGUE.encode(), actor=None)
        db.session.commit()
        assert (report.rows, report.created, report.updated, report.unchanged) == (8, 3, 0, 0)
        with force_locale("en"):
            reasons = [(e.line, str(e.message)) for e in report.errors]
        assert reasons == [
            (5, "“1.5169” is not a national catalogue code (like 1.005169)."),
            (6, "The Vietnamese name (name_vi) is empty."),
            (7, "time_limit_days must be a whole number of days from 0 to 3650."),
            (8, "The code 1.005169 is already on line 2."),
            (9, "The row has more cells than the header has columns."),
        ]
        stored = codes_and_names()
        assert stored == {
            "1.005169": ("Đăng ký khai sinh", "Birth registration", "Hộ tịch", 0),
            "2.000488": ("Cấp phiếu lý lịch tư pháp", None, "Lý lịch tư pháp", 10),
            "1.000894": ("Đăng ký kết hôn", "Marriage registration", "Hộ tịch", 5),
        }
        created = list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "procedure_created")))
        assert sorted(json.loads(e.data)["code"] for e in created) == sorted(stored)


def test_a_reimport_changes_nothing_and_an_edited_file_updates_names(app):
    with app.app_context():
        import_procedures(CATALOGUE.encode(), actor=None)
        db.session.commit()
        again = import_procedures(CATALOGUE.encode(), actor=None)
        assert (again.created, again.updated, again.unchanged, len(again.errors)) == (0, 0, 3, 5)
        edited = ("\ufeffname_vi,code\n"  # a spreadsheet's byte-order mark, columns in another order
                  "Đăng ký khai sinh (sửa),1.005169\n"
                  "Đăng ký nhận cha mẹ con,1.001022\n")
        report = import_procedures(edited.encode(), actor=None)
        db.session.commit()
        assert (report.created, report.updated, report.unchanged, report.errors) == (1, 1, 0, [])
        # Columns left out of the file are emptied: the file is the catalogue's whole record of the procedure.
        assert codes_and_names()["1.005169"] == ("Đăng ký khai sinh (sửa)", None, None, None)
        [update] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "procedure_updated"))
        assert json.loads(update.data)["before"]["name_vi"] == "Đăng ký khai sinh"
        assert len(codes_and_names()) == 4


@pytest.mark.parametrize("data, code", [
    (b"", "no_header"),
    (b"code,name\n1.005169,x\n", "bad_header"),  # unknown column, name_vi missing
    (b"code,name_vi,code\n", "bad_header"),
    ("code,name_vi\n1.005169,Tên\n".encode("utf-16"), "bad_encoding"),
    (b'code,name_vi\n1.005169,"unclosed\n', "bad_csv"),
])
def test_files_that_cannot_be_read_store_nothing(app, data, code):
    with app.app_context():
        with pytest.raises(CatalogueFormatError) as refused:
            import_procedures(data, actor=None)
        assert refused.value.code == code
        db.session.rollback()
        assert codes_and_names() == {}


def test_the_import_command(app, tmp_path):
    path = tmp_path / "catalogue.csv"
    path.write_text(CATALOGUE, encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["procedures", "import", str(path)])
    assert result.exit_code == 1  # some rows were refused
    # Reasons in the default language (Vietnamese), the summary in English like the other commands.
    assert "line 5: “1.5169” không phải là mã thủ tục trong Cơ sở dữ liệu quốc gia" in result.output
    assert "8 rows: 3 added, 0 updated, 0 unchanged, 5 refused." in result.output
    with app.app_context():
        assert len(codes_and_names()) == 3
