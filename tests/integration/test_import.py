"""CSV / XLSX import and bulk intake: line-numbered errors, all-or-nothing,
idempotent re-import, and bulk intake giving the same rows as the per-order path."""

from __future__ import annotations

import io
import shutil
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

import qoima
from conftest import PG_URL, _truncate, _worker, build_world
from test_stock_ledger import drain_outbox, shipped_from
from openpyxl import Workbook
from sqlalchemy import func, select, text

from qoima.db import tables as t
from qoima.db.engine import make_engine
from qoima.platform.errors import Forbidden, RowErrors
from qoima.entrypoints.importers import IMPORTERS
from qoima.orders.services import bulk_intake
from qoima.orders.services.order_import import ORDER_COLUMNS
from qoima.platform.imports import SWITCH_INTERVAL, ImportOptions, Upload, bulk_interpreter
from qoima.platform.access import SYSTEM, Principal
from qoima.orders.services.intake import create_order, order_summary
from qoima.customers.schemas import CustomerIn
from qoima.orders.schemas import DeliveryIn, LineIn, OrderIn
from qoima.platform.unit_of_work import UnitOfWork

ORDER_HEAD = ("seller,channel,external_id,customer_name,customer_phone,customer_email,delivery_type,address,city,"
              "lat,lon,received_at,sku,quantity,unit_price\n")
ADMIN = Principal(user_id=None, email="importer@qoima.local", role="admin")
SAMPLES = Path(qoima.__file__).parent / "data" / "samples"


def run(kind: str, engine, principal, data: bytes, filename=None, content_type=None, **options):
    """The importer of `kind`, called as the CLI and the import jobs call it."""
    return IMPORTERS[kind](engine, principal, Upload(data, filename, content_type), ImportOptions(**options))


def import_orders(*args, **kwargs):
    return run("orders", *args, **kwargs)


def import_products(*args, **kwargs):
    return run("products", *args, **kwargs)


def import_stock(*args, **kwargs):
    return run("stock", *args, **kwargs)


def csv_bytes(*rows: str, head: str = ORDER_HEAD) -> bytes:
    return (head + "".join(r + "\n" for r in rows)).encode()


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def reserved(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.coalesce(func.sum(t.stock.c.reserved), 0))).scalar_one()


GOOD = ("seller-a,api,A-1,Aigerim,+77011234567,aigerim@example.kz,courier,Abay 1,Almaty,43.25,76.93,,SKU-1,2,1500.00",
        "seller-a,api,A-1,,,,,,,,,,SKU-2,1,900",
        "seller-a,kaspi,K-7,Nurlan,87017654321,,pickup_point,Kenesary 3,Astana,51.16,71.47,,SKU-3,4,700.50",
        "seller-b,api,B-1,Dana,+77021112233,,courier,Tauke 5,Astana,51.1,71.4,,SKU-1,1,1000")


# ---------------------------------------------------------------- orders

def test_orders_import_allocates_and_reimport_is_idempotent(world):
    engine = world.engine
    dry = import_orders(engine, ADMIN, csv_bytes(*GOOD), "orders.csv", dry_run=True)
    assert dry.valid and not dry.committed
    assert dry.counts == {"orders": 3, "lines": 4, "new": 3, "existing": 0}
    assert count(engine, t.orders) == 0

    report = import_orders(engine, ADMIN, csv_bytes(*GOOD), "orders.csv")
    assert report.valid and report.committed
    assert report.counts["new"] == 3 and report.counts["allocated"] == 3
    with engine.connect() as conn:
        a1 = conn.execute(select(t.orders).where(t.orders.c.external_id == "A-1")).one()
        assert a1.status == "allocated" and a1.total == Decimal("3900.00")
        lines = conn.execute(select(t.order_lines.c.sku, t.order_lines.c.quantity)
                             .where(t.order_lines.c.order_id == a1.id).order_by(t.order_lines.c.id)).all()
        assert [tuple(r) for r in lines] == [("SKU-1", 2), ("SKU-2", 1)]
        k7 = conn.execute(select(t.orders).where(t.orders.c.external_id == "K-7")).one()
        phone = conn.execute(select(t.customers.c.phone).where(t.customers.c.id == k7.customer_id)).scalar_one()
        assert phone == "+77017654321"  # 8 701 ... normalized as in the API
        events = conn.execute(select(t.order_events.c.to_status).where(t.order_events.c.order_id == a1.id)
                              .order_by(t.order_events.c.id)).scalars().all()
        assert events == ["new", "allocated"]
    assert shipped_from(engine, a1.id) == [("ALA", "allocated"), ("AST", "allocated")]
    assert {w for w, _ in shipped_from(engine, k7.id)} == {"ALA", "AST"}  # 2 + 3 units of SKU-3 over two warehouses
    assert count(engine, t.outbox) == 9
    assert reserved(engine) == 2 + 1 + 4 + 1

    again = import_orders(engine, ADMIN, csv_bytes(*GOOD), "orders.csv")
    assert again.counts["existing"] == 3 and again.counts["new"] == 0
    assert count(engine, t.orders) == 3 and count(engine, t.outbox) == 9 and reserved(engine) == 8


