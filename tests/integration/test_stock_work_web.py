"""Stock work through the web forms (web/pages/stock_ops.py), on SQLite and PostgreSQL:
put-away from the dock, moves, transfers sent and received, adjustments with a listed
reason and cycle counts each write ledger rows with the actor and the reason and keep
the ledger consistent; a form sent twice changes stock once; bad input is a 422 with a
translated message naming the field and writes nothing; the movement history pages
(a seller: its own SKUs only); the receiving mode of a warehouse; and in both modes a
receipt into the dock gets a waiting backorder allocated, with its current reason."""

from __future__ import annotations

import re

import pytest
from conftest import order_payload
from sqlalchemy import func, select
from test_stock_ledger import assert_ledger_consistent, drain_outbox, level

from qoima.db import tables as t
from qoima.entrypoints.web import i18n
from qoima.orders.schemas import OrderIn
from qoima.orders.services.intake import submit_order
from qoima.platform.access import SYSTEM

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    return CSRF.search(html).group(1)


def login(client, email: str):
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"email": email, "password": "password123", "csrf": token},
                       follow_redirects=False)


def movements(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(t.stock_movements).order_by(t.stock_movements.c.id)).all()


def ledger_size(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(t.stock_movements)).scalar_one()


def order(world, external_id: str, lines) -> dict:
    return submit_order(world.engine, SYSTEM, OrderIn(**order_payload(external_id, lines)))[0]


def order_row(engine, order_id: int):
    with engine.connect() as conn:
        return conn.execute(select(t.orders).where(t.orders.c.id == order_id)).one()


def signed_in(client, who: str = "worker@qoima.local") -> str:
    assert login(client, who).status_code == 303
    return csrf_of(client.get("/stock/work").text)


def receipt(client, token: str, sku: str, qty: int, place: str = "ALA|RCV") -> None:
    r = client.post("/receipts", data={"csrf": token, "seller": "seller-a", "place": place, "sku": [sku],
                                       "expected": [str(qty)], "received": [str(qty)]}, follow_redirects=False)
    assert r.status_code == 303, r.text


def test_putaway_from_the_dock_page_and_form(client, world):
    eng = world.engine
    token = signed_in(client)
    receipt(client, token, "SKU-2", 4)
    page = client.get("/stock/putaway")
    assert page.status_code == 200 and 'data-putaway="SKU-2"' in page.text
    op = re.search(r'data-putaway="SKU-2".*?name="op" value="([0-9a-f]+)"', page.text, re.S).group(1)
    before = ledger_size(eng)
    form = {"csrf": token, "op": op, "seller": "seller-a", "sku": "SKU-2", "warehouse": "ALA",
            "from_location": "RCV", "to_location": "A-02", "quantity": "4"}
    for _ in range(2):  # sent twice: put away once
        r = client.post("/stock/putaway", data=form, follow_redirects=False)
        assert r.status_code == 303
    assert level(eng, "seller-a", "SKU-2", "ALA", "A-02") == (4, 0)
    assert level(eng, "seller-a", "SKU-2", "ALA", "RCV") == (0, 0)
    rows = movements(eng)[before:]
    assert [(m.kind, m.actor, m.reason) for m in rows] == [("putaway", "worker@qoima.local", "put-away")] * 2
    assert 'data-putaway="SKU-2"' not in client.get("/stock/putaway").text
    assert_ledger_consistent(eng)


def test_reserved_units_on_the_dock_are_put_away_with_their_reservation(client, world):
    """'reserve' mode: a backorder takes the units on the dock at once; the put-away carries the
    reservation to the cell, so the pick is from the cell."""
    eng = world.engine
    token = signed_in(client)
    waiting = order(world, "DOCK-1", [("SKU-2", 8)])  # the 5 in AST, 3 short
    assert waiting["status"] == "backordered"
    drain_outbox(eng)
    receipt(client, token, "SKU-2", 5)
    drain_outbox(eng)
    assert order_row(eng, waiting["id"]).status == "allocated"
    assert level(eng, "seller-a", "SKU-2", "ALA", "RCV") == (5, 3)
    r = client.post("/stock/putaway", data={"csrf": token, "op": "p-1", "seller": "seller-a", "sku": "SKU-2",
                                            "warehouse": "ALA", "from_location": "RCV", "to_location": "A-01",
                                            "quantity": "4"}, follow_redirects=False)
    assert r.status_code == 303
    assert level(eng, "seller-a", "SKU-2", "ALA", "A-01") == (4, 2)  # the 2 free units first, then 2 reserved
    assert level(eng, "seller-a", "SKU-2", "ALA", "RCV") == (1, 1)
    assert_ledger_consistent(eng)


