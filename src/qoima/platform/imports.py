"""The machinery every file import shares (orders, products, stock counts).

Every file is validated as a whole first. The report lists every bad row with
its line number in the file (the header is line 1), the column and the reason;
field rules are the API's own schemas, so a broken phone reads the same in an
import as in ``POST /api/v1/orders``. A commit is all-or-nothing: one bad row
and nothing is written. The file reader is ``platform/tabular.py``.

The importers themselves live with their capability:
``orders/services/order_import.py``, ``catalog/services/product_import.py``,
``stock/services/stock_import.py``. Each takes ``(engine, principal, Upload,
ImportOptions)`` and returns a ``Report``.

Files are read as a stream (``platform/tabular.py``): ``open_rows`` checks the
header first (a file without a required column is refused before the rest is
read) and then hands out the rows one by one; an upload is a spooled file on
disk or the job's bytes, never parsed into memory as a whole. The limits (rows,
XLSX expansion) come with the options; the size limits of an upload are the
entrypoints' (entrypoints/uploads.py).
"""

from __future__ import annotations

import gc
import io
import os
import re
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator

from pydantic import ValidationError as PydanticError

from qoima.platform.errors import DomainError, RowErrors, ValidationError, row_error, schema_rule
from qoima.platform.tabular import ENCODING_NAMES, FileFormatError, Limits, TableReader, detect_format, open_table

Progress = Callable[[str, int, int], None]  # (stage, done, total)
MAX_REPORTED = 1000
CHUNK = 2000
_DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")


@dataclass(frozen=True)
class Upload:
    """The file as it was sent: its bytes (or the path of the file on disk), and what its name and content
    type say it is."""
    data: bytes | None = None
    filename: str | None = None
    content_type: str | None = None
    path: str | os.PathLike | None = None

    @contextmanager
    def open(self) -> Iterator[BinaryIO]:
        if self.path is not None:
            with open(self.path, "rb") as fh:
                yield fh
        else:
            yield io.BytesIO(self.data or b"")  # shares the bytes (no copy)


UNKNOWN_COLUMNS = "ignored unknown column(s): %(columns)s"  # the one warning (the web shows it translated)


@dataclass
class ImportOptions:
    dry_run: bool = False
    progress: Progress | None = None
    batch_size: int = 2000  # orders per bulk-intake batch (orders import only)
    limits: Limits | None = None  # rows and XLSX expansion (default: tabular.Limits())


@dataclass(frozen=True)
class Columns:
    """The columns a kind of file knows, and the ones it needs."""
    known: tuple[str, ...]
    required: tuple[str, ...]


@dataclass
class Report:
    kind: str
    dry_run: bool
    rows: int = 0
    errors: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    committed: bool = False
    format: str | None = None  # csv | xlsx
    encoding: str | None = None  # the CSV's text encoding as it was detected ("UTF-8", "Windows-1251", ...)

    @property
    def valid(self) -> bool:
        return not self.errors

    def error(self, line: int, column: str, message: "str | DomainError", *, code: str | None = None,
              **params) -> None:
        """A bad row: `message` an English template with its params and code (or a DomainError), so the
        report can be shown in any language (errors.localize_row)."""
        if isinstance(message, str) and (code or params):
            message = ValidationError(message, field=column, code=code or "import.row", **params)
        self.errors.append(row_error(line, column, message))

    def as_dict(self) -> dict:
        errors = sorted(self.errors, key=lambda e: e["line"])
        return {"kind": self.kind, "dry_run": self.dry_run, "valid": self.valid, "committed": self.committed,
                "rows": self.rows, "counts": self.counts, "error_count": len(errors),
                "errors": errors[:MAX_REPORTED], "warnings": self.warnings, "format": self.format,
                "encoding": self.encoding}

    def raise_if_invalid(self) -> None:
        if self.errors:
            raise invalid_rows(self.as_dict())


def invalid_rows(report: dict) -> RowErrors:
    """The RowErrors of a report (as_dict): what the API answers for a file with bad rows."""
    exc = RowErrors(report["errors"])
    exc.extra.update(error_count=report["error_count"], counts=report["counts"], kind=report["kind"])
    if report["error_count"] > len(report["errors"]):
        exc.reword("%(error_count)s invalid row(s); the first %(listed)s are listed", listed=len(report["errors"]))
    return exc


