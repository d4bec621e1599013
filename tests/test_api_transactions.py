"""POST /api/v1/transactions: dossier codes in both formats, key scoping, idempotent re-sends,
batches with bad rows, single-use links and their QR codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
import re
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import func, select

from survey.api.keys import create_api_key
from survey.extensions import db
from survey.models import Transaction
from survey.transactions.codes import dossier_code_format, parse_time
from tests.conftest import make_place

CIRCULAR = "000.00.16.H26-260301-0001"
NATIONAL = "H26.001.02-260301-TC0001"


@pytest.mark.parametrize("code, expected", [
    (CIRCULAR, "circular-01-2018"),
    ("G01.09.02.H26-251231-9999", "circular-01-2018"),
    (NATIONAL, "national-2026"),
    ("G22.ABC.01-260125-AB0042", "national-2026"),
    ("000.00.16.H26-260230-0001", None),      # 30 February
    ("000.00.16.H26-261301-0001", None),      # month 13
    ("000.00.16.H26-260301-001", None),       # three-digit sequence
    ("000.00.16.26-260301-0001", None),       # no letter M
    ("H26.001.02-260301-0001", None),         # national format without the AA part
    ("000.00.16.h26-260301-0001", None),      # lower case
    ("000.00.16.H26-260301-0001\n", None),
    ("", None),
])
def test_dossier_code_formats(code, expected):
    assert dossier_code_format(code) == expected


def test_times_without_offset_are_vietnam_time():
    assert parse_time("2026-03-01T09:30:00") == parse_time("2026-03-01T02:30:00Z")
    assert parse_time("2026-03-01T09:30:00+07:00").hour == 2
    for bad in ("yesterday", "2026-02-30T10:00:00", "1900-01-01T00:00:00", 12, None):
        assert parse_time(bad) is None


@pytest.fixture
def setup(app):
    """Two provinces with an office each, and a key for each province."""
    with app.app_context():
        hn, hp = make_place("HN"), make_place("HP")
        _, key_hn = create_api_key("Hà Nội", ["HN"])
        _, key_hp = create_api_key("Hải Phòng", ["HP"])
        db.session.commit()
    return {"hn": hn, "hp": hp, "key_hn": key_hn, "key_hp": key_hp}


def item(place, code=CIRCULAR, **extra):
    return {"dossier_code": code, "office_code": place.office_code, "counter_code": place.counter_code,
            "procedure_code": "1.005169", "officer_code": "CB-017", "received_at": "2026-03-01T08:15:00+07:00",
            "due_at": "2026-03-06T17:00:00+07:00", **extra}


def post(client, key, body, **params):
    return client.post("/api/v1/transactions", json=body, query_string=params,
                       headers={"Authorization": f"Bearer {key}"} if key else {})


def count_transactions(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Transaction))


def test_register_one_returns_a_link_and_its_qr_code(app, client, setup):
    response = post(client, setup["key_hn"], item(setup["hn"]))
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "created" and body["dossier_code"] == CIRCULAR
    assert re.match(r"^http://localhost/l/[A-Za-z0-9_.-]+$", body["rating_url"])
    svg = ET.fromstring(body["qr_svg"])
    assert svg.tag.endswith("svg")
    assert "CB-017" not in body["rating_url"] and CIRCULAR not in body["rating_url"]
    with app.app_context():
        stored = db.session.scalar(select(Transaction))
        assert stored.office_id == setup["hn"].office_id and stored.counter_id == setup["hn"].counter_id
        assert stored.received_at.hour == 1 and stored.received_at.minute == 15  # 08:15 in Vietnam is 01:15 UTC
        assert stored.officer_code == "CB-017" and stored.procedure_code == "1.005169"


def decode_svg_qr(svg: str) -> list[str]:
    """Draw segno's SVG path (``M``/``m`` moves, ``h`` dark runs, one module per unit) and read it
    back with zxing-cpp: the QR code must encode the link itself."""
    import numpy as np
    import zxingcpp

    path = ET.fromstring(svg).find("{http://www.w3.org/2000/svg}path").get("d")
    size = int(ET.fromstring(svg).get("width")) // 4
    image = np.full((size, size), 255, dtype=np.uint8)
    x = y = 0.0
    for command, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?:\s(-?[\d.]+))?", path):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            image[int(y), int(x):int(x + float(a))] = 0
            x += float(a)
    return [code.text for code in zxingcpp.read_barcodes(image.repeat(6, axis=0).repeat(6, axis=1))]


def test_the_qr_code_encodes_the_link(client, setup):
    body = post(client, setup["key_hn"], item(setup["hn"])).json
    assert decode_svg_qr(body["qr_svg"]) == [body["rating_url"]]


def test_national_format_and_no_qr_on_request(client, setup):
    response = post(client, setup["key_hn"], item(setup["hn"], NATIONAL), qr="none")
    assert response.status_code == 201 and "qr_svg" not in response.json
    assert post(client, setup["key_hn"], item(setup["hn"], "X"), qr="gif").json["code"] == "bad_qr"


def decode_png_qr(data: str) -> list[str]:
    """Read a base64 PNG QR code back with zxing-cpp (after a real PNG decoder opened it)."""
    import base64
    import io

    import zxingcpp
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
    assert image.format == "PNG"
    return [code.text for code in zxingcpp.read_barcodes(image.convert("L"))]


def test_png_qr_code_on_request_encodes_the_link(client, setup):
    response = post(client, setup["key_hn"], item(setup["hn"]), qr="png")
    assert response.status_code == 201, response.json
    body = response.json
    assert "qr_svg" not in body  # one image, in the kind asked for
    assert decode_png_qr(body["qr_png"]) == [body["rating_url"]]
    # A batch carries one PNG per stored item, each with its own link.
    batch = [item(setup["hn"], "000.00.16.H26-260301-0002"), item(setup["hn"], "000.00.16.H26-260301-0003")]
    stored = post(client, setup["key_hn"], batch, qr="png").json["stored"]
    assert [decode_png_qr(row["qr_png"]) for row in stored] == [[row["rating_url"]] for row in stored]
    assert stored[0]["rating_url"] != stored[1]["rating_url"]
    # And the status of a registered dossier gives the same link as a PNG too.
    status = client.get(f"/api/v1/transactions/{CIRCULAR}", query_string={"qr": "png"},
                        headers={"Authorization": f"Bearer {setup['key_hn']}"}).json
    assert status["rating_url"] == body["rating_url"] and decode_png_qr(status["qr_png"]) == [body["rating_url"]]


def test_resending_is_idempotent_and_returns_the_same_link(app, client, setup):
    first = post(client, setup["key_hn"], item(setup["hn"])).json
    again = post(client, setup["key_hn"], item(setup["hn"]))
    assert again.status_code == 200 and again.json["status"] == "unchanged"
    assert again.json["rating_url"] == first["rating_url"]
    returned = post(client, setup["key_hn"], item(setup["hn"], returned_at="2026-03-05T10:00:00+07:00"))
    assert returned.json["status"] == "updated"
    assert count_transactions(app) == 1
    with app.app_context():
        assert db.session.scalar(select(Transaction.returned_at)).hour == 3
    moved = post(client, setup["key_hn"], item(setup["hn"], received_at="2026-03-02T08:00:00+07:00"))
    assert moved.status_code == 409 and moved.json["code"] == "dossier_conflict"


def test_a_key_for_one_province_cannot_register_or_read_another(app, client, setup):
    refused = post(client, setup["key_hn"], item(setup["hp"]))
    assert refused.status_code == 403 and refused.json["code"] == "out_of_scope"
    assert count_transactions(app) == 0
    assert post(client, setup["key_hp"], item(setup["hp"])).status_code == 201
    mine = client.get(f"/api/v1/transactions/{CIRCULAR}", headers={"Authorization": f"Bearer {setup['key_hp']}"})
    assert mine.status_code == 200 and mine.json["rated"] is False
    assert mine.json["office_code"] == setup["hp"].office_code
    theirs = client.get(f"/api/v1/transactions/{CIRCULAR}", headers={"Authorization": f"Bearer {setup['key_hn']}"})
    assert theirs.status_code == 404 and theirs.json["code"] == "unknown_transaction"
    assert setup["hp"].office_code not in theirs.get_data(as_text=True)


@pytest.mark.parametrize("header, code", [
    (None, "missing_api_key"), ("Bearer svk_nope", "invalid_api_key"), ("Token abc", "missing_api_key"),
])
def test_requests_without_a_valid_key_are_refused(app, client, setup, header, code):
    response = client.post("/api/v1/transactions", json=item(setup["hn"]),
                           headers={"Authorization": header} if header else {})
    assert response.status_code == 401 and response.json["code"] == code
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert count_transactions(app) == 0


def test_messages_follow_the_client_language(client, setup):
    bad = dict(item(setup["hn"]), dossier_code="nope")
    vi = post(client, setup["key_hn"], bad).json["message"]
    en = client.post("/api/v1/transactions?lang=en", json=bad,
                     headers={"Authorization": f"Bearer {setup['key_hn']}"}).json["message"]
    assert "Circular 01/2018" in en and "Thông tư 01/2018" in vi


def test_a_batch_stores_the_good_rows_and_reports_the_bad_by_index(app, client, setup):
    hn = setup["hn"]
    batch = [
        item(hn, "000.00.16.H26-260301-0001"),
        item(hn, "000.00.16.H26-260230-0002"),                       # 1: no 30 February
        item(hn, "000.00.16.H26-260301-0003", received_at="soon"),   # 2: bad time
        item(setup["hp"], "000.00.16.H26-260301-0004"),              # 3: another province
        item(hn, "000.00.16.H26-260301-0005", counter_code="NOPE"),  # 4: unknown counter
        item(hn, "H26.001.02-260301-TC0006"),
        "not an object",                                             # 6
        item(hn, "000.00.16.H26-260301-0001", officer_code="CB-999"),  # 7: same dossier, other values
        item(hn, "000.00.16.H26-260301-0008", due_at="2026-02-01T00:00:00+07:00"),  # 8: due before received
        item(hn, "000.00.16.H26-260301-0009", colour="blue"),        # 9: unknown field
        {k: v for k, v in item(hn, "000.00.16.H26-260301-0010").items() if k != "procedure_code"},  # 10
        item(hn, "000.00.16.H26-260301-0001"),                       # 11: identical repeat: fine
    ]
    response = post(client, setup["key_hn"], batch, qr="none")
    assert response.status_code == 200
    body = response.json
    assert [s["index"] for s in body["stored"]] == [0, 5, 11]
    assert body["stored"][0]["rating_url"] == body["stored"][2]["rating_url"]
    assert {e["index"]: e["code"] for e in body["errors"]} == {
        1: "bad_dossier_code", 2: "bad_time", 3: "out_of_scope", 4: "unknown_counter", 6: "bad_item",
        7: "duplicate_in_batch", 8: "bad_time_order", 9: "unknown_field", 10: "missing_field",
    }
    assert all(e["message"] for e in body["errors"])
    with app.app_context():
        codes = set(db.session.scalars(select(Transaction.dossier_code)))
    assert codes == {"000.00.16.H26-260301-0001", "H26.001.02-260301-TC0006"}


def test_batch_limits_and_bad_bodies(client, setup):
    key = setup["key_hn"]
    assert post(client, key, []).json["code"] == "empty_batch"
    too_many = [item(setup["hn"], f"000.00.16.H26-260301-{i:04d}") for i in range(1001)]
    response = post(client, key, too_many, qr="none")
    assert response.status_code == 400 and response.json["code"] == "batch_too_large"
    response = client.post("/api/v1/transactions", data="dossier=1", headers={"Authorization": f"Bearer {key}"},
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and response.json["code"] == "bad_json"
    assert post(client, key, "text").json["code"] == "bad_json"


def test_a_full_batch_of_1000_is_accepted(app, client, setup):
    batch = [item(setup["hn"], f"000.00.16.H26-260301-{i:04d}") for i in range(1000)]
    assert len(json.dumps(batch)) > 64 * 1024  # more than the ordinary body limit
    response = post(client, setup["key_hn"], batch, qr="none")
    assert response.status_code == 200, response.json
    assert len(response.json["stored"]) == 1000 and response.json["errors"] == []
    assert count_transactions(app) == 1000
    assert len({s["rating_url"] for s in response.json["stored"]}) == 1000


def test_only_the_transactions_endpoint_takes_large_bodies(app, client, setup):
    auth = {"Authorization": f"Bearer {setup['key_hn']}"}
    too_large = client.post("/api/v1/transactions", data=b"[" + b" " * (1024 * 1024) + b"]",
                            content_type="application/json", headers=auth)
    assert too_large.status_code == 413 and too_large.json["code"] == "too_large"
    elsewhere = client.post(f"/r/{setup['hn'].counter_code}", data={"comment": "x" * (70 * 1024)})
    assert elsewhere.status_code == 413
    batch = [item(setup["hn"], f"000.00.16.H26-260301-{i:04d}") for i in range(300)]
    anonymous = client.post("/api/v1/transactions", json=batch)  # > 64 KiB and no key: refused unread
    assert anonymous.status_code == 413 and count_transactions(app) == 0


def test_links_expire_after_the_configured_days_from_registration_or_return(app, client, setup):
    app.config["RATING_LINK_DAYS"] = 2
    before = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    body = post(client, setup["key_hn"], item(setup["hn"]), qr="none").json
    expires = datetime.fromisoformat(body["expires_at"].removesuffix("Z"))
    assert before + timedelta(days=2) <= expires <= datetime.now(UTC).replace(tzinfo=None) + timedelta(days=2)
    later = (datetime.now(UTC) + timedelta(days=5)).replace(microsecond=0)
    returned = post(client, setup["key_hn"], item(setup["hn"], returned_at=later.isoformat()), qr="none").json
    assert returned["expires_at"] == (later.replace(tzinfo=None) + timedelta(days=2)).isoformat() + "Z"
    assert returned["rating_url"] != body["rating_url"]