def test_move_adjust_count_forms_write_the_ledger(client, world):
    eng = world.engine
    token = signed_in(client)
    before = ledger_size(eng)
    common = {"csrf": token, "seller": "seller-a", "sku": "SKU-1", "place": "ALA|A-01"}
    assert client.post("/stock/move", data={**common, "op": "m-1", "to_location": "A-02", "quantity": "3",
                                            "note": "closer to packing"}, follow_redirects=False).status_code == 303
    assert client.post("/stock/adjust", data={**common, "op": "a-1", "reason": "damaged", "direction": "remove",
                                              "quantity": "2", "note": "box crushed"},
                       follow_redirects=False).status_code == 303
    assert client.post("/stock/adjust", data={**common, "op": "a-2", "reason": "scrap", "direction": "remove",
                                              "quantity": "1"}, follow_redirects=False).status_code == 303
    r = client.post("/stock/count", data={**common, "op": "c-1", "counted": "7", "note": "shelf recount"},
                    follow_redirects=False)
    assert r.status_code == 303
    for _ in range(2):  # the same count sent again books nothing more
        assert client.post("/stock/count", data={**common, "op": "c-1", "counted": "7", "note": "shelf recount"},
                           follow_redirects=False).status_code == 303
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (7, 0)  # 10 - 3 - 2 - 1 = 4, counted 7: +3
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-02") == (3, 0)
    rows = movements(eng)[before:]
    assert [(m.kind, m.quantity, m.reason) for m in rows] == [
        ("move", 3, "closer to packing"), ("move", 3, "closer to packing"),
        ("adjustment", 2, "damaged: box crushed"), ("scrap", 1, "scrap"),
        ("adjustment", 3, "count_correction: shelf recount")]
    assert {m.actor for m in rows} == {"worker@qoima.local"}
    assert rows[-1].reference == "count:A-01"
    page = client.get("/stock/work").text
    assert "flash-success" in page
    assert_ledger_consistent(eng)