def test_bad_rows_are_listed_with_line_numbers_and_nothing_is_written(world):
    engine = world.engine
    data = csv_bytes(
        GOOD[0],
        "seller-a,api,A-2,Bad Phone,12345,,courier,,,,,,SKU-1,1,100",              # line 3: phone
        "seller-a,api,A-3,Ok,+77011234568,,courier,,,,,,SKU-1,two,100",            # line 4: quantity
        "seller-a,api,A-4,Ok,+77011234569,,courier,,,,,,NOPE-9,1,100",             # line 5: unknown SKU
        "seller-a,api,A-5,Ok,+77011234560,,courier,,,,,,SKU-1,0,100",              # line 6: quantity 0
        "seller-a,api,A-1,Other,,,,,,,,,SKU-3,1,100",                              # line 7: name contradicts line 2
        GOOD[0],                                                                   # line 8: duplicate of line 2
        "seller-x,api,X-1,,,,,,,,,,SKU-1,1,100",                                   # line 9: unknown seller
        "seller-a,api,A-6,,,bad-mail,courier,,,,,,SKU-1,1,100",                    # line 10: e-mail
    )
    before = reserved(engine)
    with pytest.raises(RowErrors) as caught:
        import_orders(engine, ADMIN, data, "orders.csv").raise_if_invalid()
    got = {(e["line"], e["field"]) for e in caught.value.errors}
    assert got == {(3, "customer_phone"), (4, "quantity"), (5, "sku"), (6, "quantity"), (7, "customer_name"),
                   (8, "row"), (9, "seller"), (10, "customer_email")}
    by_line = {e["line"]: e["message"] for e in caught.value.errors}
    assert "not a valid number" in by_line[3] or "not a phone number" in by_line[3]
    assert "whole number" in by_line[4]
    assert by_line[5] == "unknown SKU 'NOPE-9' for seller 'seller-a'"
    assert "greater than 0" in by_line[6]
    assert "line 2" in by_line[7] and "duplicate of line 2" in by_line[8]
    assert by_line[9] == "unknown seller 'seller-x'"
    # the valid order of line 2 was not written either: all or nothing
    for table in (t.orders, t.order_lines, t.reservations, t.order_events, t.outbox, t.customers):
        assert count(engine, table) == 0
    assert reserved(engine) == before


def test_phone_message_matches_the_api_schema(world):
    report = import_orders(world.engine, ADMIN, csv_bytes("seller-a,api,A-2,X,12345,,,,,,,,SKU-1,1,1"),
                           "o.csv", dry_run=True)
    with pytest.raises(Exception) as api_error:
        OrderIn.model_validate({"seller": "seller-a", "channel": "api", "external_id": "A-2",
                                "customer": {"phone": "12345"}, "lines": [{"sku": "SKU-1", "quantity": 1,
                                                                           "unit_price": 1}]})
    api_msg = api_error.value.errors()[0]["msg"].removeprefix("Value error, ")
    assert [{k: e[k] for k in ("line", "field", "message")} for e in report.errors] == [
        {"line": 2, "field": "customer_phone", "message": api_msg}]  # plus its code, template and params


