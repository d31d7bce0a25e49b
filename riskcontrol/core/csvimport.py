"""Domain-free tables: reading CSV (UTF-8 or GB18030) or an .xlsx workbook (check the header, return
numbered rows), and writing them so that no cell runs as a spreadsheet formula."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time

import openpyxl

from riskcontrol.core.i18n import Phrase

# .xlsx files are zip archives; people often upload the workbook instead of a CSV export.
_ZIP_MAGIC = b"PK\x03\x04"

# Column name used when a problem concerns a whole line (encoding, cell count) rather than one cell.
WHOLE_LINE = "-"

# A cell starting with one of these runs as a formula in Excel and WPS (CSV injection, OWASP): a
# written CSV cell gets a leading apostrophe, which they show as text; reading takes it off again.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(value: str) -> str:
    """`value` as a CSV cell no spreadsheet runs as a formula."""
    return "'" + value if value.startswith(FORMULA_LEADS) else value


def _restored(value: str) -> str:
    """A cell as `neutralised` wrote it, back to what it said (a round trip through export and import)."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_LEADS) else value


def write_csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    """UTF-8 CSV with a BOM (Excel opens it right), every cell neutralised."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([neutralised(cell) for cell in header])
    writer.writerows([neutralised(cell) for cell in row] for row in rows)
    return ("\ufeff" + text.getvalue()).encode("utf-8")


def write_workbook(title: str, header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    """An .xlsx workbook of one sheet, every cell stored as text (never as a formula)."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for values in (header, *rows):
        sheet.append([str(v) for v in values])
        for cell in sheet[sheet.max_row]:
            cell.data_type = "s"  # openpyxl would store a leading "=" as a formula
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class RowError:
    """One problem in a file: the 1-based line, the column at fault and why (a phrase worded for the reader)."""

    line: int
    column: str
    reason: Phrase | str


@dataclass
class ErrorCollector:
    """Gathers every problem of a file so one report can name them all."""

    errors: list[RowError] = field(default_factory=list)

    def add(self, line: int, column: str, reason: Phrase | str) -> None:
        """Note one problem."""
        self.errors.append(RowError(line, column, reason))

    def __bool__(self) -> bool:
        return bool(self.errors)

    def __len__(self) -> int:
        return len(self.errors)

    def by_line(self) -> list[RowError]:
        """The problems in file order (problems of one line keep the order they were found in)."""
        return sorted(self.errors, key=lambda e: e.line)


@dataclass(frozen=True)
class Row:
    """One data row: where it starts in the file and its stripped cells by column name."""

    line: int
    cells: Mapping[str, str]

    def __getitem__(self, column: str) -> str:
        return self.cells[column]

    def get(self, column: str) -> str | None:
        """The cell of an optional column, or None when the file has no such column."""
        return self.cells.get(column)


class UndecodableFile(ValueError):
    """The bytes are neither UTF-8 nor GB18030; `line` is where UTF-8 decoding first failed."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line


def decode(data: bytes) -> str:
    """The text of a CSV file: UTF-8 (with or without BOM), else GB18030, a superset of GBK that Excel writes in China."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as utf8_error:
        try:
            return data.decode("gb18030").removeprefix("\ufeff")
        except UnicodeDecodeError:
            line = data.count(b"\n", 0, utf8_error.start) + 1
            bad = data[utf8_error.start : utf8_error.start + 1].hex()
            raise UndecodableFile(
                line, f"the file is neither UTF-8 nor GBK/GB18030 text (byte 0x{bad} on line {line}); save it as CSV UTF-8"
            ) from None


