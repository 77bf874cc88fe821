"""Demo data: an operator, two sellers, two warehouses with locations, ~50
products with valid EAN-13 barcodes, stock and ~200 orders in various states.
Seeding is idempotent: a second run finds the admin and adds nothing."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Engine, insert, select

from qoima.db import tables as t
from qoima.catalog.domain import locations as patterns
from qoima.catalog.domain.barcodes import check_digit
from qoima.orders.domain.status import Status
from qoima.platform import auth
from qoima.catalog import services as catalog
from qoima.floor.services import layouts
from qoima.stock.services import asn, inbound, stock_work
from qoima.orders.services import lifecycle
from qoima.platform.access import SYSTEM, Principal
from qoima.orders.services.intake import submit_order
from qoima.customers.schemas import CustomerIn
from qoima.orders.schemas import DeliveryIn, LineIn, OrderIn
from qoima.catalog.schemas import ProductIn
from qoima.stock.schemas import AsnIn, AsnReceiveIn, ReceiptIn, ReceiptLineIn, ReceivingModeIn
from qoima.platform.unit_of_work import UnitOfWork, utcnow

ADMIN_EMAIL = "admin@qoima.local"
LOGINS = [  # (email, password, role, seller code)
    (ADMIN_EMAIL, "qoima-admin", "admin", None),
    ("manager@qoima.local", "qoima-manager", "manager", None),
    ("picker@qoima.local", "qoima-picker", "worker", None),
    ("seller@aruzhan.kz", "qoima-seller", "seller", "aruzhan-home"),
    ("seller@steppe.kz", "qoima-seller", "seller", "steppe-tech"),
]
SELLERS = [("aruzhan-home", "Aruzhan Home"), ("steppe-tech", "Steppe Tech")]
WAREHOUSES = [("ALA", "Almaty fulfillment center", "Almaty", 43.2389, 76.8897),
              ("AST", "Astana fulfillment center", "Astana", 51.1282, 71.4307)]
CITIES = [("Almaty", 43.2567, 76.9286), ("Astana", 51.1605, 71.4704), ("Shymkent", 42.3417, 69.5901),
          ("Karaganda", 49.8047, 73.1094), ("Aktobe", 50.2839, 57.1670)]
GOODS = {
    "aruzhan-home": ["Ceramic mug", "Cotton towel", "Tea set", "Wool blanket", "Scented candle", "Cushion cover",
                     "Kitchen knife", "Cutting board", "Coffee beans 1kg", "Green tea 100g", "Frying pan",
                     "Table lamp", "Bath mat", "Storage box", "Glass jar", "Dinner plate", "Salad bowl",
                     "Bed sheet set", "Pillow", "Curtains", "Wall clock", "Photo frame", "Vase", "Apron", "Oven mitt"],
    "steppe-tech": ["USB-C cable", "Phone case", "Power bank", "Wireless earbuds", "Screen protector",
                    "Laptop stand", "Keyboard", "Mouse", "HDMI cable", "Wi-Fi router", "Smart watch",
                    "Bluetooth speaker", "SD card 64GB", "Charger 65W", "Webcam", "Headphones", "Mouse pad",
                    "USB hub", "Ring light", "Tripod", "Smart bulb", "Car charger", "Phone holder",
                    "Fitness band", "E-book reader"],
}


def ean13(seed: int) -> str:
    data = f"487{seed:09d}"  # 487: GS1 Kazakhstan prefix
    return data + check_digit(data)


def seed(engine: Engine, orders: int = 200, rng_seed: int = 7) -> bool:
    """Returns False when the demo data is already there."""
    with UnitOfWork(engine) as uow:
        if uow.execute(select(t.users.c.id).where(t.users.c.email == ADMIN_EMAIL)).first():
            return False
    rng = random.Random(rng_seed)
    with UnitOfWork(engine) as uow:
        seller_ids = {code: catalog.create_seller(uow, SYSTEM, code, name) for code, name in SELLERS}
        for email, password, role, seller in LOGINS:
            auth.create_user(uow, email=email, password=password, role=role,
                             seller_id=seller_ids.get(seller) if seller else None, full_name=email.split("@")[0])
        for code, name, city, lat, lon in WAREHOUSES:
            wid = catalog.create_warehouse(uow, SYSTEM, code=code, name=name, city=city, lat=lat, lon=lon)
            _holidays(uow, wid)
            catalog.create_location(uow, SYSTEM, warehouse_id=wid, code="RCV-01", kind="receiving", zone="R")
            catalog.create_location(uow, SYSTEM, warehouse_id=wid, code="SHIP-01", kind="shipping", zone="S")
            catalog.create_location(uow, SYSTEM, warehouse_id=wid, code="RET-01", kind="returns", zone="RT")
            # A-01-01-1 ... A-04-08-1, with the routing coordinates of catalog/domain/locations.py
            for cell in patterns.expand(patterns.parse("A-01..04-01..08-1"), bay_width=1.5):
                catalog.create_location(uow, SYSTEM, warehouse_id=wid, code=cell.code, zone=cell.zone,
                                        aisle=cell.aisle, position=cell.position, level=cell.level, x=cell.x, y=cell.y)
            # the floor's layout: 4 aisles of 13.5 m, 3 m apart, the depot at the first one, a cross aisle
            # half-way; carts of 6 totes; waves released by hand (set a lead time on /floor/settings)
            layouts.save_settings(uow, wid, layouts.FloorSettings(
                aisles=4, aisle_length=13.5, aisle_spacing=3.0, depot_aisle=0, cross_aisles=(6.75,),
                cart_capacity=6, auto_release_minutes=None))
        n = 0
        for seller, names in GOODS.items():
            for i, name in enumerate(names):
                n += 1
                catalog.upsert_product(uow, SYSTEM, ProductIn(
                    seller=seller, sku=f"{seller[:3].upper()}-{i + 1:03d}", name=name,
                    price=Decimal(rng.choice([1990, 2990, 4990, 7990, 12990, 24990])), barcodes=[ean13(n)],
                    weight_g=rng.randint(100, 3000), length_mm=rng.randint(50, 400), width_mm=rng.randint(50, 300),
                    height_mm=rng.randint(20, 200), marking_required=seller == "steppe-tech" and i % 5 == 0,
                    replenishment_days=30 if "tea" in name.lower() or "coffee" in name.lower() else None))
        uow.commit()
    _stock(engine, rng)
    _deliveries(engine, seller_ids)
    _orders(engine, rng, orders)
    _alerts(engine)
    _dock(engine)
    return True


def _alerts(engine: Engine) -> None:
    """A few low-stock alerts per seller (a threshold, days of cover), so /alerts has something to show and the
    worker's first check sends `stock.low` for the SKUs already low."""
    from qoima.stock.services import alerts
    with UnitOfWork(engine) as uow:
        for seller in GOODS:
            prefix = seller[:3].upper()
            alerts.set_alert(uow, SYSTEM, alerts.AlertIn(sku=f"{prefix}-001", kind="threshold", value=20, seller=seller))
            alerts.set_alert(uow, SYSTEM, alerts.AlertIn(sku=f"{prefix}-002", kind="days_of_cover", value=14,
                                                         seller=seller, window_days=30))
            alerts.set_alert(uow, SYSTEM, alerts.AlertIn(sku=f"{prefix}-003", kind="threshold", value=5,
                                                         seller=seller, warehouse="ALA"))
        uow.commit()


