"""Reading import files (CSV or XLSX) row by row, in bounded memory.

Every row comes back as ``(line, {column: text})`` where ``line`` is the row's
number in the file as a person sees it in a spreadsheet: the header is line 1,
the first data row line 2. Cell values are always text (XLSX numbers and dates
are turned into the text a person would type), so the same validation runs for
both formats. Column names are lower-cased and trimmed; empty rows are skipped
(their numbers are still counted).

``open_table(stream, fmt, limits)`` reads the header only and returns a
``TableReader``: the caller checks the columns (a wrong header is refused
without reading the rest of the file) and then iterates the rows, which are
read from the stream as they are asked for. Whatever stops the reading half-way
(a cell longer than the CSV field limit, bytes that are not text in the file's
encoding, more rows than ``Limits.max_rows``, an XLSX formula without a cached
value) is put in ``reader.problems`` as ``(line, column, message)``; the rows of
a file with problems must not be written (the importers report them as row
errors, platform/imports.py).

CSV: separated by ``,`` or ``;`` or a tab (guessed from the header line). The
encoding is chosen by a simple rule rather than a statistical detector.
charset-normalizer (3.5.3, tried on Windows-1251 files of two or three rows,
the size of many real imports) named "Пётр Ёлкин" shift_jis_2004, a product
list cp1250 and an address list cp1257; it guesses from letter frequencies,
and a few names and SKUs are too little to go on. The rule:

- a byte-order mark decides: UTF-8 (``utf-8-sig``), UTF-16 LE or BE (``utf-16``);
- else, valid UTF-8 is UTF-8: Cyrillic text in Windows-1251 is practically
  never valid UTF-8 (its letters are the bytes 0xC0-0xFF, and UTF-8 needs each
  such lead byte followed by 0x80-0xBF continuation bytes, which in cp1251 are
  rare punctuation), so the rule does not mistake one for the other;
- else the file is Windows-1251, the usual "ANSI" encoding of Excel and 1C in
  Kazakhstan and Russia.

When the first 64 KB are plain ASCII (say a header and Latin-only rows), the
rest is checked for UTF-8 in a quick pass over the bytes before the rows are
read (after the header has been accepted). ``reader.encoding`` names what was
used; the import report shows it.

XLSX: the first worksheet, read with openpyxl's read-only (streaming) mode.
Before openpyxl sees the file, the zip directory is checked: the total
uncompressed size and the compression ratio of each member are bounded
(``Limits``), so a small file that expands to gigabytes of XML (a "zip bomb")
is refused at once (100 to 1 is Apache POI's default for the same check,
``ZipSecureFile.setMinInflateRatio(0.01)``; an ordinary sheet compresses 5 to 20
to 1, and a member under 1 MB is not checked). A formula cell that has no cached value (a file written by
a program that does not compute formulas) is reported with its cell reference
instead of being read as empty.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import BinaryIO, Iterator

XLSX_MAGIC = b"PK\x03\x04"
XLSX_TYPES = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/vnd.ms-excel")
SAMPLE_BYTES = 64 * 1024
MAX_LINE_CHARS = 4 * 1024 * 1024  # a physical CSV line longer than this is refused (no row is that long)
ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (BOM)", "utf-16": "UTF-16", "cp1251": "Windows-1251"}


class FileFormatError(ValueError):
    """The file cannot be read as CSV or XLSX at all."""


@dataclass(frozen=True)
class Limits:
    """What a file may hold before it is refused (settings: QOIMA_IMPORT_MAX_ROWS, QOIMA_IMPORT_XLSX_*)."""
    max_rows: int = 500_000
    xlsx_max_uncompressed_mb: int = 200
    xlsx_max_ratio: int = 100


@dataclass
class Table:
    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]
    encoding: str | None = None
    problems: list[tuple[int, str, str]] = field(default_factory=list)


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


def _columns(raw) -> list[str]:
    return [str(c if c is not None else "").strip().lower().replace(" ", "_") for c in raw]


class TableReader:
    """The header of a file (``columns``) and, when iterated, its rows; see the module docstring."""

    columns: list[str]
    encoding: str | None = None  # CSV: the codec used (see ENCODING_NAMES)

    def __init__(self, limits: Limits):
        self.limits = limits
        self.problems: list[tuple[int, str, str]] = []
        self.rows_read = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        pass

    def progress(self) -> tuple[int, int]:  # pragma: no cover - overridden
        return 0, 0

    def _counted(self, number: int) -> bool:
        """Count a data row; False (with the problem noted) once there are more than the limit."""
        self.rows_read += 1
        if self.rows_read > self.limits.max_rows:
            self.rows_read -= 1
            self.problems.append((number, "file", f"the file has more than {self.limits.max_rows:,} rows: "
                                                  "split it into smaller files"))
            return False
        return True


def open_table(stream: BinaryIO, fmt: str, limits: Limits | None = None) -> TableReader:
    """The file's reader, positioned after the header; FileFormatError when it cannot be read at all."""
    limits = limits or Limits()
    if fmt == "xlsx":
        return _XlsxReader(stream, limits)
    if fmt == "csv":
        return _CsvReader(stream, limits)
    raise FileFormatError(f"unsupported format '{fmt}': use .csv or .xlsx")