class _BadCsv(ValueError):
    """The csv module gave up on the record starting at `line`."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Each record with the line it starts on (a quoted cell may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _BadCsv(start, f"not valid CSV: {exc}") from None
        yield start, record
        start = reader.line_num + 1


def _header_problems(header: list[str], required: Sequence[str], optional: Sequence[str]) -> list[tuple[str, str]]:
    problems = [
        (name, "this column appears more than once in the header") for name in (*required, *optional) if header.count(name) > 1
    ]
    expected = ",".join(required)
    problems.extend((name, f"missing from the header (expected: {expected})") for name in required if name not in header)
    return problems


def read_rows(data: bytes, *, required: Sequence[str], optional: Sequence[str] = (), errors: ErrorCollector) -> list[Row]:
    """Rows of a CSV file whose header names the `required` (and perhaps `optional`) columns; problems go to `errors`.

    Columns are matched by name, case-insensitively, in any order; other columns are ignored, and an
    optional column the header lacks is absent from the rows (so the caller can leave its data alone).
    Rows whose cells are all empty are skipped. A problem with the encoding or the header yields no rows.
    """
    if data.startswith(_ZIP_MAGIC):
        errors.add(1, WHOLE_LINE, "this is an Excel workbook, not CSV: in Excel use Save As → CSV UTF-8 and import that file")
        return []
    try:
        text = decode(data)
        if (nul := text.find("\x00")) >= 0:
            # No database column can hold NUL; a file containing one is binary, not a spreadsheet export.
            errors.add(
                text.count("\n", 0, nul) + 1, WHOLE_LINE, "contains a NUL character; this does not look like a CSV text file"
            )
            return []
        records = _records(text)
        first = next(records, None)
        if first is None or not any(cell.strip() for cell in first[1]):
            what = "the file is empty" if first is None else "the first line is blank"
            errors.add(1, WHOLE_LINE, f"{what}; the first line must be the header: {','.join(required)}")
            return []
        return _table(first, records, required=required, optional=optional, errors=errors)
    except (UndecodableFile, _BadCsv) as exc:
        errors.add(exc.line, WHOLE_LINE, str(exc))
        return []


def _table(
    first: tuple[int, list[str]],
    records: Iterable[tuple[int, list[str]]],
    *,
    required: Sequence[str],
    optional: Sequence[str],
    errors: ErrorCollector,
) -> list[Row]:
    """Rows under the header record `first`, matched to the columns by name."""
    header_line, raw_header = first
    header = [cell.strip().lower() for cell in raw_header]
    problems = _header_problems(header, required, optional)
    for column, reason in problems:
        errors.add(header_line, column, reason)
    if problems:
        return []
    where = {name: header.index(name) for name in (*required, *optional) if name in header}
    rows: list[Row] = []
    for line, record in records:
        cells = [_restored(cell.strip()) for cell in record]
        if not any(cells):
            continue
        if len(cells) != len(header):
            hint = " (a cell holding a comma must be quoted)" if len(cells) > len(header) else ""
            errors.add(line, WHOLE_LINE, f"the row has {len(cells)} cells but the header has {len(header)}{hint}")
            continue
        rows.append(Row(line, {name: cells[i] for name, i in where.items()}))
    return rows


def is_workbook(data: bytes) -> bool:
    """True for an .xlsx workbook (a zip archive) rather than CSV text."""
    return data.startswith(_ZIP_MAGIC)


def read_workbook_rows(
    data: bytes, *, required: Sequence[str], optional: Sequence[str] = (), errors: ErrorCollector
) -> list[Row]:
    """Rows of the first sheet of an .xlsx workbook, like `read_rows`; a row's line is its row number in Excel."""
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        errors.add(1, WHOLE_LINE, f"not a readable .xlsx workbook: {exc}")
        return []
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            errors.add(1, WHOLE_LINE, "the workbook has no sheet")
            return []
        records: list[tuple[int, list[str]]] = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_cell_text(v) for v in values]
            while cells and not cells[-1]:
                cells.pop()
            records.append((number, cells))
        first = next(((n, cells) for n, cells in records if any(cells)), None)
        if first is None:
            errors.add(1, WHOLE_LINE, f"the sheet is empty; the first row must be the header: {','.join(required)}")
            return []
        width = len(first[1])
        rest = [(n, (cells + [""] * width)[:width] if len(cells) <= width else cells) for n, cells in records if n > first[0]]
        return _table(first, rest, required=required, optional=optional, errors=errors)
    finally:
        book.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def text_cell(row: Row, column: str, errors: ErrorCollector, *, max_len: int, required: bool = True) -> str:
    """The cell's text, noting an error when it is empty but required, or too long for its column."""
    value = row[column]
    if not value and required:
        errors.add(row.line, column, "must not be empty")
    elif len(value) > max_len:
        errors.add(row.line, column, f"is {len(value)} characters long; at most {max_len} fit")
    return value


def flag_duplicates(rows: Sequence[Row], column: str, errors: ErrorCollector) -> dict[str, Row]:
    """The first row of each key in `column`; every later row with the same key is an error."""
    first: dict[str, Row] = {}
    for row in rows:
        key = row[column]
        if key and key in first:
            errors.add(row.line, column, f"{key!r} already appears on line {first[key].line}")
        first.setdefault(key, row)
    return first
