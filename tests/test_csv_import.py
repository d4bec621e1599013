"""Bulk CSV import of transactions: the command line (progress, bad rows by line, re-import changes nothing)
and POST /api/v1/transactions/import (same validation as the API, key scoping, whole-file errors as 400)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from survey.api.keys import create_api_key
from survey.extensions import db
from survey.models import Transaction
from tests.conftest import make_place

HEADER = "dossier_code,office_code,counter_code,procedure_code,officer_code,received_at,due_at,returned_at\n"


def csv_text(hn, hp) -> str:
    return (
        HEADER                                                                                            # line 1
        + f"000.00.16.H26-260301-0001,{hn.office_code},{hn.counter_code},1.005169,CB-01,"
          "2026-03-01T09:30:00+07:00,2026-03-06,2026-03-05T16:00:00+07:00\n"                               # 2 good
        + f"H26.001.02-260301-TC0001,{hn.office_code},,1.005169,,2026-03-01T10:00:00,,\n"                  # 3 good
        + "\n"                                                                                            # 4 blank
        + f"000.00.16.H26-260230-0002,{hn.office_code},,1.005169,,2026-03-01T10:00:00,,\n"                 # 5 30 Feb
        + f"000.00.16.H26-260301-0003,NO-SUCH-OFFICE,,1.005169,,2026-03-01T10:00:00,,\n"                   # 6 office
        + f"000.00.16.H26-260301-0004,{hp.office_code},,1.005169,,2026-03-01T10:00:00,,\n"                 # 7 scope
        + f"000.00.16.H26-260301-0005,{hn.office_code},,1.005169\n"                                        # 8 short
        + f'"000.00.16.H26-260301-0006",{hn.office_code},,1.005169,"CB\n02",2026-03-01T10:00:00,,\n'       # 9-10
        + f"000.00.16.H26-260301-0007,{hn.office_code},,1.005169,,2026-03-02T10:00:00,2026-03-01,\n"       # 11 order
    )


@pytest.fixture
def places(app):
    with app.app_context():
        return make_place("HN"), make_place("HP")


def stored_codes(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(select(Transaction.dossier_code)))


def test_cli_import_reports_bad_rows_by_line_with_progress(app, runner, places, tmp_path):
    hn, hp = places
    path = tmp_path / "dossiers.csv"
    path.write_text(csv_text(hn, hp), encoding="utf-8-sig")  # with the byte-order mark a spreadsheet writes
    result = runner.invoke(args=["transactions", "import", str(path), "--unit", "HN", "--batch-size", "3"])
    assert result.exit_code == 1, result.output                  # some rows were refused
    lines = {int(line.split(":")[0].split()[1]): line.split(":")[1].strip()
             for line in result.stdout.splitlines() if line.startswith("line ")}
    assert lines == {5: "bad_dossier_code", 6: "unknown_office", 7: "out_of_scope", 8: "bad_row",
                     9: "bad_officer_code", 11: "bad_time_order"}
    # Progress after every batch of three data rows (blank lines skipped), on stderr.
    assert [line.split(" rows read")[0] for line in result.stderr.splitlines()] == ["3", "6", "8"]
    assert "Done: 2 of 8 rows stored (2 new)." in result.stdout
    assert stored_codes(app) == ["000.00.16.H26-260301-0001", "H26.001.02-260301-TC0001"]
    with app.app_context():
        first = db.session.scalar(select(Transaction).where(Transaction.dossier_code == "000.00.16.H26-260301-0001"))
        assert first.officer_code == "CB-01" and first.counter_id == hn.counter_id
        assert first.returned_at == datetime(2026, 3, 5, 9, 0) and first.due_at == datetime(2026, 3, 5, 17, 0)
    again = runner.invoke(args=["transactions", "import", str(path), "--unit", "HN"])
    assert "Done: 2 of 8 rows stored (0 new)." in again.stdout     # re-importing changes nothing
    assert stored_codes(app) == ["000.00.16.H26-260301-0001", "H26.001.02-260301-TC0001"]


def test_cli_without_unit_may_use_every_office_and_refuses_a_bad_file(app, runner, places, tmp_path):
    hn, hp = places
    path = tmp_path / "dossiers.csv"
    path.write_text(csv_text(hn, hp), encoding="utf-8")
    result = runner.invoke(args=["transactions", "import", str(path)])
    assert "line 7:" not in result.stdout and "Done: 3 of 8 rows stored (3 new)." in result.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("dossier_code,office,received_at\n", encoding="utf-8")
    refused = runner.invoke(args=["transactions", "import", str(bad)])
    assert refused.exit_code != 0 and '"office"' in refused.output
    unknown_unit = runner.invoke(args=["transactions", "import", str(path), "--unit", "NOPE"])
    assert unknown_unit.exit_code != 0 and "NOPE" in unknown_unit.output


@pytest.fixture
def key(app, places):
    with app.app_context():
        _, key = create_api_key("Hà Nội", ["HN"])
        db.session.commit()
    return key


def post(client, key, body, content_type="text/csv; charset=utf-8", lang="en"):
    return client.post(f"/api/v1/transactions/import?lang={lang}", data=body, content_type=content_type,
                       headers={"Authorization": f"Bearer {key}"} if key else {})


def test_api_import_same_validation_and_scope(app, client, places, key):
    hn, hp = places
    response = post(client, key, csv_text(hn, hp).encode())
    assert response.status_code == 200
    body = response.json
    assert (body["rows"], body["created"], body["updated"], body["unchanged"]) == (8, 2, 0, 0)
    assert [(e["line"], e["code"]) for e in body["errors"]] == [
        (5, "bad_dossier_code"), (6, "unknown_office"), (7, "out_of_scope"), (8, "bad_row"), (9, "bad_officer_code"),
        (11, "bad_time_order")]
    assert all(e["message"] for e in body["errors"])
    vietnamese = post(client, key, csv_text(hn, hp).encode(), lang="vi").json
    assert vietnamese["unchanged"] == 2 and vietnamese["created"] == 0
    assert vietnamese["errors"][0]["message"] != body["errors"][0]["message"]  # in the caller's language


@pytest.mark.parametrize("body, content_type, code", [
    (b"", "text/csv", "no_header"),
    (b"dossier_code,office\n", "text/csv", "unknown_column"),
    (b"dossier_code,dossier_code\n", "text/csv", "duplicate_column"),
    (HEADER.encode(), "text/csv", "empty_batch"),
    ("dossier_code\nđ\n".encode("utf-16"), "text/csv", "bad_encoding"),
    (b'dossier_code\n"unterminated\n', "text/csv", "bad_csv"),
    (b"{}", "application/json", "bad_csv"),
])
def test_api_import_whole_file_errors(client, key, body, content_type, code):
    response = post(client, key, body, content_type)
    assert response.status_code == 400 and response.json["code"] == code and response.json["message"]


def test_api_import_needs_a_key(client, places):
    assert post(client, None, HEADER.encode()).status_code == 401
