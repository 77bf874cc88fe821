"""Exports that a spreadsheet cannot run (CSV/formula injection, OWASP).

A text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is a
formula to Excel, LibreOffice and Google Sheets (`=HYPERLINK(...)` sends the
neighbouring cells to another site when clicked). Every CSV and XLSX export goes
through this module: such text cells get a leading single quote, so they show as
text; XLSX text cells are written with the explicit string type ('s'), never as a
formula. Only text is touched: a negative amount in a numeric column stays a number.

Hand-written because it is a dozen lines over polars and openpyxl; no maintained
library does just this."""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any, Iterable, Sequence

import polars as pl

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA = "text/csv; charset=utf-8"


def neutralise(value: Any) -> Any:
    """A text value that a spreadsheet would read as a formula, prefixed with a single quote."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def safe_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with every text column neutralised (numeric columns as they are)."""
    text = [name for name, dtype in frame.schema.items() if dtype in (pl.String, pl.Categorical, pl.Enum)]
    if not text:
        return frame
    pattern = "^[=+\\-@\t\r]"
    return frame.with_columns(
        pl.when(pl.col(c).cast(pl.String).str.contains(pattern))
        .then(pl.lit("'") + pl.col(c).cast(pl.String)).otherwise(pl.col(c).cast(pl.String)).alias(c)
        for c in text)


def csv_bytes(frame: pl.DataFrame, **write_options) -> bytes:
    """The frame as UTF-8 CSV with a BOM (Excel reads the encoding), text cells neutralised."""
    return safe_frame(frame).write_csv(**write_options).encode("utf-8-sig")


def write_csv(frame: pl.DataFrame, path, **write_options) -> None:
    """As `csv_bytes`, to a file (UTF-8 without a BOM, as polars writes it)."""
    safe_frame(frame).write_csv(path, **write_options)


def xlsx_bytes(columns: Sequence[str], rows: Iterable[Sequence[Any]], sheet: str = "sheet") -> bytes:
    """Rows as an XLSX workbook: text cells neutralised and typed 's', numbers as numbers,
    dates and times as ISO text."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)

    def cell(value):
        if isinstance(value, datetime):
            value = value.isoformat(sep=" ")
        elif isinstance(value, date):
            value = value.isoformat()
        c = WriteOnlyCell(ws, value=neutralise(value) if isinstance(value, str) else value)
        if isinstance(value, str):
            c.data_type = "s"  # never 'f', whatever the text looks like
        return c

    ws.append([cell(str(c)) for c in columns])
    for row in rows:
        ws.append([cell(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
