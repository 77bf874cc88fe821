"""POST /api/v1/{orders,products,stock}/import: multipart upload, dry run,
problem+json with line-numbered errors, permissions."""

from __future__ import annotations

import io

from openpyxl import Workbook
from sqlalchemy import func, select

from qoima.db import tables as t

HEAD = "seller,channel,external_id,customer_name,customer_phone,sku,quantity,unit_price\n"
ROWS = ("seller-a,website,W-1,Aigerim,+77011234567,SKU-1,2,1500\n"
        "seller-a,website,W-1,Aigerim,+77011234567,SKU-3,1,800\n"
        "seller-a,website,W-2,Nurlan,87017654321,SKU-2,1,990\n")


def upload(client, world, path, body: bytes, who="admin", name="orders.csv", ctype="text/csv", **params):
    return client.post(path, params=params, headers=world.headers(who), files={"file": (name, body, ctype)})


def orders_count(world) -> int:
    with world.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(t.orders)).scalar_one()


def test_dry_run_then_commit_then_idempotent_replay(client, world):
    body = (HEAD + ROWS).encode()
    r = upload(client, world, "/api/v1/orders/import", body, dry_run="true")
    assert r.status_code == 200, r.text
    assert r.json()["valid"] is True and r.json()["committed"] is False
    assert r.json()["counts"] == {"orders": 2, "lines": 3, "new": 2, "existing": 0}
    assert orders_count(world) == 0

    r = upload(client, world, "/api/v1/orders/import", body)
    assert r.status_code == 200, r.text
    assert r.json()["committed"] is True and r.json()["counts"]["allocated"] == 2
    listed = client.get("/api/v1/orders", headers=world.headers("seller_a")).json()
    assert {o["external_id"] for o in listed["items"]} == {"W-1", "W-2"}

    r = upload(client, world, "/api/v1/orders/import", body)
    assert r.json()["counts"]["existing"] == 2 and r.json()["counts"]["new"] == 0
    assert orders_count(world) == 2


def test_bad_rows_give_problem_json_with_lines_and_nothing_is_stored(client, world):
    body = (HEAD + ROWS + "seller-a,website,W-3,Dana,+7 701,SKU-1,1,10\n"
                          "seller-a,website,W-4,Dana,,SKU-404,1,10\n"
                          "seller-a,website,W-5,Dana,,SKU-1,-2,10\n").encode()
    r = upload(client, world, "/api/v1/orders/import", body)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["title"] == "Import has invalid rows" and problem["error_count"] == 3
    assert [(e["line"], e["field"]) for e in problem["errors"]] == [(5, "customer_phone"), (6, "sku"),
                                                                    (7, "quantity")]
    assert problem["errors"][1]["message"] == "unknown SKU 'SKU-404' for seller 'seller-a'"
    assert orders_count(world) == 0  # the three good orders were not stored either

    r = upload(client, world, "/api/v1/orders/import", body, dry_run="true")
    assert r.status_code == 200 and r.json()["valid"] is False and len(r.json()["errors"]) == 3


def test_missing_column(client, world):
    r = upload(client, world, "/api/v1/orders/import", b"external_id,sku,quantity\nW-1,SKU-1,1\n")
    assert r.status_code == 422
    assert r.json()["errors"][0]["line"] == 1 and r.json()["errors"][0]["field"] == "unit_price"


def test_seller_cannot_import_rows_of_another_seller(client, world):
    body = (HEAD + ",website,OWN-1,,,SKU-1,1,10\nseller-a,website,THEIRS-1,,,SKU-1,1,10\n").encode()
    r = upload(client, world, "/api/v1/orders/import", body, who="seller_b")
    assert r.status_code == 422
    assert r.json()["errors"] == [{"line": 3, "field": "seller", "message": "you may act only for your own seller, not 'seller-a'"}]
    assert orders_count(world) == 0


def test_products_import_from_xlsx_and_barcode_check_digit(client, world):
    wb = Workbook()
    ws = wb.active
    ws.append(["sku", "name", "price", "barcodes", "weight_g"])
    ws.append(["SKU-20", "Lamp", 12990, "4870000009046", 900])
    ws.append(["SKU-21", "Shade", 2990, "4870000009047", 100])  # wrong check digit (6 expected)
    buf = io.BytesIO()
    wb.save(buf)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    r = upload(client, world, "/api/v1/products/import", buf.getvalue(), who="seller_b", name="p.xlsx", ctype=xlsx)
    assert r.status_code == 422
    assert r.json()["errors"] == [{"line": 3, "field": "barcodes",
                                   "message": "barcode 4870000009047 has a wrong check digit (expected 6, got 7)"}]
    ws.delete_rows(3)
    buf = io.BytesIO()
    wb.save(buf)
    r = upload(client, world, "/api/v1/products/import", buf.getvalue(), who="seller_b", name="p.xlsx", ctype=xlsx)
    assert r.status_code == 200 and r.json()["counts"] == {"products": 1, "new": 1, "updated": 0}
    items = client.get("/api/v1/products", params={"q": "SKU-20"}, headers=world.headers("seller_b")).json()["items"]
    assert items[0]["seller"] == "seller-b" and items[0]["barcodes"] == ["4870000009046"]


def test_stock_import_is_for_staff(client, world):
    body = b"seller,sku,warehouse,location,quantity\nseller-a,SKU-1,ALA,A-01,25\n"
    r = upload(client, world, "/api/v1/stock/import", body, who="seller_a", name="stock.csv")
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    r = upload(client, world, "/api/v1/stock/import", body, who="worker", name="stock.csv")
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["units_added"] == 15
    stock = client.get("/api/v1/stock", params={"sku": "SKU-1", "warehouse": "ALA", "seller": "seller-a"},
                       headers=world.headers("admin")).json()["items"]
    assert stock[0]["on_hand"] == 25


def test_unreadable_file(client, world):
    r = upload(client, world, "/api/v1/orders/import", b"PK\x03\x04garbage", name="orders.xlsx",
               ctype="application/octet-stream")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