def test_every_bad_row_is_reported_even_when_the_same_values_repeat(world):
    """Checks are remembered per distinct value (phones, lines, repeated order columns): a value that
    is bad once is bad, and reported, on every row that carries it."""
    data = csv_bytes(
        "seller-a,api,C-1,Aigerim,,,courier,,,,,,SKU-1,1,100",      # line 2
        "seller-a,api,C-1,Other,,,courier,,,,,,SKU-2,1,100",        # line 3: name contradicts line 2
        "seller-a,api,C-1,Other,,,courier,,,,,,SKU-3,1,100",        # line 4: the same contradiction again
        "seller-a,api,C-2,Dana,12345,,courier,,,,,,SKU-1,two,100",  # line 5: phone and quantity
        "seller-a,api,C-3,Nurlan,12345,,courier,,,,,,SKU-1,two,100",  # line 6: the same phone and quantity
        "seller-a,api,C-4,Nurlan,+77011234567,,courier,,,,,,SKU-1,two,100",  # line 7: the same quantity
        "seller-a,api,C-5,Dana,12345,,courier,,,,,,SKU-2,1,100",    # line 8: the same customer as line 5
    )
    report = import_orders(world.engine, ADMIN, data, "orders.csv", dry_run=True)
    got = sorted((e["line"], e["field"]) for e in report.errors)
    assert got == [(3, "customer_name"), (4, "customer_name"), (5, "customer_phone"), (5, "quantity"),
                   (6, "customer_phone"), (6, "quantity"), (7, "quantity"), (8, "customer_phone")]
    by_key = {(e["line"], e["field"]): e["message"] for e in report.errors}
    assert by_key[(5, "customer_phone")] == by_key[(6, "customer_phone")] == by_key[(8, "customer_phone")]
    assert by_key[(5, "quantity")] == by_key[(6, "quantity")] == by_key[(7, "quantity")]
    assert "line 2" in by_key[(3, "customer_name")] and "line 2" in by_key[(4, "customer_name")]
    assert report.counts["orders"] == 5


def test_repeated_bad_contact_keeps_its_message_and_takes_the_callers_field():
    from qoima.platform.contacts import normalize_email, normalize_phone
    from qoima.platform.errors import ValidationError
    for _ in range(2):  # the second call is answered from the cache
        with pytest.raises(ValidationError) as phone:
            normalize_phone(" 12345 ", field="a.phone")
        assert phone.value.field == "a.phone" and phone.value.message == "phone ' 12345 ' is not a valid number"
        with pytest.raises(ValidationError) as mail:
            normalize_email("bad-mail", field="b.email")
        assert mail.value.field == "b.email" and mail.value.message.startswith("e-mail 'bad-mail' is not valid")
    with pytest.raises(ValidationError) as other:
        normalize_phone(" 12345 ", field="c.phone")
    assert other.value.field == "c.phone"
    assert normalize_phone(" 8 701 123 45 67 ") == normalize_phone("87011234567") == "+77011234567"
    assert normalize_email("admin@qoima.local", internal=True) == "admin@qoima.local"
    with pytest.raises(ValidationError):
        normalize_email("admin@qoima.local")  # the same text, not internal: refused (cached separately)


def test_import_settings_of_the_interpreter_are_restored(world):
    """Opt-in (bulk_interpreter, as the CLI and the worker's job runner use it): no cyclic garbage collection
    and a short switch interval while an import runs; as before after it. Without it (an API process) an
    import changes neither."""
    import gc
    import sys
    during = []
    interval = sys.getswitchinterval()
    assert gc.isenabled()
    plain = import_orders(world.engine, ADMIN, csv_bytes(*GOOD), "orders.csv", dry_run=True,
                          progress=lambda *_: during.append((gc.isenabled(), sys.getswitchinterval())))
    assert plain.valid and during and all(enabled and switch == interval for enabled, switch in during)
    during.clear()
    with bulk_interpreter():
        report = import_orders(world.engine, ADMIN, csv_bytes(*GOOD), "orders.csv",
                               progress=lambda *_: during.append((gc.isenabled(), sys.getswitchinterval())))
    assert report.committed and during
    assert all(not enabled and switch <= SWITCH_INTERVAL for enabled, switch in during)
    assert gc.isenabled() and sys.getswitchinterval() == interval
    gc.disable()  # a caller that had it off keeps it off
    try:
        with bulk_interpreter():
            import_orders(world.engine, ADMIN, csv_bytes(*GOOD), "orders.csv", dry_run=True)
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(RowErrors):  # restored after a failed import too
        with bulk_interpreter():
            import_orders(world.engine, ADMIN, csv_bytes("seller-x,api,X-1,,,,,,,,,,SKU-1,1,1"),
                          "orders.csv").raise_if_invalid()
    assert gc.isenabled() and sys.getswitchinterval() == interval