class Rows:
    """The rows of an upload, read as they are iterated. When the reading ends (or stops at a limit, an
    over-long cell, an undecodable byte, a formula without a value), its problems become the report's row
    errors and ``report.rows`` the number of data rows read."""

    def __init__(self, reader: TableReader, report: Report):
        self.reader, self.report = reader, report
        self.columns = reader.columns

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        try:
            yield from self.reader
        finally:
            self.report.rows = self.reader.rows_read
            if self.reader.encoding:  # settled by the rows when the first 64 KB were plain ASCII
                self.report.encoding = ENCODING_NAMES.get(self.reader.encoding, self.reader.encoding)
            for line, column, message in self.reader.problems:
                self.report.error(line, column, message)
            self.reader.problems = []

    def progress(self) -> tuple[int, int]:
        """(done, total) of the reading: bytes of a CSV, rows of an XLSX."""
        return self.reader.progress()


@contextmanager
def open_rows(upload: Upload, report: Report, columns: Columns, limits: Limits | None = None
              ) -> Iterator[Rows | None]:
    """The file's rows, or None (with the reasons in the report) when it cannot be read or misses a column;
    only the header has been read when this checks the columns."""
    with upload.open() as stream:
        head = stream.read(4)
        stream.seek(0)
        report.format = detect_format(upload.filename, upload.content_type, head)
        try:
            reader = open_table(stream, report.format, limits)
        except FileFormatError as exc:
            report.error(1, "file", str(exc))
            yield None
            return
        with reader:
            report.encoding = ENCODING_NAMES.get(reader.encoding or "", reader.encoding)
            for col in columns.required:
                if col not in reader.columns:
                    report.error(1, col, "missing column '%(missing)s' (columns: %(columns)s)", code="import.missing_column",
                                 missing=col, columns=list(columns.known))
            unknown = [c for c in reader.columns if c and c not in columns.known]
            if unknown:
                report.warnings.append(UNKNOWN_COLUMNS % {"columns": ", ".join(unknown)})
            yield None if report.errors else Rows(reader, report)


def pyd_errors(exc: PydanticError):
    """(location, message) of every error of a Pydantic validation."""
    for e in exc.errors():
        rule = schema_rule(e)  # a rule of the schema or a Pydantic check as a template with a code
        yield tuple(e.get("loc", ())), rule if rule is not None else e.get("msg", "invalid").removeprefix("Value error, ")


def number(value: str) -> str:
    """A decimal comma (1990,50 from a spreadsheet) read as a point."""
    return value.replace(",", ".") if _DECIMAL_COMMA.match(value) else value


def put(target: dict, key: str, value: str, as_number: bool = False) -> None:
    """Set target[key] unless the cell is empty (an empty cell means: the schema's default)."""
    if value != "":
        target[key] = number(value) if as_number else value


def chunks(items: list, size: int = CHUNK):
    for i in range(0, len(items), size):
        yield items[i:i + size]


# ---------------------------------------------------------------- interpreter settings for a bulk import

SWITCH_INTERVAL = 0.001  # seconds a thread may hold the interpreter while another one waits for it
_bulk_lock = threading.Lock()
_bulk_imports = 0  # imports running in this process
_saved: tuple[bool, float] = (True, 0.005)


@contextmanager
def bulk_interpreter():
    """Interpreter settings for a large import, process-wide while it runs (counted for concurrent
    imports), then restored to what they were. Opt-in, for a process that does nothing else meanwhile:
    the CLI (`qoima import`, `qoima bench import`) and the job runner of a worker process of its own;
    never in an API process (every request of it would run with these settings).

    - no cyclic garbage collection: the import keeps a million container objects alive (rows,
      validated orders, rows to write) and makes no reference cycles, yet every full collection
      walked them all (a third of the Python time of a 100,000-order import); reference counting
      still frees everything acyclic, in other threads too;
    - a shorter switch interval (1 ms instead of 5): the thread that feeds the database needs the
      interpreter for a moment after every network wait, while two others are busy with Python;
      the database sat idle a quarter of the time waiting for it."""
    global _bulk_imports, _saved
    with _bulk_lock:
        if _bulk_imports == 0:
            _saved = (gc.isenabled(), sys.getswitchinterval())
            gc.disable()
            sys.setswitchinterval(min(_saved[1], SWITCH_INTERVAL))
        _bulk_imports += 1
    try:
        yield
    finally:
        with _bulk_lock:
            _bulk_imports -= 1
            if _bulk_imports == 0:
                if _saved[0]:
                    gc.enable()
                sys.setswitchinterval(_saved[1])
