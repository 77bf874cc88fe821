"""Loading a simulated order history into a seller's database, so the customer
and loyalty pages have two years of data to show (`qoima demo`, `qoima simulate
--into-db`). History is imported as finished orders: delivered, returned or
cancelled, each with one timeline entry ("imported history") and no outbox
event (nobody should be notified about a two-year-old order). It does not touch
the stock ledger: those goods left the shelves before Qoima ran the warehouse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl
from sqlalchemy import Engine, insert, select

from qoima.db import tables as t
from qoima.analytics.domain.simulate import simulate_history
from qoima.platform.unit_of_work import UnitOfWork, utcnow

BATCH = 5_000


@dataclass(frozen=True)
class HistoryOptions:
    """What `seed_history` simulates per seller (default: every seller)."""
    sellers: list[str] | None = None
    customers: int = 3_000
    years: float = 2.0
    effect_days: float = 3.0
    seed: int = 11


def seed_history(engine: Engine, options: HistoryOptions | None = None, progress=None) -> dict:
    """Simulate and insert history for each seller of `options`. Returns counts per seller."""
    o = options or HistoryOptions()
    out = {}
    with UnitOfWork(engine) as uow:
        rows = uow.execute(select(t.sellers.c.id, t.sellers.c.code).order_by(t.sellers.c.id)).all()
    for i, s in enumerate(r for r in rows if not o.sellers or r.code in o.sellers):
        end = utcnow().replace(microsecond=0) - timedelta(days=10)  # recent days belong to live orders
        sim = simulate_history(n_customers=o.customers, start=end - timedelta(days=365.25 * o.years), end=end,
                               effect_days=o.effect_days, seed=o.seed + i)
        out[s.code] = insert_history(engine, s.id, sim.customers, sim.orders, progress=progress)
    return out


def insert_history(engine: Engine, seller_id: int, customers: pl.DataFrame, orders: pl.DataFrame,
                   progress=None) -> dict:
    """Insert simulated customers and orders (contract of `qoima.analytics.domain.simulate`) in one transaction.
    Orders the simulation left unshipped at its end are not imported: history holds
    finished orders only, never open ones without reservations."""
    orders = orders.filter(pl.col("cancelled") | pl.col("shipped_at").is_not_null())
    with UnitOfWork(engine) as uow:
        products = uow.execute(select(t.products.c.id, t.products.c.sku).where(t.products.c.seller_id == seller_id)
                               .order_by(t.products.c.id)).all()
        if not products:
            raise ValueError("the seller has no products to put in the history")
        now = utcnow()
        cust_rows = customers.select("name", "phone", "email", "language").to_dicts()
        ids = uow.execute(insert(t.customers).returning(t.customers.c.id, sort_by_parameter_order=True),
                          [{**c, "seller_id": seller_id, "preferred_channel": "sms", "created_at": now}
                           for c in cust_rows]).scalars().all()
        id_map = dict(zip(customers["customer_id"].to_list(), ids))
        done = 0
        for chunk in orders.iter_slices(BATCH):
            _insert_orders(uow, seller_id, chunk, id_map, products, now)
            done += chunk.height
            if progress:
                progress(done, orders.height)
        uow.commit()
    return {"customers": len(ids), "orders": orders.height}


def _insert_orders(uow: UnitOfWork, seller_id: int, df: pl.DataFrame, id_map: dict, products, now) -> None:
    rng = np.random.default_rng(int(df["order_id"][0]))
    recs = df.to_dicts()
    values = []
    for r in recs:
        created, shipped = r["created_at"], r["shipped_at"]
        status = ("cancelled" if r["cancelled"] else "returned" if r["return_days"] is not None else
                  "delivered" if r["delivered_at"] is not None else "in_transit")
        ship_by = (max(shipped, created + timedelta(hours=8)) if shipped and r["shipped_same_day"]
                   else created + timedelta(hours=8))
        values.append({
            "seller_id": seller_id, "channel": "history", "external_id": f"H-{r['order_id']}",
            "customer_id": id_map[r["customer_id"]], "status": status, "delivery_type": "courier",
            "total": round(r["amount"], 2), "warehouses": "", "sourcing_reason": "imported history",
            "ship_by": ship_by, "promised_delivery_at": r["promised_at"], "received_at": created,
            "shipped_at": shipped, "delivered_at": r["delivered_at"],
            "fulfillment_error": bool(r["fulfillment_error"]), "updated_at": now})
    order_ids = uow.execute(insert(t.orders).returning(t.orders.c.id, sort_by_parameter_order=True),
                            values).scalars().all()
    lines, events, returns = [], [], []
    for oid, r, v in zip(order_ids, recs, values):
        n = max(1, int(r["lines"]))
        picks = rng.choice(len(products), size=min(n, len(products)), replace=False)
        price = round(r["amount"] / len(picks), 2)
        lines += [{"order_id": oid, "product_id": products[p].id, "sku": products[p].sku, "quantity": 1,
                   "unit_price": price, "backordered": 0} for p in picks]
        events.append({"order_id": oid, "from_status": None, "to_status": v["status"], "actor": "history import",
                       "reason": "imported order history", "created_at": v["received_at"]})
        if r["return_days"] is not None and r["delivered_at"] is not None:
            received = r["delivered_at"] + timedelta(days=5)
            returns.append({"order_id": oid, "seller_id": seller_id, "reason": "customer return",
                            "requested_at": r["delivered_at"] + timedelta(days=2), "received_at": received,
                            "processed_at": received + timedelta(days=float(r["return_days"]))})
    uow.execute(insert(t.order_lines), lines)
    uow.execute(insert(t.order_events), events)
    if returns:
        uow.execute(insert(t.returns), returns)