def test_missing_column_is_reported_on_the_header_line(world):
    data = b"seller,channel,external_id,sku,unit_price\nseller-a,api,A-1,SKU-1,100\n"
    report = import_orders(world.engine, ADMIN, data, "orders.csv")
    assert not report.committed
    assert [{k: e[k] for k in ("line", "field", "message")} for e in report.errors] == [{"line": 1, "field": "quantity",
                              "message": "missing column 'quantity' (columns: " + ", ".join(ORDER_COLUMNS) + ")"}]
    assert report.errors[0]["code"] == "import.missing_column"  # code and params: the report in any language
    assert report.errors[0]["params"] == {"missing": "quantity", "columns": list(ORDER_COLUMNS)}
    assert count(world.engine, t.orders) == 0


def test_seller_user_may_import_only_own_rows(world):
    seller_a = world.principals["seller_a"]
    data = csv_bytes(",api,OWN-1,,,,,,,,,,SKU-1,1,100", "seller-b,api,B-9,,,,,,,,,,SKU-1,1,100")
    report = import_orders(world.engine, seller_a, data, "orders.csv")
    assert report.errors == [{"line": 3, "field": "seller", "message": "unknown seller 'seller-b'",
                              "code": "catalog.unknown_seller", "template": "unknown seller '%(seller)s'",
                              "params": {"seller": "seller-b"}}]
    assert count(world.engine, t.orders) == 0
    ok = import_orders(world.engine, seller_a, csv_bytes(",api,OWN-1,,,,,,,,,,SKU-1,1,100"), "orders.csv")
    assert ok.committed and ok.counts["new"] == 1
    with world.engine.connect() as conn:
        assert conn.execute(select(t.orders.c.seller_id)).scalar_one() == world.sellers["seller-a"]


