"""The shared reading of uploaded CSV files (survey.csvfiles), used by the procedure catalogue import
and the transactions import."""

from __future__ import annotations

import csv

import pytest

from survey.csvfiles import CsvFileError, decode_lines


def test_utf8_with_or_without_a_byte_order_mark_gives_the_same_lines():
    text = "code,name_vi\r\n1.005169,Đăng ký khai sinh\r\n"
    plain = decode_lines(text.encode("utf-8"))
    assert plain == decode_lines(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert list(csv.reader(plain)) == [["code", "name_vi"], ["1.005169", "Đăng ký khai sinh"]]


def test_a_quoted_cell_over_two_lines_stays_one_cell():
    lines = decode_lines('code,name_vi\n1.005169,"Đăng ký\nkhai sinh"\n'.encode())
    assert list(csv.reader(lines))[1] == ["1.005169", "Đăng ký\nkhai sinh"]


@pytest.mark.parametrize("data, code, words", [
    ("Mã,Đăng".encode("cp1258", errors="replace"), "bad_encoding", "UTF-8"),  # a Windows Vietnamese export
    ("Mã,Tên\n".encode("utf-16"), "bad_encoding", "UTF-8"),
    (b"x" * (2 * 2**20 + 1), "too_large", "2 MB"),
])
def test_files_that_cannot_be_read_say_why(app, data, code, words):
    with app.test_request_context("/?lang=en"), pytest.raises(CsvFileError) as refused:
        decode_lines(data, max_bytes=2 * 2**20)
    assert refused.value.code == code and words in str(refused.value)


def test_an_empty_file_is_no_lines():
    assert decode_lines(b"") == [] and decode_lines(b"\xef\xbb\xbf") == []
