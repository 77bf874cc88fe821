"""The streaming file reader (platform/tabular.py): CSV encodings (UTF-8 with and without BOM, UTF-16 with
BOM, Windows-1251, also when the first 64 KB are plain ASCII), the CSV field limit, a wrong header read
without the rest of the file, the row limit, XLSX formulas without a cached value and XLSX zip bombs."""

from __future__ import annotations

import io
import time

import pytest
from xlsx_files import bomb, xlsx

from qoima.platform.tabular import FileFormatError, Limits, open_table, read_table

HEAD = "external_id,customer_name,sku,quantity,unit_price\n"
ROW = "W-1,Айгерим Нұрланқызы,SKU-1,2,1500\n"


def test_windows_1251_is_detected_and_read_intact():
    data = (HEAD + "W-1,Айгерим Нурлановна,SKU-1,2,1500\nW-2,Ёлкин Пётр;ёж,SKU-2,1,990\n").encode("cp1251")
    table = read_table(data, "csv")
    assert table.encoding == "cp1251" and table.problems == []
    assert [r["customer_name"] for _, r in table.rows] == ["Айгерим Нурлановна", "Ёлкин Пётр;ёж"]


def test_utf8_with_and_without_bom():
    for data, codec in (((HEAD + ROW).encode(), "utf-8"), (b"\xef\xbb\xbf" + (HEAD + ROW).encode(), "utf-8-sig")):
        table = read_table(data, "csv")
        assert table.encoding == codec and table.columns[0] == "external_id"
        assert table.rows == [(2, {"external_id": "W-1", "customer_name": "Айгерим Нұрланқызы", "sku": "SKU-1",
                                   "quantity": "2", "unit_price": "1500"})]


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom(codec):
    data = (HEAD + ROW).encode(codec)
    if codec != "utf-16":  # the explicit-endian codecs write no BOM: add it as Excel's "Unicode text" does
        data = ("\ufeff" + HEAD + ROW).encode(codec)
    table = read_table(data, "csv")
    assert table.encoding == "utf-16" and table.columns == ["external_id", "customer_name", "sku", "quantity",
                                                            "unit_price"]
    assert table.rows[0][1]["customer_name"] == "Айгерим Нұрланқызы"


def test_cyrillic_after_64_kb_of_ascii_decides_the_encoding():
    latin = "".join(f"W-{i},Buyer {i},SKU-1,1,100\n" for i in range(4000))  # ~100 KB of ASCII
    table = read_table((HEAD + latin + "W-X,Пётр,SKU-1,1,100\n").encode("cp1251"), "csv")
    assert table.encoding == "cp1251" and table.rows[-1][1]["customer_name"] == "Пётр"
    table = read_table((HEAD + latin + "W-X,Пётр,SKU-1,1,100\n").encode("utf-8"), "csv")
    assert table.encoding == "utf-8" and table.rows[-1][1]["customer_name"] == "Пётр"


def test_a_cell_over_the_csv_field_limit_is_a_row_problem():
    ok = read_table((HEAD + "W-1," + "x" * 131_072 + ",SKU-1,1,100\n").encode(), "csv")
    assert ok.problems == [] and len(ok.rows[0][1]["customer_name"]) == 131_072
    table = read_table((HEAD + ROW + "W-2," + "x" * 131_073 + ",SKU-1,1,100\n").encode(), "csv")
    assert table.problems == [(3, "row", "a cell is longer than 131,072 characters")]
    assert len(table.rows) == 1  # the rows before it were read; the reading stopped there


def test_a_wrong_header_is_refused_without_reading_the_rest():
    class Counting(io.BytesIO):
        read_bytes = 0

        def read(self, n=-1):
            out = super().read(n)
            Counting.read_bytes += len(out)
            return out

        def read1(self, n=-1):
            out = super().read1(n)
            Counting.read_bytes += len(out)
            return out

        def readinto(self, b):
            n = super().readinto(b)
            Counting.read_bytes += n
            return n

    data = b"id,name\n" + b"1,somebody with a long name\n" * 2_000_000  # 56 MB
    stream = Counting(data)
    started = time.perf_counter()
    with open_table(stream, "csv") as reader:
        assert reader.columns == ["id", "name"]  # the caller refuses it: no external_id, sku, ...
    assert time.perf_counter() - started < 0.1
    assert Counting.read_bytes < 256 * 1024, Counting.read_bytes


def test_the_row_limit_stops_the_reading():
    data = (HEAD + "".join(f"W-{i},B,SKU-1,1,100\n" for i in range(20))).encode()
    table = read_table(data, "csv", Limits(max_rows=10))
    assert len(table.rows) == 10 and table.problems == [(12, "file", "the file has more than 10 rows: split it into "
                                                                     "smaller files")]


def test_an_endless_line_is_refused():
    table = read_table(b"a,b\n" + b"x" * (5 * 1024 * 1024), "csv")
    assert table.rows == [] and table.problems[0][0] == 2 and "longer than" in table.problems[0][2]
    with pytest.raises(FileFormatError, match="header line is longer"):
        read_table(b"x" * (5 * 1024 * 1024), "csv")


def test_a_formula_without_a_cached_value_is_reported_with_its_cell():
    def fill(ws):
        ws.append(["external_id", "sku", "quantity", "unit_price"])
        ws.append(["W-1", "SKU-1", 2, 1500])
        ws.append(["W-2", "SKU-2", "=B1*2", None])  # openpyxl writes formulas without a cached value
        ws.append(["W-3", "SKU-3", 1, None])  # an empty cell is empty
    table = read_table(xlsx(fill), "xlsx")
    assert [line for line, _ in table.rows] == [2, 4]
    assert table.rows[1][1]["unit_price"] == ""
    assert len(table.problems) == 1
    line, column, message = table.problems[0]
    assert (line, column) == (3, "quantity") and "cell C3" in message and "=B1*2" in message


def test_an_xlsx_bomb_is_refused_before_parsing():
    data = bomb()
    assert len(data) < 1024 * 1024
    started = time.perf_counter()
    with pytest.raises(FileFormatError, match="expands to|compressed"):
        open_table(io.BytesIO(data), "xlsx")
    assert time.perf_counter() - started < 0.2
    # a high ratio alone (under the total) is refused too; a normal workbook is not
    with pytest.raises(FileFormatError, match="compressed .* to 1"):
        open_table(io.BytesIO(data), "xlsx", Limits(xlsx_max_uncompressed_mb=10_000))
    ok = xlsx(lambda ws: [ws.append(["external_id", "sku"])] + [ws.append([f"W-{i}", "SKU-1"]) for i in range(500)])
    assert len(read_table(ok, "xlsx").rows) == 500
