"""Shared fixtures. Every database test runs on SQLite and, when
QOIMA_TEST_DATABASE_URL is set, on PostgreSQL too (it then fails, not skips,
if PostgreSQL is unreachable). PostgreSQL tests use one schema per xdist worker,
migrated once and truncated between tests."""

from __future__ import annotations

import os
import shutil
import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

warnings.filterwarnings("ignore", category=DeprecationWarning)
# one app secret for every test process and its subprocesses (webhook secrets are sealed with it)
os.environ.setdefault("QOIMA_SECRET_KEY", "test-secret-key-not-for-production")

from qoima.db.engine import make_engine  # noqa: E402
from qoima.db.migrate import upgrade  # noqa: E402
from qoima.db.tables import metadata  # noqa: E402
from qoima.platform import auth  # noqa: E402
from qoima.catalog import services as catalog
from qoima.stock.services import inbound
from qoima.platform.access import SYSTEM, Principal  # noqa: E402
from qoima.catalog.schemas import ProductIn  # noqa: E402
from qoima.stock.schemas import ReceiptIn, ReceiptLineIn
from qoima.platform.unit_of_work import UnitOfWork  # noqa: E402
from qoima.platform.settings import Settings  # noqa: E402

PG_URL = os.environ.get("QOIMA_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


def _worker() -> str:
    """Unique per test process, so two test runs on one PostgreSQL never share a schema."""
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):
    """argon2 at its production cost takes ~0.4 s per password; tests only need it to be argon2."""
    from argon2 import PasswordHasher
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_engine_session():
    if not PG_URL:
        return None
    from qoima.platform.settings import normalize_url
    schema = f"qoima_test_{_worker()}"
    admin = make_engine(normalize_url(PG_URL), pool_size=2)
    with admin.begin() as conn:  # fails loudly when PostgreSQL is unreachable
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    from sqlalchemy import create_engine
    engine = create_engine(normalize_url(PG_URL), pool_size=20, max_overflow=20,
                           connect_args={"options": f"-csearch_path={schema}"})
    upgrade(engine)
    yield engine
    engine.dispose()
    admin = make_engine(normalize_url(PG_URL), pool_size=1)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def _truncate(engine) -> None:
    names = ", ".join(f'"{tbl.name}"' for tbl in reversed(metadata.sorted_tables))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path, sqlite_template):
    """A migrated, empty database: SQLite file per test, or the truncated PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path / "qoima.db"
        shutil.copy(sqlite_template, path)
        eng = make_engine(f"sqlite:///{path}")
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("pg_engine_session")
        _truncate(eng)
        yield eng


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", secret_key="test-secret-key-not-for-production")


@dataclass
class World:
    """A small operator: two sellers (A, B), staff, two warehouses, a few products."""
    engine: object
    sellers: dict = field(default_factory=dict)   # code -> id
    tokens: dict = field(default_factory=dict)    # role name -> bearer token
    principals: dict = field(default_factory=dict)
    locations: dict = field(default_factory=dict)  # (warehouse, code) -> id
    warehouses: dict = field(default_factory=dict)

    def headers(self, who: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


USERS = [("admin", "admin@qoima.local", "admin", None), ("manager", "manager@qoima.local", "manager", None),
         ("worker", "worker@qoima.local", "worker", None), ("seller_a", "a@seller-a.kz", "seller", "seller-a"),
         ("seller_b", "b@seller-b.kz", "seller", "seller-b")]


def build_world(engine, stock: dict | None = None) -> World:
    """stock: {(seller, sku, warehouse): qty} received into A-01 of that warehouse."""
    w = World(engine=engine)
    with UnitOfWork(engine) as uow:
        for code in ("seller-a", "seller-b"):
            w.sellers[code] = catalog.create_seller(uow, SYSTEM, code, code.title())
        for key, email, role, seller in USERS:
            uid = auth.create_user(uow, email=email, password="password123", role=role,
                                   seller_id=w.sellers.get(seller) if seller else None)
            w.principals[key] = Principal(uid, email, role, w.sellers.get(seller) if seller else None)
            w.tokens[key] = auth.create_token(uow, email)
        for code, lat, lon in (("ALA", 43.24, 76.89), ("AST", 51.13, 71.43)):
            wid = catalog.create_warehouse(uow, SYSTEM, code=code, name=code, city=code, lat=lat, lon=lon)
            w.warehouses[code] = wid
            for loc, kind in (("RCV", "receiving"), ("A-01", "storage"), ("A-02", "storage")):
                w.locations[(code, loc)] = catalog.create_location(uow, SYSTEM, warehouse_id=wid, code=loc,
                                                                    kind=kind, x=len(loc), y=1)
        for seller in ("seller-a", "seller-b"):
            for i, barcode in enumerate(("4870000009015", "4870000009022", "4870000009039")):
                catalog.upsert_product(uow, SYSTEM, ProductIn(seller=seller, sku=f"SKU-{i + 1}", name=f"Item {i + 1}",
                                                              price=Decimal("1000"), barcodes=[barcode]))
        uow.commit()
    if stock:
        with UnitOfWork(engine) as uow:
            for (seller, sku, wh), qty in stock.items():
                inbound.receive(uow, SYSTEM, ReceiptIn(seller=seller, warehouse=wh, location="A-01",
                                                       lines=[ReceiptLineIn(sku=sku, expected=qty, received=qty)]))
            uow.commit()
        with UnitOfWork(engine) as uow:  # the setup's stock.changed events: every test starts with an empty outbox
            uow.execute(metadata.tables["outbox"].delete())
            uow.commit()
    return w


@pytest.fixture
def world(engine) -> World:
    return build_world(engine, {("seller-a", "SKU-1", "ALA"): 10, ("seller-a", "SKU-2", "AST"): 5,
                                ("seller-a", "SKU-3", "ALA"): 2, ("seller-a", "SKU-3", "AST"): 3,
                                ("seller-b", "SKU-1", "AST"): 7})


@pytest.fixture
def client(world, settings):
    from fastapi.testclient import TestClient

    from qoima.entrypoints.api.app import create_app
    with TestClient(create_app(world.engine, settings)) as c:
        yield c


def order_payload(external_id: str, lines=(("SKU-1", 1),), seller: str | None = "seller-a", **extra) -> dict:
    body = {"channel": "api", "external_id": external_id,
            "customer": {"name": "Aigerim", "phone": "+77011234567", "email": "aigerim@example.kz",
                         "language": "ru", "preferred_channel": "sms"},
            "delivery": {"type": "courier", "address": "Abay 1", "city": "Almaty", "lat": 43.25, "lon": 76.93},
            "lines": [{"sku": s, "quantity": q, "unit_price": "1500.00"} for s, q in lines]}
    if seller:
        body["seller"] = seller
    body.update(extra)
    return body
