"""Imports read their file as a stream (platform/tabular.py, platform/imports.py): Windows-1251 and UTF-16
files imported intact with the encoding in the report; an over-long CSV cell, an XLSX formula without a
value, too many rows and an XLSX bomb as row errors (never a 500); a wrong header on a big file refused
without reading it; and a large valid dry run in bounded memory."""

from __future__ import annotations

import io
import os
import time

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from conftest import build_world
from xlsx_files import bomb
from qoima.db import tables as t
from qoima.entrypoints.importers import IMPORTERS
from qoima.platform.access import Principal
from qoima.platform.imports import ImportOptions, Upload
from qoima.platform.tabular import Limits

ADMIN = Principal(user_id=None, email="importer@qoima.local", role="admin")
HEAD = "seller,channel,external_id,customer_name,customer_phone,sku,quantity,unit_price\n"
STOCK = {("seller-a", "SKU-1", "ALA"): 10, ("seller-a", "SKU-2", "AST"): 5}
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """The process's resident memory now (bytes)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


def run(kind, engine, upload: Upload, **options):
    return IMPORTERS[kind](engine, ADMIN, upload, ImportOptions(**options))


@pytest.fixture
def world(engine):
    return build_world(engine, STOCK)


def test_windows_1251_orders_keep_their_cyrillic_names(world):
    text = HEAD + ("seller-a,shop,CYR-1,Пётр Ёлкин,+77011234567,SKU-1,1,1500\n"
                   "seller-a,shop,CYR-2,Жанна Әлиева;«ООО Ромашка»,+77017654321,SKU-2,1,990\n").replace("Ә", "А")
    report = run("orders", world.engine, Upload(text.encode("cp1251"), "orders.csv"))
    assert report.valid and report.committed, report.errors
    assert report.as_dict()["encoding"] == "Windows-1251" and report.as_dict()["format"] == "csv"
    with world.engine.connect() as conn:
        names = set(conn.execute(select(t.customers.c.name)).scalars())
    assert names == {"Пётр Ёлкин", "Жанна Алиева;«ООО Ромашка»"}


@pytest.mark.parametrize("codec, name", [("utf-16", "UTF-16"), ("utf-8-sig", "UTF-8 (BOM)"), ("utf-8", "UTF-8")])
def test_unicode_files_name_their_encoding(world, codec, name):
    text = HEAD + "seller-a,shop,U-1,Айгерім Қасымова,+77011234567,SKU-1,1,1500\n"
    report = run("orders", world.engine, Upload(text.encode(codec), "orders.csv"), dry_run=True)
    assert report.valid and report.encoding == name and report.counts["orders"] == 1, report.errors


def test_a_cell_over_131072_characters_is_a_row_error(world):
    data = (HEAD + "seller-a,shop,L-1,Ann,+77011234567,SKU-1,1,1500\n"
            f"seller-a,shop,L-2,{'x' * 131_073},+77011234567,SKU-1,1,1500\n").encode()
    report = run("orders", world.engine, Upload(data, "orders.csv"))
    assert not report.valid and not report.committed
    assert {"line": 3, "field": "row", "message": "a cell is longer than 131,072 characters"} in report.errors
    with world.engine.connect() as conn:
        assert conn.execute(select(t.orders.c.id)).first() is None


def test_a_formula_without_a_value_is_reported_not_read_as_empty(world):
    book = Workbook()
    ws = book.active
    ws.append(["seller", "external_id", "sku", "quantity", "unit_price"])
    ws.append(["seller-a", "F-1", "SKU-1", 1, 1500])
    ws.append(["seller-a", "F-2", "SKU-1", 1, "=E2*0.9"])
    buf = io.BytesIO()
    book.save(buf)
    report = run("orders", world.engine, Upload(buf.getvalue(), "orders.xlsx"))
    assert not report.valid and not report.committed and report.format == "xlsx"
    [error] = report.errors
    assert error["line"] == 3 and error["field"] == "unit_price"
    assert "cell E3" in error["message"] and "=E2*0.9" in error["message"]


def test_the_row_limit_is_a_row_error(world):
    products = "seller,sku,name\n" + "".join(f"seller-a,NEW-{i},Product {i}\n" for i in range(30))
    report = run("products", world.engine, Upload(products.encode(), "p.csv"), limits=Limits(max_rows=10), dry_run=True)
    assert any(e["line"] == 12 and "more than 10 rows" in e["message"] for e in report.errors)
    data = (HEAD + "".join(f"seller-a,shop,R-{i},Ann,+77011234567,SKU-1,1,1500\n" for i in range(30))).encode()
    report = run("orders", world.engine, Upload(data, "o.csv"), limits=Limits(max_rows=10))
    assert not report.valid and report.rows == 10 and "more than 10 rows" in report.errors[-1]["message"]


def test_a_wrong_header_on_a_big_file_is_refused_without_reading_it(world, tmp_path):
    path = tmp_path / "wrong.csv"
    with open(path, "w") as fh:  # 51 MB, as in the finding
        fh.write("seller,order,customer,item,qty,price\n")
        line = "seller-a,W-1,Somebody Long Enough,SKU-1,1,1500.00\n" * 10_000
        while fh.tell() < 51 * 1024 * 1024:
            fh.write(line)
    before = rss()
    started = time.perf_counter()
    report = run("orders", world.engine, Upload(filename="wrong.csv", path=path), dry_run=True)
    elapsed = time.perf_counter() - started
    assert not report.valid and {e["line"] for e in report.errors} == {1}
    assert {e["field"] for e in report.errors} == {"external_id", "sku", "quantity", "unit_price"}
    assert elapsed < 0.5, elapsed
    assert rss() - before < 20 * 1024 * 1024


def test_an_xlsx_bomb_is_refused_fast(world):
    data = bomb()
    before = rss()
    started = time.perf_counter()
    report = run("orders", world.engine, Upload(data, "orders.xlsx"), dry_run=True)
    elapsed = time.perf_counter() - started
    assert not report.valid and report.errors[0]["line"] == 1 and report.errors[0]["field"] == "file"
    assert "to 1" in report.errors[0]["message"] or "expands" in report.errors[0]["message"]
    assert elapsed < 0.5, elapsed
    assert rss() - before < 20 * 1024 * 1024


ROWS = 200_000
BOUND_MB = 200  # the old reader held the file, its text and every row as a dict: ~1.7 GB for 45 MB


def test_a_large_valid_dry_run_stays_in_bounded_memory(world, tmp_path):
    """200,000 order lines (100,000 orders of two lines, ~17 MB): the peak memory while the dry run
    reads and validates stays below BOUND_MB over what the process held before."""
    path = tmp_path / "big.csv"
    with open(path, "w") as fh:
        fh.write(HEAD)
        for i in range(ROWS // 2):
            fh.write(f"seller-a,shop,BIG-{i},Buyer Number {i},+7701{i:07d},SKU-1,1,1500\n"
                     f"seller-a,shop,BIG-{i},,,SKU-2,{1 + i % 3},990.50\n")
    before = rss()
    peak = [before]

    def progress(stage, done, total):
        peak[0] = max(peak[0], rss())
    report = run("orders", world.engine, Upload(filename="big.csv", path=path), dry_run=True, progress=progress)
    peak[0] = max(peak[0], rss())
    assert report.valid, report.errors[:3]
    assert report.rows == ROWS and report.counts["orders"] == ROWS // 2 and report.counts["lines"] == ROWS
    growth = (peak[0] - before) / 1024 / 1024
    print(f"peak RSS growth {growth:.0f} MB for {ROWS} rows ({path.stat().st_size / 1048576:.0f} MB)")
    assert growth < BOUND_MB, growth