def _dock(engine: Engine) -> None:
    """Stock work to show: AST puts receipts away at once (receiving mode 'auto_putaway' into
    A-01-01-1); ALA reserves on its dock, where a delivery waits for put-away (/stock/putaway)."""
    operator = Principal(user_id=None, email=ADMIN_EMAIL, role="admin")
    with UnitOfWork(engine) as uow:
        stock_work.set_receiving_mode(uow, operator, ReceivingModeIn(warehouse="AST", mode="auto_putaway",
                                                                     cell="A-01-01-1"))
        seller = next(iter(GOODS))
        inbound.receive(uow, operator, ReceiptIn(
            seller=seller, warehouse="ALA", location="RCV-01", supplier="Demo supplier", reference="ASN-DOCK",
            lines=[ReceiptLineIn(sku=f"{seller[:3].upper()}-{i:03d}", expected=6, received=6) for i in (1, 2)]))
        uow.commit()


def _deliveries(engine: Engine, seller_ids: dict) -> None:
    """Inbound deliveries (ASN): one received in part (a short line and a product nobody announced),
    one still on its way, one received exactly as announced."""
    worker = Principal(user_id=None, email="picker@qoima.local", role="worker")
    today = date.today()
    with UnitOfWork(engine) as uow:
        for seller, email, wh, supplier, lines, receipts in (
                ("aruzhan-home", "seller@aruzhan.kz", "ALA", "Steppe Ceramics LLP",
                 [("ARU-001", 24), ("ARU-003", 6), ("ARU-016", 12)],
                 [[("ARU-001", 24), ("ARU-003", 4), ("ARU-017", 2)]]),
                ("aruzhan-home", "seller@aruzhan.kz", "AST", "Kazakh Textile", [("ARU-002", 40), ("ARU-004", 10)], []),
                ("steppe-tech", "seller@steppe.kz", "ALA", "Shenzhen Cables Co", [("STE-001", 50), ("STE-003", 20)],
                 [[("STE-001", 30), ("STE-003", 20)], [("STE-001", 20)]])):
            who = Principal(user_id=None, email=email, role="seller", seller_id=seller_ids[seller])
            d = asn.announce(uow, who, AsnIn(warehouse=wh, supplier=supplier, reference=f"INV-{wh}-{len(lines)}",
                                             expected_at=today + timedelta(days=2 if not receipts else 0),
                                             lines=[{"sku": sku, "expected": n} for sku, n in lines]))
            for receipt in receipts:
                asn.receive(uow, worker, d["id"], AsnReceiveIn(
                    location="RCV-01", lines=[{"sku": sku, "received": n} for sku, n in receipt]))
        uow.commit()