def read_table(data: bytes, fmt: str, limits: Limits | None = None) -> Table:
    """The whole file in memory (small files, tests); importers stream with open_table instead."""
    with open_table(io.BytesIO(data), fmt, limits) as reader:
        rows = list(reader)
        return Table(reader.columns, rows, reader.encoding, reader.problems)


def read_path(path, fmt: str | None = None) -> Table:
    with open(path, "rb") as fh:
        head = fh.read(4)
    with open(path, "rb") as fh:
        return read_table(fh.read(), fmt or detect_format(str(path), head=head))


# ---------------------------------------------------------------- CSV

def sniff_encoding(sample: bytes, complete: bool) -> tuple[str, bool]:
    """(codec, settled) from the first bytes of a file: settled is False when the sample is plain ASCII
    and more of the file follows (the rest decides between UTF-8 and Windows-1251)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", True
    if sample.startswith(codecs.BOM_UTF16_LE) or sample.startswith(codecs.BOM_UTF16_BE):
        return "utf-16", True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
    except UnicodeDecodeError:
        return "cp1251", True
    return "utf-8", complete or not sample.isascii()


def is_utf8(stream: BinaryIO, chunk: int = 1 << 20) -> bool:
    """Whether the rest of a binary stream is valid UTF-8 (read in chunks: bounded memory)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while block := stream.read(chunk):
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


class _CsvReader(TableReader):
    def __init__(self, stream: BinaryIO, limits: Limits):
        super().__init__(limits)
        self.stream = stream
        start = stream.tell()
        self.size = stream.seek(0, io.SEEK_END) - start
        stream.seek(start)
        self.start = start
        sample = stream.read(SAMPLE_BYTES)
        stream.seek(start)
        if sample.startswith(XLSX_MAGIC):
            raise FileFormatError("this is an XLSX workbook, not a CSV file: name it .xlsx")
        self.encoding, self.settled = sniff_encoding(sample, complete=len(sample) < SAMPLE_BYTES)
        self.text = self._open_text()
        try:
            first = self.text.readline(MAX_LINE_CHARS)
        except UnicodeDecodeError as exc:
            raise FileFormatError(f"the header line is not {ENCODING_NAMES[self.encoding]} text: {exc.reason}; "
                                  "save the file as CSV UTF-8") from None
        if not first.strip("\r\n\ufeff"):
            raise FileFormatError("the file is empty: it needs a header line")
        if len(first) >= MAX_LINE_CHARS and not first.endswith("\n"):
            raise FileFormatError(f"the header line is longer than {MAX_LINE_CHARS:,} characters")
        self.delimiter = max((",", ";", "\t"), key=first.count)
        header_reader = csv.reader([first], delimiter=self.delimiter)
        try:
            self.columns = _columns(next(header_reader, []))
        except csv.Error as exc:
            raise FileFormatError(f"cannot read the header line: {exc}") from None
        self.header = first

    def _open_text(self) -> io.TextIOWrapper:
        self.stream.seek(self.start)
        text = io.TextIOWrapper(self.stream, encoding=self.encoding, newline="")
        return text

    def close(self) -> None:
        try:
            self.text.detach()  # the caller's stream stays open: it is the caller's to close
        except ValueError:
            pass

    def progress(self) -> tuple[int, int]:
        try:
            return min(self.stream.tell() - self.start, self.size), self.size
        except (ValueError, OSError):
            return self.size, self.size

    def _settle(self) -> None:
        """Plain ASCII so far: the rest of the bytes decide UTF-8 or Windows-1251 (one quick pass)."""
        self.text.detach()
        self.stream.seek(self.start)
        if not is_utf8(self.stream):
            self.encoding = "cp1251"
        self.text = self._open_text()
        self.text.readline(MAX_LINE_CHARS)  # the header again (ASCII: the same in both encodings)
        self.settled = True

    def _lines(self, state: list[int]) -> Iterator[str]:
        """The physical lines, each at most MAX_LINE_CHARS long (a longer one stops the reading)."""
        readline = self.text.readline
        while line := readline(MAX_LINE_CHARS):
            if len(line) >= MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
                self.problems.append((state[0], "row", f"line {state[0]} is longer than {MAX_LINE_CHARS:,} "
                                                       "characters"))
                return
            yield line

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        if not self.settled:
            self._settle()
        state = [2]  # the number of the record being read
        reader = csv.reader(self._lines(state), delimiter=self.delimiter)
        columns, width = self.columns, len(self.columns)
        number = 1
        while True:
            number += 1
            state[0] = number
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                limit = csv.field_size_limit()
                reason = (f"a cell is longer than {limit:,} characters" if "field larger" in str(exc)
                          else f"cannot read the row: {exc}")
                self.problems.append((number, "row", reason))
                return
            except UnicodeDecodeError as exc:
                self.problems.append((number, "file", f"the file is not {ENCODING_NAMES[self.encoding]} text from "
                                                      f"line {number} on ({exc.reason}); save it as CSV UTF-8"))
                return
            if not any(v.strip() for v in values):
                continue
            if not self._counted(number):
                return
            if len(values) < width:
                values = values + [""] * (width - len(values))
            row = {columns[i]: values[i].strip() for i in range(width)}
            if len(values) > width and any(v.strip() for v in values[width:]):
                row["__extra__"] = str(len(values) - width)
            yield number, row


