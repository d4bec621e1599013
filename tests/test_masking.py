"""Personal data in comments is masked before a manager sees it; ordinary numbers are left alone."""

from __future__ import annotations

import pytest

from survey.manager.masking import mask_personal_data

PHONE, ID, EMAIL, DOSSIER = "[phone number]", "[citizen ID]", "[email]", "[dossier code]"


@pytest.mark.parametrize("text, expected", [
    # Mobiles, every way people write them.
    ("Gọi tôi 0912345678 nhé", f"Gọi tôi {PHONE} nhé"),
    ("SĐT: 0912 345 678.", f"SĐT: {PHONE}."),
    ("sđt 0912.345.678", f"sđt {PHONE}"),
    ("sdt 091-234-5678", f"sdt {PHONE}"),
    ("số 0 9 1 2 3 4 5 6 7 8 ạ", f"số {PHONE} ạ"),
    ("0912  345  678", PHONE),
    ("+84912345678", PHONE),
    ("+84 912 345 678", PHONE),
    ("(+84) 912-345-678", PHONE),
    ("+84 (0) 912 345 678", PHONE),
    ("0084 912 345 678", PHONE),
    ("84912345678", PHONE),
    ("call 0387654321 or 0701234567", f"call {PHONE} or {PHONE}"),
    ("0561234567, 0812345678", f"{PHONE}, {PHONE}"),
    ("sdt0912345678", f"sdt{PHONE}"),
    # Landlines: 02 + 9 digits.
    ("Phòng: 024 3825 1234", f"Phòng: {PHONE}"),
    ("+84 24 3825 1234", PHONE),
    ("028.3829.5555", PHONE),
    # Citizen IDs (12 digits, starting with 0).
    ("CCCD 001203004567", f"CCCD {ID}"),
    ("CCCD: 079 203 004 567", f"CCCD: {ID}"),
    ("căn cước 038-095-001-234 của tôi", f"căn cước {ID} của tôi"),
    # E-mail addresses.
    ("mail nguyen.van.a@gmail.com giúp", f"mail {EMAIL} giúp"),
    ("Email: Tran_B+dvc@so-tu-phap.hanoi.gov.vn.", f"Email: {EMAIL}."),
    ("an @ yahoo.com.vn", EMAIL),
    # Dossier codes.
    ("Hồ sơ H26.22-240301-0012 bị trễ", f"Hồ sơ {DOSSIER} bị trễ"),
    ("mã 000.00.15.H26-240101-0001", f"mã {DOSSIER}"),
    ("hồ sơ H26.ABC.12-260301-AB1234 chưa xong", f"hồ sơ {DOSSIER} chưa xong"),  # national format, 2026
    ("(h26.abc.12-260301-ab1234)", f"({DOSSIER})"),
    ("Mã hồ sơ: HS2024/00123 chưa có kết quả", f"Mã hồ sơ: {DOSSIER} chưa có kết quả"),
    ("số hồ sơ 12345-AB", f"số hồ sơ {DOSSIER}"),
    # Several at once.
    ("Tôi là A, CCCD 001203004567, sđt +84 912 345 678, mail a@b.vn, hồ sơ H26.22-240301-0012",
     f"Tôi là A, CCCD {ID}, sđt {PHONE}, mail {EMAIL}, hồ sơ {DOSSIER}"),
])
def test_personal_data_is_masked(text, expected):
    assert mask_personal_data(text) == expected


@pytest.mark.parametrize("text", [
    "Chờ 45 phút, lệ phí 200.000 đồng",
    "Ngày 12/10/2026 lúc 9:30, quầy số 3",
    "Nộp 3 lần, tổng 1.500.000đ",
    "Mã số thuế 0101234567890",  # 13 digits: not a phone and not a citizen ID
    "Số 123456789",  # 9 digits
    "Quá tốt, cảm ơn cán bộ!",
    "Năm 2024 và 2025",
    "Phí 12.345.678.901 đồng",  # 11 digits but not starting with 0 or 84
])
def test_ordinary_text_and_numbers_are_left_alone(text):
    assert mask_personal_data(text) == text


def test_a_digit_touching_the_number_makes_it_something_else():
    assert mask_personal_data("0912345678901") == "0912345678901"  # 13 digits: neither a phone nor an ID
    assert mask_personal_data("091234567890") == ID  # 12 digits from 0: an ID (province 091), never a phone
    assert mask_personal_data("10912345678") == "10912345678"


def test_labels_can_be_translated_and_empty_text_passes_through():
    assert mask_personal_data("0912345678", {"phone": "[số điện thoại]"}) == "[số điện thoại]"
    assert mask_personal_data(None) is None and mask_personal_data("") == ""


def test_nothing_of_the_original_survives():
    text = "sđt 0912 345 678, CCCD 001203004567, a.b@c.vn"
    masked = mask_personal_data(text)
    for secret in ("0912", "345 678", "001203004567", "a.b@", "c.vn"):
        assert secret not in masked