# Kazakhstan's public holidays (month, day, name): the warehouses do not ship on them (ship-by skips them)
HOLIDAYS = [(1, 1, "New Year"), (1, 2, "New Year"), (3, 8, "International Women's Day"), (3, 21, "Nauryz"),
            (3, 22, "Nauryz"), (3, 23, "Nauryz"), (5, 1, "Unity Day"), (5, 7, "Defender of the Fatherland Day"),
            (5, 9, "Victory Day"), (7, 6, "Capital Day"), (8, 30, "Constitution Day"), (10, 25, "Republic Day"),
            (12, 16, "Independence Day")]


def _holidays(uow: UnitOfWork, warehouse_id: int) -> None:
    """This year's and next year's public holidays of the warehouse."""
    year = utcnow().year
    uow.execute(insert(t.warehouse_holidays), [
        {"warehouse_id": warehouse_id, "day": date(y, m, d), "name": name}
        for y in (year, year + 1) for m, d, name in HOLIDAYS])


def _stock(engine: Engine, rng: random.Random) -> None:
    operator = Principal(user_id=None, email=ADMIN_EMAIL, role="admin")
    with UnitOfWork(engine) as uow:
        for seller, names in GOODS.items():
            for wh in ("ALA", "AST"):
                lines = []
                for i in range(len(names)):
                    qty = rng.choice([0, 5, 10, 20, 40]) if wh == "AST" else rng.choice([3, 10, 25, 60])
                    lines.append(ReceiptLineIn(sku=f"{seller[:3].upper()}-{i + 1:03d}", expected=qty, received=qty))
                loc = f"A-{rng.randint(1, 4):02d}-{rng.randint(1, 8):02d}-1"
                inbound.receive(uow, operator, ReceiptIn(seller=seller, warehouse=wh, location=loc,
                                                         supplier="Demo supplier", reference=f"ASN-{wh}-{seller}",
                                                         lines=lines))
        uow.commit()