def test_transfer_sent_then_received_at_the_destination(client, world):
    eng = world.engine
    token = signed_in(client)
    form = {"csrf": token, "op": "t-1", "seller": "seller-a", "sku": "SKU-1", "place": "ALA|A-01",
            "to_warehouse": "AST", "quantity": "4"}
    for _ in range(2):
        assert client.post("/stock/transfers", data=form, follow_redirects=False).status_code == 303
    assert level(eng, "seller-a", "SKU-1", "ALA", "A-01") == (6, 0)
    page = client.get("/stock/transfers").text
    tid = int(re.search(r'action="/stock/transfers/(\d+)/receive"', page).group(1))
    r = client.post(f"/stock/transfers/{tid}/receive", data={"csrf": token, "op": "r-1", "location": "A-02"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.post(f"/stock/transfers/{tid}/receive", data={"csrf": token, "op": "r-1", "location": "A-02"},
                       follow_redirects=False).status_code == 303  # the same form again: replayed
    assert level(eng, "seller-a", "SKU-1", "AST", "A-02") == (4, 0)
    assert f'/stock/transfers/{tid}/receive' not in client.get("/stock/transfers").text
    kinds = [(m.kind, m.actor) for m in movements(eng)[-2:]]
    assert kinds == [("transfer_out", "worker@qoima.local"), ("transfer_in", "worker@qoima.local")]
    assert client.post("/stock/transfers/999999/receive", data={"csrf": token, "location": "A-02"}).status_code == 404
    assert_ledger_consistent(eng)


BAD = [
    ("/stock/move", {"quantity": "0"}, "Quantity must be at least 1."),
    ("/stock/move", {"quantity": "-3"}, "Quantity must be at least 1."),
    ("/stock/move", {"quantity": "abc"}, "Quantity: enter a whole number."),
    ("/stock/move", {"quantity": "99999999999"}, "Quantity must be at most 2147483647."),
    ("/stock/move", {"quantity": "11"}, "Quantity: only 10 unit(s) of SKU-1 free at A-01"),
    ("/stock/move", {"to_location": "Z-99"}, "To: unknown location 'Z-99'"),
    ("/stock/move", {"note": "x" * 201}, "Note is longer than 200 characters."),
    ("/stock/move", {"sku": "S" * 65}, "SKU is longer than 64 characters."),
    ("/stock/move", {"sku": "NOPE"}, "SKU: unknown SKU 'NOPE'"),
    ("/stock/move", {"place": ""}, "Warehouse / location: choose the warehouse and location."),
    ("/stock/adjust", {"quantity": "11"}, "Quantity: only 10 unit(s) of SKU-1 free at this location, 11 asked"),
    ("/stock/adjust", {"reason": "found"}, "Direction: “found” only adds stock"),
    ("/stock/adjust", {"reason": "bogus"}, "Reason: choose a reason from the list"),
    ("/stock/adjust", {"quantity": "0"}, "Quantity must be at least 1."),
    ("/stock/count", {"counted": "-1"}, "Counted quantity must be at least 0."),
    ("/stock/count", {"counted": "ten"}, "Counted quantity: enter a whole number."),
    ("/stock/count", {"place": "ALA|NOWHERE"}, "Location: unknown location 'NOWHERE'"),
    ("/stock/transfers", {"quantity": "0"}, "Quantity must be at least 1."),
    ("/stock/transfers", {"quantity": "50"}, "Quantity: only 10 unit(s) of SKU-1 free at this location, 50 asked"),
    ("/stock/transfers", {"to_warehouse": "ALA"}, "a transfer needs two different warehouses"),
    ("/stock/putaway", {"quantity": "0"}, "Quantity must be at least 1."),
    ("/stock/putaway", {"to_location": "Q-1"}, "To: unknown location 'Q-1'"),
]


@pytest.mark.parametrize("path,change,message", BAD)
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(client, world, path, change, message):
    eng = world.engine
    token = signed_in(client)
    base = {"csrf": token, "op": "bad-1", "seller": "seller-a", "sku": "SKU-1", "place": "ALA|A-01",
            "to_location": "A-02", "quantity": "1", "note": "", "reason": "damaged", "direction": "remove",
            "counted": "3", "to_warehouse": "AST", "warehouse": "ALA", "from_location": "A-01"}
    before, stock_before = ledger_size(eng), level(eng, "seller-a", "SKU-1", "ALA", "A-01")
    r = client.post(path + "?lang=en", data={**base, **change})
    assert r.status_code == 422, r.text[:300]
    assert "flash-error" in r.text and message in r.text.replace("&#39;", "'").replace("&lt;", "<")
    assert ledger_size(eng) == before and level(eng, "seller-a", "SKU-1", "ALA", "A-01") == stock_before


def test_bad_input_message_is_translated(client, world):
    token = signed_in(client)
    r = client.post("/stock/move?lang=ru", data={"csrf": token, "seller": "seller-a", "sku": "SKU-1",
                                                 "place": "ALA|A-01", "to_location": "A-02", "quantity": "0"})
    ru = i18n.get_translations("ru")
    expected = ru.gettext("%(field)s must be at least %(min)s.") % {"field": ru.gettext("Quantity"), "min": 1}
    assert r.status_code == 422 and expected in r.text and expected != "Quantity must be at least 1."


def test_history_pages_of_a_sku_and_a_cell(client, world):
    eng = world.engine
    token = signed_in(client)
    client.post("/stock/adjust", data={"csrf": token, "op": "h-1", "seller": "seller-a", "sku": "SKU-1",
                                       "place": "ALA|A-01", "reason": "lost", "direction": "remove", "quantity": "1",
                                       "note": "not found at count"})
    with eng.connect() as conn:
        pid = conn.execute(select(t.products.c.id).where(t.products.c.sku == "SKU-1", t.products.c.seller_id ==
                                                         world.sellers["seller-a"])).scalar_one()
        other = conn.execute(select(t.products.c.id).where(t.products.c.sku == "SKU-1", t.products.c.seller_id ==
                                                           world.sellers["seller-b"])).scalar_one()
    stock = client.get("/stock").text
    assert f'href="/stock/products/{pid}/history"' in stock
    loc = world.locations[("ALA", "A-01")]
    assert f'href="/stock/locations/{loc}/history"' in stock
    page = client.get(f"/stock/products/{pid}/history?lang=en").text
    assert "worker@qoima.local" in page and "not found at count" in page and "adjustment:A-01" in page
    assert "system" in page  # the setup's receipt
    cell = client.get(f"/stock/locations/{loc}/history?lang=en").text
    assert "lost" in cell and "SKU-1" in cell
    # a seller: its own SKU's history, another seller's is 404 and a cell's is refused
    client.post("/logout", data={"csrf": token})
    login(client, "b@seller-b.kz")
    assert client.get(f"/stock/products/{other}/history").status_code == 200
    assert client.get(f"/stock/products/{pid}/history").status_code == 404
    assert client.get(f"/stock/locations/{loc}/history").status_code == 403
    assert f"/stock/locations/" not in client.get("/stock").text


def test_history_is_paginated(client, world):
    token = signed_in(client)
    for i in range(55):
        client.post("/stock/move", data={"csrf": token, "op": f"pg-{i}", "seller": "seller-a", "sku": "SKU-3",
                                         "place": "ALA|A-01" if i % 2 == 0 else "ALA|A-02",
                                         "to_location": "A-02" if i % 2 == 0 else "A-01", "quantity": "1"})
    with world.engine.connect() as conn:
        pid = conn.execute(select(t.products.c.id).where(t.products.c.sku == "SKU-3", t.products.c.seller_id ==
                                                         world.sellers["seller-a"])).scalar_one()
    first = client.get(f"/stock/products/{pid}/history").text
    assert 'rel="next"' in first and first.count("<tr>") == 51  # 50 rows + the head
    second = client.get(f"/stock/products/{pid}/history?page=3").text
    assert 'rel="next"' not in second and 'rel="prev"' in second


def test_auto_putaway_warehouse_books_receipt_then_putaway_and_fills_the_backorder(client, world):
    eng = world.engine
    assert login(client, "manager@qoima.local").status_code == 303
    token = csrf_of(client.get("/stock/settings").text)
    bad = client.post("/stock/settings?lang=en", data={"csrf": token, "warehouse": "ALA", "mode": "auto_putaway"})
    assert bad.status_code == 422 and "Put-away cell: automatic put-away needs a put-away cell" in bad.text
    bad = client.post("/stock/settings?lang=en", data={"csrf": token, "warehouse": "ALA", "mode": "auto_putaway",
                                                       "cell": "RCV"})
    assert bad.status_code == 422 and "RCV is not a storage cell" in bad.text
    assert client.post("/stock/settings", data={"csrf": token, "warehouse": "ALA", "mode": "auto_putaway",
                                                "cell": "A-02"}, follow_redirects=False).status_code == 303
    waiting = order(world, "AUTO-1", [("SKU-2", 7)])  # the 5 in AST, 2 short
    assert waiting["status"] == "backordered"
    drain_outbox(eng)
    before = ledger_size(eng)
    receipt(client, token, "SKU-2", 3)
    rows = movements(eng)[before:]
    assert [(m.kind, m.from_location_id, m.to_location_id) for m in rows] == [
        ("receipt", None, world.locations[("ALA", "RCV")]), ("putaway", world.locations[("ALA", "RCV")], None),
        ("putaway", None, world.locations[("ALA", "A-02")])]
    assert level(eng, "seller-a", "SKU-2", "ALA", "RCV") == (0, 0)
    drain_outbox(eng)
    o = order_row(eng, waiting["id"])
    assert o.status == "allocated" and o.sourcing_reason == "backorder filled: stock arrived; ships from AST+ALA"
    assert level(eng, "seller-a", "SKU-2", "ALA", "A-02") == (3, 2)
    page = client.get(f"/orders/{waiting['id']}").text
    assert "backorder filled: stock arrived; ships from AST+ALA" in page
    assert_ledger_consistent(eng)


def test_reserve_mode_receipt_into_the_dock_fills_the_backorder_with_the_current_reason(client, world):
    eng = world.engine
    token = signed_in(client)
    waiting = order(world, "RSV-1", [("SKU-2", 7)])  # 5 in AST, 2 short
    assert waiting["status"] == "backordered"
    stale = order_row(eng, waiting["id"]).sourcing_reason
    drain_outbox(eng)
    receipt(client, token, "SKU-2", 1, place="AST|RCV")
    drain_outbox(eng)
    partly = order_row(eng, waiting["id"])
    assert partly.status == "backordered" and "1 unit(s) still backordered" in partly.sourcing_reason
    receipt(client, token, "SKU-2", 1, place="AST|RCV")
    drain_outbox(eng)
    o = order_row(eng, waiting["id"])
    assert o.status == "allocated" and o.sourcing_reason != stale
    assert o.sourcing_reason == "backorder filled: stock arrived; ships from AST"
    assert level(eng, "seller-a", "SKU-2", "AST", "RCV") == (2, 2)
    assert_ledger_consistent(eng)


def test_seller_may_not_post_stock_work(client, world):
    eng = world.engine
    login(client, "a@seller-a.kz")
    token = csrf_of(client.get("/stock").text)
    before = ledger_size(eng)
    for path in ("/stock/move", "/stock/adjust", "/stock/count", "/stock/putaway", "/stock/transfers"):
        r = client.post(path, data={"csrf": token, "seller": "seller-a", "sku": "SKU-1", "place": "ALA|A-01",
                                    "to_location": "A-02", "quantity": "1", "counted": "1", "reason": "found",
                                    "direction": "add", "to_warehouse": "AST"})
        assert r.status_code == 403, path
    for path in ("/stock/putaway", "/stock/work", "/stock/transfers", "/stock/settings"):
        assert client.get(path).status_code == 403
    assert ledger_size(eng) == before
