"""Demo data: an operator, two sellers, two warehouses with locations, ~50
products with valid EAN-13 barcodes, stock and ~200 orders in various states.
Seeding is idempotent: a second run finds the admin and adds nothing."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine, select

from qoima.db import tables as t
from qoima.catalog.domain.barcodes import check_digit
from qoima.orders.domain.status import Status
from qoima.platform import auth
from qoima.catalog import services as catalog
from qoima.floor.services import layouts
from qoima.stock.services import inbound
from qoima.orders.services import lifecycle
from qoima.platform.access import SYSTEM, Principal
from qoima.orders.services.intake import submit_order
from qoima.customers.schemas import CustomerIn
from qoima.orders.schemas import DeliveryIn, LineIn, OrderIn
from qoima.catalog.schemas import ProductIn
from qoima.stock.schemas import ReceiptIn, ReceiptLineIn
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
            catalog.create_location(uow, SYSTEM, warehouse_id=wid, code="RCV-01", kind="receiving", zone="R")
            catalog.create_location(uow, SYSTEM, warehouse_id=wid, code="SHIP-01", kind="shipping", zone="S")
            catalog.create_location(uow, SYSTEM, warehouse_id=wid, code="RET-01", kind="returns", zone="RT")
            for aisle in range(1, 5):
                for pos in range(1, 9):
                    catalog.create_location(uow, SYSTEM, warehouse_id=wid, code=f"A-{aisle:02d}-{pos:02d}-1",
                                            zone="A", aisle=f"{aisle:02d}", position=f"{pos:02d}", level="1",
                                            x=aisle - 1, y=pos * 1.5)  # x: aisle index, y: metres along it
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
    _orders(engine, rng, orders)
    return True


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
