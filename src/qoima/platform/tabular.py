"""Reading import files (CSV or XLSX) into plain rows.

Every row comes back as ``(line, {column: text})`` where ``line`` is the row's
number in the file as a person sees it in a spreadsheet: the header is line 1,
the first data row line 2. Cell values are always text (XLSX numbers and dates
are turned into the text a person would type), so the same validation runs for
both formats. Column names are lower-cased and trimmed; empty rows are skipped
(their numbers are still counted).

CSV: UTF-8 (a byte-order mark is accepted), separated by ``,`` or ``;`` or a
tab (guessed from the header line). XLSX: the first worksheet.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Iterator

XLSX_MAGIC = b"PK\x03\x04"
XLSX_TYPES = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/vnd.ms-excel")


class FileFormatError(ValueError):
    """The file cannot be read as CSV or XLSX at all."""


@dataclass
class Table:
    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]


def detect_format(filename: str | None, content_type: str | None = None, head: bytes = b"") -> str:
    """'csv' or 'xlsx', from the file name, then the content type, then the first bytes."""
    name = (filename or "").lower()
    if name.endswith(".xlsx") or name.endswith(".xlsm"):
        return "xlsx"
    if name.endswith(".csv") or name.endswith(".txt"):
        return "csv"
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype in XLSX_TYPES:
        return "xlsx"
    if ctype in ("text/csv", "text/plain", "application/csv"):
        return "csv"
    return "xlsx" if head.startswith(XLSX_MAGIC) else "csv"


def read_table(data: bytes, fmt: str) -> Table:
    if fmt == "xlsx":
        return _read_xlsx(data)
    if fmt == "csv":
        return _read_csv(data)
    raise FileFormatError(f"unsupported format '{fmt}': use .csv or .xlsx")


def read_path(path, fmt: str | None = None) -> Table:
    with open(path, "rb") as fh:
        data = fh.read()
    return read_table(data, fmt or detect_format(str(path), head=data[:4]))


def _columns(raw) -> list[str]:
    return [str(c if c is not None else "").strip().lower().replace(" ", "_") for c in raw]


def _read_csv(data: bytes) -> Table:
    if data.startswith(XLSX_MAGIC):
        raise FileFormatError("this is an XLSX workbook, not a CSV file: name it .xlsx")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"the file is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8") from None
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count) if first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise FileFormatError("the file is empty: it needs a header line") from None
    columns = _columns(header)
    rows = []
    width = len(columns)
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) < width:
            values = values + [""] * (width - len(values))
        row = {columns[i]: values[i].strip() for i in range(width)}
        if len(values) > width and any(v.strip() for v in values[width:]):
            row["__extra__"] = str(len(values) - width)
        rows.append((number, row))
    return Table(columns, rows)


def _read_xlsx(data: bytes) -> Table:
    from openpyxl import load_workbook
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a broken file
        raise FileFormatError(f"cannot read the XLSX workbook: {exc}") from None
    try:
        sheet = book.worksheets[0]
        it = sheet.iter_rows(values_only=True)
        header = next(it, None)
        if header is None:
            raise FileFormatError("the first worksheet is empty: it needs a header row")
        columns = _columns(header)
        width = len(columns)
        rows = []
        for number, values in enumerate(it, start=2):
            cells = [cell_text(v) for v in values]
            if not any(cells):
                continue
            cells = (cells + [""] * width)[:width]
            rows.append((number, {columns[i]: cells[i] for i in range(width) if columns[i]}))
        return Table([c for c in columns if c], rows)
    finally:
        book.close()


def cell_text(value) -> str:
    """The text a person would have typed into the cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value).strip()


def iter_rows(table: Table) -> Iterator[tuple[int, dict[str, str]]]:
    return iter(table.rows)