def test_xlsx_orders_file(world):
    wb = Workbook()
    ws = wb.active
    ws.append(["Seller", "Channel", "External_ID", "Customer_Phone", "SKU", "Quantity", "Unit_Price", "Received_At"])
    ws.append(["seller-a", "kaspi", 5501, 77011234567, "SKU-1", 3, 1990.5, datetime(2024, 5, 6, 9, 0)])
    ws.append(["seller-a", "kaspi", 5501, None, "SKU-3", 1.0, 700, None])
    ws.append(["seller-a", "kaspi", 5502, "+7 701 000", "SKU-1", -1, 10, None])
    buf = io.BytesIO()
    wb.save(buf)
    report = import_orders(world.engine, ADMIN, buf.getvalue(), "orders.xlsx")
    assert {(e["line"], e["field"]) for e in report.errors} == {(4, "customer_phone"), (4, "quantity")}
    ws.delete_rows(4)
    buf = io.BytesIO()
    wb.save(buf)
    report = import_orders(world.engine, ADMIN, buf.getvalue(), "upload.bin",
                           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert report.committed and report.counts == {"orders": 1, "lines": 2, "new": 1, "existing": 0,
                                                  "allocated": 1, "backordered": 0}
    with world.engine.connect() as conn:
        o = conn.execute(select(t.orders)).one()
        assert o.external_id == "5501" and o.total == Decimal("6671.50")
        assert o.received_at == datetime(2024, 5, 6, 9, 0)


def test_aware_received_at_is_stored_in_utc(world):
    row = "seller-a,api,TZ-1,,,,,,,,,2024-05-06T10:30:00+05:00,SKU-1,1,100"
    import_orders(world.engine, ADMIN, csv_bytes(row), "o.csv")
    with world.engine.connect() as conn:
        assert conn.execute(select(t.orders.c.received_at)).scalar_one() == datetime(2024, 5, 6, 5, 30)


# ---------------------------------------------------------------- products

PRODUCT_HEAD = "seller,sku,name,category,price,barcodes,weight_g,marking_required,replenishment_days\n"


def test_products_import_checks_barcodes_and_upserts(world):
    engine = world.engine
    bad = csv_bytes("seller-a,SKU-9,Teapot,Kitchen,4990,4870000009046,500,false,",       # line 2: fine
                    "seller-a,SKU-10,Kettle,Kitchen,5990,4870000009054,800,no,",          # line 3: check digit
                    "seller-a,SKU-11,Cup,Kitchen,-1,,100,false,",                        # line 4: price
                    "seller-a,SKU-12,Tray,Kitchen,100,4870000009015,100,false,",         # line 5: SKU-1's barcode
                    "seller-a,SKU-9,Teapot again,Kitchen,1,,1,false,",                   # line 6: duplicate SKU
                    "seller-a,SKU-13,Spoon,Kitchen,100,4870000009046,100,false,",        # line 7: barcode on line 2
                    "seller-a,SKU-14,Fork,Kitchen,100,,100,maybe,0",                     # line 8: bool, days
                    head=PRODUCT_HEAD)
    report = import_products(engine, ADMIN, bad, "products.csv")
    errors = {(e["line"], e["field"]): e["message"] for e in report.errors}
    assert set(errors) == {(3, "barcodes"), (4, "price"), (5, "barcodes"), (6, "sku"), (7, "barcodes"),
                           (8, "marking_required"), (8, "replenishment_days")}
    assert errors[(3, "barcodes")] == "barcode 4870000009054 has a wrong check digit (expected 3, got 4)"
    assert errors[(5, "barcodes")] == "barcode 4870000009015 already belongs to SKU 'SKU-1'"
    assert count(engine, t.products) == 6

    good = csv_bytes("seller-a,SKU-9,Teapot,Kitchen,4990,4870000009046;4870000009053,500,true,",
                     "seller-a,SKU-1,Item 1 renamed,Kitchen,1100,4870000009015,250,false,30",
                     head=PRODUCT_HEAD)
    report = import_products(engine, ADMIN, good, "products.csv")
    assert report.committed and report.counts == {"products": 2, "new": 1, "updated": 1}
    with engine.connect() as conn:
        sku9 = conn.execute(select(t.products).where(t.products.c.sku == "SKU-9")).one()
        assert sku9.marking_required is True and sku9.price == Decimal("4990.00")
        codes = conn.execute(select(t.barcodes.c.code).where(t.barcodes.c.product_id == sku9.id)
                             .order_by(t.barcodes.c.code)).scalars().all()
        assert codes == ["4870000009046", "4870000009053"]
        sku1 = conn.execute(select(t.products).where(t.products.c.sku == "SKU-1",
                                                     t.products.c.seller_id == world.sellers["seller-a"])).one()
        assert sku1.name == "Item 1 renamed" and sku1.replenishment_days == 30


# ---------------------------------------------------------------- stock

STOCK_HEAD = "seller,sku,warehouse,location,quantity\n"


def test_stock_import_books_the_difference_in_the_ledger(world):
    engine = world.engine
    import_orders(engine, ADMIN, csv_bytes("seller-a,api,R-1,,,,,,,,,,SKU-1,4,100"), "o.csv")
    data = csv_bytes("seller-a,SKU-1,ALA,A-01,12",   # 10 -> 12 (+2)
                     "seller-a,SKU-2,AST,A-01,3",    # 5 -> 3 (-2)
                     "seller-a,SKU-3,ALA,A-02,1",    # new location: +1
                     "seller-a,SKU-3,AST,A-01,3",    # unchanged
                     head=STOCK_HEAD)
    dry = import_stock(engine, ADMIN, data, "stock.csv", dry_run=True)
    assert dry.counts == {"rows": 4, "changed": 3, "unchanged": 1, "units_added": 3, "units_removed": 2}
    report = import_stock(engine, ADMIN, data, "stock.csv")
    assert report.committed
    with engine.connect() as conn:
        moves = conn.execute(select(t.stock_movements.c.quantity, t.stock_movements.c.from_location_id,
                                    t.stock_movements.c.to_location_id, t.stock_movements.c.reason)
                             .where(t.stock_movements.c.kind == "adjustment").order_by(t.stock_movements.c.id)).all()
        assert [(m.quantity, m.reason) for m in moves] == [(2, "stock import"), (2, "stock import"),
                                                           (1, "stock import")]
        on_hand = dict(conn.execute(select(t.stock.c.location_id, t.stock.c.on_hand)
                                    .join(t.products).where(t.products.c.sku == "SKU-1",
                                                            t.products.c.seller_id == world.sellers["seller-a"])).all())
        assert on_hand[world.locations[("ALA", "A-01")]] == 12

    below = csv_bytes("seller-a,SKU-1,ALA,A-01,3",        # 4 reserved there
                      "seller-a,SKU-1,XXX,A-01,3",        # unknown warehouse
                      "seller-a,SKU-1,ALA,Z-99,3",        # unknown location
                      "seller-a,SKU-404,ALA,A-01,3",      # unknown SKU
                      "seller-a,SKU-2,AST,A-01,-1",       # negative
                      head=STOCK_HEAD)
    moves_before = count(engine, t.stock_movements)
    report = import_stock(engine, ADMIN, below, "stock.csv")
    assert [(e["line"], e["field"]) for e in sorted(report.errors, key=lambda e: e["line"])] == [
        (2, "quantity"), (3, "warehouse"), (4, "location"), (5, "sku"), (6, "quantity")]
    assert "4 unit(s) of SKU-1 are reserved" in report.errors[0]["message"] or any(
        "reserved" in e["message"] for e in report.errors)
    assert count(engine, t.stock_movements) == moves_before


def test_stock_import_needs_staff(world):
    with pytest.raises(Forbidden):
        import_stock(world.engine, world.principals["seller_a"],
                     csv_bytes("seller-a,SKU-1,ALA,A-01,1", head=STOCK_HEAD), "s.csv")


def test_stock_import_fills_backorders(world):
    engine = world.engine
    import_orders(engine, ADMIN, csv_bytes("seller-b,api,WAIT-1,,,,,,,,,,SKU-2,2,100"), "o.csv")
    with engine.connect() as conn:
        assert conn.execute(select(t.orders.c.status)).scalar_one() == "backordered"
    report = import_stock(engine, ADMIN, csv_bytes("seller-b,SKU-2,ALA,A-01,5", head=STOCK_HEAD), "s.csv")
    assert report.committed
    drain_outbox(engine)  # the fill runs after the commit, as the stock.changed handler
    with engine.connect() as conn:
        assert conn.execute(select(t.orders.c.status)).scalar_one() == "allocated"


def test_sample_files_are_valid_against_the_demo_data(engine):
    from qoima import demo
    demo.seed(engine, orders=0)
    for kind in ("products", "orders", "stock"):
        data = (SAMPLES / f"{kind}.csv").read_bytes()
        report = run(kind, engine, SYSTEM, data, f"{kind}.csv", dry_run=True)
        assert report.valid, (kind, report.errors)
        assert run(kind, engine, SYSTEM, data, f"{kind}.csv").committed


# ---------------------------------------------------------------- bulk intake = per-order intake

@pytest.fixture
def twin(engine, tmp_path, sqlite_template):
    """A second empty database of the same kind as `engine`."""
    if engine.dialect.name == "sqlite":
        path = tmp_path / "twin.db"
        shutil.copy(sqlite_template, path)
        eng = make_engine(f"sqlite:///{path}")
        yield eng
        eng.dispose()
        return
    from sqlalchemy import create_engine

    from qoima.db.migrate import upgrade
    from qoima.platform.settings import normalize_url
    schema = f"qoima_test_{_worker()}_twin"
    with engine.begin() as conn:
        exists = conn.execute(text("select 1 from information_schema.schemata where schema_name = :s"),
                              {"s": schema}).first()
        if not exists:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng = create_engine(normalize_url(PG_URL), connect_args={"options": f"-csearch_path={schema}"})
    upgrade(eng)
    _truncate(eng)
    yield eng
    eng.dispose()


STOCK = {("seller-a", "SKU-1", "ALA"): 10, ("seller-a", "SKU-2", "AST"): 5, ("seller-a", "SKU-3", "ALA"): 2,
         ("seller-a", "SKU-3", "AST"): 3, ("seller-b", "SKU-1", "AST"): 7}


def _orders() -> list[OrderIn]:
    def o(ext, lines, seller="seller-a", phone=None, email=None, name="", lat=43.25, lon=76.93, received=None):
        return OrderIn(seller=seller, channel="api", external_id=ext,
                       customer=CustomerIn(name=name, phone=phone, email=email),
                       delivery=DeliveryIn(lat=lat, lon=lon), received_at=received,
                       lines=[LineIn(sku=s, quantity=q, unit_price=Decimal("1000")) for s, q in lines])
    sat = datetime(2024, 5, 4, 10, 0, tzinfo=timezone.utc)
    return [
        o("E-1", [("SKU-1", 2)], phone="+77011234567", name="Aigerim"),
        o("E-2", [("SKU-1", 1), ("SKU-2", 1)], phone="+77011234567", email="aigerim@example.kz"),  # fills e-mail
        o("E-3", [("SKU-3", 4)], email="aigerim@example.kz", lat=51.1, lon=71.4),                # same customer
        o("E-4", [("SKU-2", 5)], name="Nurlan", received=sat),                                  # partly backordered
        o("E-5", [("SKU-1", 3), ("SKU-1", 6)], email="dana@example.kz", received=datetime(2024, 5, 6, 12)),
        o("E-6", [("SKU-1", 7)], seller="seller-b", phone="+77011234567"),                      # other seller
        o("E-7", [("SKU-1", 1)], seller="seller-b", lat=None, lon=None),                        # nothing left
        o("E-8", [("SKU-3", 1), ("SKU-2", 1)], phone="+77017654321", email="dana@example.kz"),  # fills phone
        o("E-9", [("SKU-1", 1)]),                                                               # no customer
        o("E-1", [("SKU-1", 2)], phone="+77011234567"),                                         # duplicate
        o("E-10", [("SKU-3", 1)], phone="+77017654321", lat=51.1, lon=71.4),
    ]


def _col(table, name: str) -> int:
    """Where a column is in a _dump row."""
    return [c.name for c in table.c if c.name not in DUMP_SKIP].index(name)


DUMP_SKIP = {"created_at", "updated_at", "next_attempt_at"}


def _dump(engine) -> dict:
    skip = DUMP_SKIP
    out = {}
    with engine.connect() as conn:
        for table in (t.orders, t.order_lines, t.reservations, t.shipments, t.order_events, t.outbox, t.customers,
                      t.stock):
            cols = [c for c in table.c if c.name not in skip]
            out[table.name] = [tuple(r) for r in conn.execute(select(*cols).order_by(table.c.id))]
    return out


@pytest.mark.parametrize("batch_size", [1, 3, 2000])
def test_bulk_intake_writes_the_same_rows_as_create_order(engine, twin, batch_size):
    now = datetime(2024, 5, 6, 6, 0)
    bulk_db, single_db = build_world(engine, STOCK), build_world(twin, STOCK)
    existing = OrderIn(seller="seller-a", channel="api", external_id="E-0", lines=[LineIn(sku="SKU-3", quantity=1,
                                                                                          unit_price=5)])
    for eng in (engine, twin):  # an order that is already there is skipped by both paths
        with UnitOfWork(eng) as uow:
            create_order(uow, ADMIN, existing, now=now)
            uow.commit()
    with UnitOfWork(engine) as uow:
        result = bulk_intake.create_orders(uow, ADMIN, _orders(), now=now, batch_size=batch_size)
        uow.commit()
    created = 0
    with UnitOfWork(twin) as uow:
        for data in _orders():
            summary, new = create_order(uow, ADMIN, data, now=now)
            assert summary == order_summary(uow, summary["id"])  # built in memory = read back
            created += new
        uow.commit()
    assert result.created == created == 10 and result.existing == 1
    bulk, single = _dump(bulk_db.engine), _dump(single_db.engine)
    for name in single:
        assert bulk[name] == single[name], name
    ext, status = _col(t.orders, "external_id"), _col(t.orders, "status")
    statuses = {r[ext]: r[status] for r in bulk["orders"]}
    assert statuses == {"E-0": "allocated", "E-1": "allocated", "E-2": "allocated", "E-3": "allocated",
                        "E-4": "backordered", "E-5": "backordered", "E-6": "allocated", "E-7": "backordered",
                        "E-8": "backordered", "E-9": "backordered", "E-10": "backordered"}
    assert (result.allocated, result.backordered) == (4, 6)
    assert any(r[-1] > 0 for r in bulk["order_lines"])  # some lines wait for stock
    assert len(bulk["order_events"]) == 2 * 11 and len(bulk["outbox"]) == 3 * 11


@pytest.mark.parametrize("batch_size", [1, 2, 2000])
def test_bulk_intake_matches_stored_customers_across_batches(engine, twin, batch_size):
    """Customers found in the database or created by an earlier batch are remembered by the run (contacts
    filled in included), with the same matches as the per-order path."""
    now = datetime(2024, 5, 6, 6, 0)
    bulk_db, single_db = build_world(engine, STOCK), build_world(twin, STOCK)

    def o(ext, phone=None, email=None, name="", sku="SKU-1"):
        return OrderIn(seller="seller-a", channel="api", external_id=ext,
                       customer=CustomerIn(name=name, phone=phone, email=email),
                       lines=[LineIn(sku=sku, quantity=1, unit_price=Decimal("10"))])
    stored = [o("S-1", phone="+77019998877", name="Old"), o("S-2", email="old@example.kz", name="Mail"),
              o("S-3", phone="+77014443322", name="Older", sku="SKU-3")]
    for eng in (engine, twin):
        with UnitOfWork(eng) as uow:
            for data in stored:
                create_order(uow, ADMIN, data, now=now)
            uow.commit()
    orders = [
        o("P-1", phone="+77019998877", email="new@example.kz"),  # stored, by phone; its e-mail is filled in
        o("P-2", email="new@example.kz"),                          # the same one, by the e-mail just filled in
        o("P-3", email="old@example.kz", phone="+77015550000"),   # the other stored one, by e-mail; phone filled
        o("P-4", phone="+77015550000", sku="SKU-2"),               # ... and found again by that phone
        o("P-5", phone="+77016660000", email="old@example.kz"),   # unknown phone, stored e-mail (has a phone)
        o("P-6", phone="+77016660000"),                            # that phone is nobody's: a new customer
        o("P-7", email="fresh@example.kz", name="New"),            # a new customer ...
        o("P-8", email="fresh@example.kz", phone="+77014443322"),  # ... but the phone of a stored one wins,
        o("P-9", email="fresh@example.kz"),                        # which gets the e-mail, and is older
    ]
    with UnitOfWork(engine) as uow:
        result = bulk_intake.create_orders(uow, ADMIN, orders, now=now, batch_size=batch_size)
        uow.commit()
    with UnitOfWork(twin) as uow:
        for data in orders:
            create_order(uow, ADMIN, data, now=now)
        uow.commit()
    assert result.created == len(orders)
    bulk, single = _dump(bulk_db.engine), _dump(single_db.engine)
    for name in single:
        assert bulk[name] == single[name], name
    ext, cust = _col(t.orders, "external_id"), _col(t.orders, "customer_id")
    customer_of = {r[ext]: r[cust] for r in bulk["orders"]}
    assert customer_of["P-1"] == customer_of["P-2"] == customer_of["S-1"]
    assert customer_of["P-3"] == customer_of["P-4"] == customer_of["P-5"] == customer_of["S-2"]
    assert customer_of["P-8"] == customer_of["P-9"] == customer_of["S-3"] != customer_of["P-7"]
    assert customer_of["P-6"] not in {customer_of[k] for k in ("S-1", "S-2", "S-3", "P-7")}
    assert len(bulk["customers"]) == 5  # three stored, two new


def test_order_created_meanwhile_by_someone_else_fails_the_whole_import(engine):
    """A lost race with another writer: the file's order is created (and committed) elsewhere after the
    import has checked it; the database refuses the duplicate, and the import writes nothing."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite takes the write lock at BEGIN: nobody else can write during an import")
    from qoima.platform.errors import Conflict
    world = build_world(engine, STOCK)
    rows = [f"seller-a,api,RACE-{i},Buyer {i},+7701555{i:04d},,courier,,,43.2,76.9,,SKU-1,1,100" for i in range(5)]
    stolen = []

    def progress(stage, done, total):
        if stage == "writing" and not stolen:  # the rows of this batch are built but not written yet
            with engine.begin() as conn:  # another connection, its own transaction, committed
                conn.execute(t.orders.insert().values(
                    seller_id=world.sellers["seller-a"], channel="api", external_id="RACE-3", status="new",
                    delivery_type="courier", received_at=datetime(2024, 5, 6), updated_at=datetime(2024, 5, 6)))
            stolen.append(True)
    before = reserved(engine)
    with pytest.raises(Conflict):
        import_orders(engine, ADMIN, csv_bytes(*rows), "orders.csv", progress=progress)
    assert stolen
    assert count(engine, t.orders) == 1  # only the other writer's
    for table in (t.order_lines, t.reservations, t.order_events, t.outbox, t.customers):
        assert count(engine, table) == 0
    assert reserved(engine) == before
