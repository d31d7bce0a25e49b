"""Reading CSV files as Excel in China writes them, and normalising mainland mobile numbers."""

from __future__ import annotations

import pytest

from riskcontrol.core.csvimport import WHOLE_LINE, ErrorCollector, RowError, decode, flag_duplicates, read_rows, text_cell
from riskcontrol.core.i18n import word
from riskcontrol.people.importer import normalize_mobile

COLUMNS = ("student_no", "name")
TEXT = "student_no,name\n2026001,张三\n2026002,李四\n"


def read(data: bytes, *, optional: tuple[str, ...] = ()) -> tuple[list[tuple[int, dict[str, str]]], list[RowError]]:
    errors = ErrorCollector()
    rows = read_rows(data, required=COLUMNS, optional=optional, errors=errors)
    return [(r.line, dict(r.cells)) for r in rows], errors.by_line()


@pytest.mark.parametrize(
    "data",
    [TEXT.encode("utf-8"), TEXT.encode("utf-8-sig"), TEXT.encode("gbk"), TEXT.encode("gb18030")],
    ids=["utf-8", "utf-8-bom", "gbk", "gb18030"],
)
def test_utf8_with_or_without_bom_and_gbk_all_read_the_same(data: bytes) -> None:
    rows, errors = read(data)
    assert errors == []
    assert rows == [(2, {"student_no": "2026001", "name": "张三"}), (3, {"student_no": "2026002", "name": "李四"})]


def test_a_rare_character_outside_gbk_survives_in_gb18030() -> None:
    assert decode("姓名\n𠀀\n".encode("gb18030")) == "姓名\n𠀀\n"


def test_bytes_that_are_neither_utf8_nor_gb18030_name_the_line() -> None:
    rows, errors = read(b"student_no,name\n2026001,ok\n2026002,\x80\xff\n")
    assert rows == []
    assert len(errors) == 1
    assert errors[0].line == 3
    assert errors[0].column == WHOLE_LINE
    assert "neither UTF-8 nor GBK" in word("en", errors[0].reason)


def test_cells_are_stripped_and_columns_are_found_by_name_in_any_order_with_extras_ignored() -> None:
    rows, errors = read(" Name , Student_No ,note\n 张三 , 2026001 ,whatever\n".encode())
    assert errors == []
    assert rows == [(2, {"name": "张三", "student_no": "2026001"})]


def test_a_missing_column_is_named_and_no_rows_are_returned() -> None:
    rows, errors = read("student_no,nmae\n2026001,张三\n".encode())
    assert rows == []
    assert [(e.line, e.column) for e in errors] == [(1, "name")]
    assert "student_no,name" in word("en", errors[0].reason)


def test_a_column_named_twice_is_a_header_problem() -> None:
    _, errors = read(b"student_no,name,name\n1,a,b\n")
    assert [(e.line, e.column) for e in errors] == [(1, "name")]


def test_an_empty_file_asks_for_the_header() -> None:
    for data in (b"", "\ufeff".encode()):
        _, errors = read(data)
        assert [(e.line, e.column) for e in errors] == [(1, WHOLE_LINE)]
        assert "header" in word("en", errors[0].reason)


def test_blank_lines_are_skipped_but_line_numbers_stay_those_of_the_file() -> None:
    rows, errors = read("student_no,name\r\n\r\n2026001,张三\r\n,\r\n2026002,李四\r\n\r\n\r\n".encode())
    assert errors == []
    assert [line for line, _ in rows] == [3, 5]


def test_a_quoted_cell_across_lines_keeps_the_line_where_its_row_starts() -> None:
    rows, errors = read('student_no,name\n2026001,"张\n三"\n2026002,李四\n'.encode())
    assert errors == []
    assert rows == [(2, {"student_no": "2026001", "name": "张\n三"}), (4, {"student_no": "2026002", "name": "李四"})]


def test_a_row_with_the_wrong_number_of_cells_is_reported_and_the_rest_still_read() -> None:
    rows, errors = read("student_no,name\n2026001,张,三\n2026002\n2026003,王五\n".encode())
    assert [line for line, _ in rows] == [4]
    assert [(e.line, e.column) for e in errors] == [(2, WHOLE_LINE), (3, WHOLE_LINE)]
    assert "must be quoted" in word("en", errors[0].reason)


def test_an_optional_column_is_absent_from_rows_when_the_header_lacks_it() -> None:
    rows, _ = read(b"student_no,name\n1,a\n", optional=("building_code",))
    assert rows == [(2, {"student_no": "1", "name": "a"})]
    rows, _ = read(b"student_no,name,building_code\n1,a,B1\n", optional=("building_code",))
    assert rows == [(2, {"student_no": "1", "name": "a", "building_code": "B1"})]


def test_cell_checks_collect_every_problem_in_file_order() -> None:
    errors = ErrorCollector()
    rows = read_rows("student_no,name\n7,\n8,好\n7,很长很长\n".encode(), required=COLUMNS, errors=errors)
    for row in rows:
        text_cell(row, "name", errors, max_len=3)
    flag_duplicates(rows, "student_no", errors)
    assert errors.by_line() == [
        RowError(2, "name", "must not be empty"),
        RowError(4, "name", "is 4 characters long; at most 3 fit"),
        RowError(4, "student_no", "'7' already appears on line 2"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+86-13812345678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("86 19912345678", "19912345678"),
        ("12812345678", None),  # no mobile prefix starts 12
        ("1381234567", None),  # ten digits
        ("138123456789", None),  # twelve digits
        ("010-12345678", None),  # a landline
        ("1.38123E+10", None),  # what Excel makes of a number column
        ("１３８１２３４５６７８", None),  # full-width digits are not accepted silently
        ("+8513812345678", None),
        ("", None),
    ],
)
def test_mainland_mobile_numbers_are_normalised_to_eleven_digits(text: str, expected: str | None) -> None:
    assert normalize_mobile(text) == expected


def test_an_excel_workbook_or_binary_file_is_refused_with_a_hint() -> None:
    _, errors = read(b"PK\x03\x04\x14\x00\x06\x00")
    assert "Save As" in word("en", errors[0].reason)
    _, errors = read(b"student_no,name\n1,a\x00b\n")
    assert [(e.line, e.column) for e in errors] == [(2, WHOLE_LINE)]
    assert "NUL" in word("en", errors[0].reason)