# ---------------------------------------------------------------- XLSX

def check_zip(stream: BinaryIO, limits: Limits) -> None:
    """Refuse an XLSX whose members expand to more than the limits allow, from the zip directory alone."""
    try:
        with zipfile.ZipFile(stream) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FileFormatError(f"cannot read the XLSX workbook: {exc}") from None
    finally:
        stream.seek(0)
    total = sum(i.file_size for i in infos)
    most = limits.xlsx_max_uncompressed_mb * 1024 * 1024
    if total > most:
        raise FileFormatError(f"the workbook expands to {total / 1048576:,.0f} MB of XML, more than the limit of "
                              f"{limits.xlsx_max_uncompressed_mb} MB: save it as CSV or split it")
    for info in infos:
        if info.file_size > 1024 * 1024 and info.file_size > limits.xlsx_max_ratio * max(info.compress_size, 1):
            raise FileFormatError(f"the workbook's part {info.filename} is compressed {info.file_size // max(info.compress_size, 1):,} "
                                  f"to 1, more than the limit of {limits.xlsx_max_ratio} to 1 (a zip bomb?): "
                                  "save it as CSV")


class _XlsxReader(TableReader):
    def __init__(self, stream: BinaryIO, limits: Limits):
        super().__init__(limits)
        from openpyxl import load_workbook
        check_zip(stream, limits)
        self.stream, self.books = stream, []
        try:
            self.books.append(load_workbook(stream, read_only=True, data_only=True))
            self.sheet = self.books[0].worksheets[0]
            header = next(self.sheet.iter_rows(max_row=1, values_only=True), None)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a broken file
            self.close()
            raise FileFormatError(f"cannot read the XLSX workbook: {exc}") from None
        if not header or not any(c is not None for c in header):
            self.close()
            raise FileFormatError("the first worksheet is empty: it needs a header row")
        self.all_columns = _columns(header)
        self.columns = [c for c in self.all_columns if c]
        self.total = self.sheet.max_row or 0
        self._formula_rows = None
        self._formula_next = 2  # the line the formula iterator gives next

    def close(self) -> None:
        for book in self.books:
            book.close()
        self.books = []

    def progress(self) -> tuple[int, int]:
        done = self.rows_read + 1
        return done, max(self.total, done)

    def _formulas_of(self, number: int) -> tuple:
        """Row `number` as formulas (data_only=False). A second read-only pass over the sheet, opened when
        the first empty cell is met and moved forward in step with the values (both yield every row)."""
        if self._formula_rows is None:
            from openpyxl import load_workbook
            book = load_workbook(self.stream, read_only=True, data_only=False)
            self.books.append(book)
            self._formula_rows = book.worksheets[0].iter_rows(min_row=2, max_col=len(self.all_columns),
                                                              values_only=True)
        row = next(itertools.islice(self._formula_rows, number - self._formula_next, None), ())
        self._formula_next = number + 1
        return row

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        from openpyxl.utils import get_column_letter
        columns, width = self.all_columns, len(self.all_columns)
        values_rows = self.sheet.iter_rows(min_row=2, max_col=width, values_only=True)
        try:
            for number, values in enumerate(values_rows, start=2):
                if any(v is None for v in values):
                    # a formula cell without a cached value is None here and "=..." among the formulas
                    formulas = self._formulas_of(number)
                    missing = [i for i, (v, f) in enumerate(zip(values, formulas)) if v is None and f is not None]
                    for i in missing:
                        cell = f"{get_column_letter(i + 1)}{number}"
                        self.problems.append((number, columns[i] or cell,
                                              f"cell {cell} holds a formula ({str(formulas[i])[:60]}) without a "
                                              "computed value: open the file in Excel or LibreOffice and save it "
                                              "again, or paste the values"))
                    if missing:
                        continue
                cells = [cell_text(v) for v in values]
                if not any(cells):
                    continue
                if not self._counted(number):
                    return
                cells = (cells + [""] * width)[:width]
                yield number, {columns[i]: cells[i] for i in range(width) if columns[i]}
        except Exception as exc:  # noqa: BLE001 - a sheet broken half-way: reported, not a 500
            self.problems.append((self.rows_read + 2, "file", f"cannot read the XLSX workbook: {exc}"))


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