_PATHS = {  # final status -> the moves that lead there from allocated
    "allocated": [], "picking": ["picking"], "picked": ["picking", "picked"],
    "packed": ["picking", "picked", "packed"], "shipped": ["picking", "picked", "packed", "shipped"],
    "in_transit": ["picking", "picked", "packed", "shipped", "in_transit"],
    "delivered": ["picking", "picked", "packed", "shipped", "in_transit", "out_for_delivery", "delivered"],
    "cancelled": ["cancelled"], "on_hold": ["on_hold"],
}


def _orders(engine: Engine, rng: random.Random, count: int) -> None:
    operator = Principal(user_id=None, email=ADMIN_EMAIL, role="admin")
    now = utcnow()
    first = ["Aigerim", "Nurlan", "Dana", "Yerlan", "Madina", "Arman", "Saule", "Timur", "Aliya", "Daulet"]
    last = ["Nurlanovna", "Serikov", "Abenova", "Tulegenov", "Kassymova", "Bekov"]
    weights = list(_PATHS.items())
    for k in range(count):
        seller = rng.choice(list(GOODS))
        city, lat, lon = rng.choice(CITIES)
        n_lines = rng.choice([1, 1, 2, 3])
        skus = rng.sample(range(1, len(GOODS[seller]) + 1), n_lines)
        phone = f"+7701{rng.randint(1000000, 9999999)}"
        received = now - timedelta(days=rng.uniform(0, 10), minutes=rng.randint(0, 600))
        data = OrderIn(
            seller=seller, channel=rng.choice(["kaspi", "kaspi", "website", "instagram", "csv"]),
            external_id=f"DEMO-{k + 1:05d}",
            customer=CustomerIn(name=f"{rng.choice(first)} {rng.choice(last)}", phone=phone,
                                language=rng.choice(["ru", "kk", "en"])),
            delivery=DeliveryIn(type=rng.choice(["courier", "courier", "pickup_point", "self_pickup"]),
                                address=f"{city}, street {rng.randint(1, 200)}", city=city,
                                lat=lat + rng.uniform(-0.05, 0.05), lon=lon + rng.uniform(-0.05, 0.05)),
            lines=[LineIn(sku=f"{seller[:3].upper()}-{s:03d}", quantity=rng.choice([1, 1, 1, 2]),
                          unit_price=Decimal(rng.choice([1990, 2990, 4990, 12990]))) for s in skus],
            received_at=received)
        order, _ = submit_order(engine, operator, data, now=received)
        if order["status"] != Status.ALLOCATED.value:
            continue
        age_h = (now - received).total_seconds() / 3600
        target = rng.choices([w[0] for w in weights], weights=[20, 8, 5, 8, 10, 8, 30, 6, 5])[0]
        if age_h > 30 and target not in ("cancelled", "delivered", "in_transit"):
            target = rng.choice(["delivered", "delivered", "in_transit", "shipped"])
        steps = _PATHS[target]
        if age_h < 4 and target not in ("cancelled", "on_hold"):
            steps = steps[:2]  # fresh orders are still on the floor
        at = received
        for step in steps:  # warehouse steps take minutes to hours; most ship before the ship-by deadline
            gap = {"picking": rng.uniform(0.2, 3), "shipped": rng.uniform(0.5, 5) if rng.random() < .85 else 30,
                   "in_transit": 6, "out_for_delivery": rng.uniform(12, 40), "delivered": rng.uniform(1, 6)}
            at = min(at + timedelta(hours=gap.get(step, rng.uniform(0.1, 1))), now)
            with UnitOfWork(engine) as uow:
                lifecycle.transition(uow, operator, order["id"], step, "demo" if step != "cancelled" else
                                     "customer changed their mind", at=at)
                uow.commit()


# --- the port the demo serves on --------------------------------------------------------------------------------

def port_is_free(host: str, port: int) -> bool:
    """Can a server listen on host:port now? (Bound and released at once, as uvicorn will bind it.)"""
    import socket
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a TIME_WAIT port is free
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str, start: int, tries: int = 50) -> int | None:
    """The first free port after `start` (start + 1 ... start + tries), or None."""
    for port in range(start + 1, min(start + 1 + tries, 65536)):
        if port_is_free(host, port):
            return port
    return None
