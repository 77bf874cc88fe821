"""Workbooks built for the import tests (tests/unit/test_tabular_encodings.py, the import and upload tests)."""

from __future__ import annotations

import io
import zipfile

from openpyxl import Workbook


def xlsx(fill) -> bytes:
    book = Workbook()
    fill(book.active)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def bomb(rows: int = 40_000) -> bytes:
    """A small .xlsx whose sheet XML is huge and compresses extremely well (~180 MB from < 1 MB), as the
    finding's 0.6 MB workbook that expanded to 174 MB."""
    base = xlsx(lambda ws: ws.append(["external_id", "sku", "quantity", "unit_price"]))
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                row = ('<row><c t="inlineStr"><is><t>' + "A" * 4500 + '</t></is></c></row>').encode()
                with dst.open(info.filename, "w") as fh:
                    head, tail = data.split(b"</sheetData>")
                    fh.write(head.replace(b"<sheetData/>", b"<sheetData>"))
                    for _ in range(rows):
                        fh.write(row)
                    fh.write(b"</sheetData>" + tail)
            else:
                dst.writestr(info, data)
    return out.getvalue()
