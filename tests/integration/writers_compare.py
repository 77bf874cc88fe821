"""Comparison helpers for the order writers (careful, express, bulk): every row
they store, with the ids that a writer may draw differently replaced by ranks.

The express path draws order and line ids from the sequences before it knows
whether it will book the order (a hand-over leaves a gap, as any rolled-back
insert does); the bulk path draws ids for a whole batch. Ids of orders, lines
and customers are therefore compared by rank (1, 2, ...) wherever they appear."""

from __future__ import annotations

import re

from sqlalchemy import select

from qoima.db import tables as t

SKIP_COLUMNS = {"created_at", "updated_at", "handled_at", "next_attempt_at"}
TABLES = [t.customers, t.orders, t.order_lines, t.reservations, t.shipments, t.stock, t.order_events, t.outbox]


def snapshot(engine, skip: set[str] = frozenset()) -> dict:
    """Every row of TABLES (without SKIP_COLUMNS and `skip`), ids by rank."""
    with engine.connect() as conn:
        rows = {tbl.name: [dict(r._mapping) for r in conn.execute(select(tbl).order_by(tbl.c.id))] for tbl in TABLES}
    # the order writers' events; stock.changed (aggregate: a product) comes from the world's own receipts
    rows["outbox"] = [r for r in rows["outbox"] if r["topic"].startswith("order.")]
    orders = {r["id"]: n for n, r in enumerate(rows["orders"], 1)}
    lines = {r["id"]: n for n, r in enumerate(rows["order_lines"], 1)}
    customers = {r["id"]: n for n, r in enumerate(rows["customers"], 1)}
    shipments = {r["id"]: n for n, r in enumerate(rows["shipments"], 1)}
    customers[None] = None
    refs = {("shipments", "id"): shipments, ("shipments", "order_id"): orders,("orders", "id"): orders, ("order_lines", "id"): lines, ("order_lines", "order_id"): orders,
            ("reservations", "order_id"): orders, ("reservations", "order_line_id"): lines,
            ("order_events", "order_id"): orders, ("outbox", "aggregate_id"): orders,
            ("customers", "id"): customers, ("customers", "merged_into_id"): customers,
            ("orders", "customer_id"): customers}
    for name, table_rows in rows.items():
        for r in table_rows:
            for col in list(r):
                if (name, col) in refs:
                    r[col] = refs[name, col][r[col]]
            if name == "outbox" and "order_id" in r["payload"]:
                r["payload"] = {**r["payload"], "order_id": orders[r["payload"]["order_id"]]}
    drop = SKIP_COLUMNS | set(skip)
    return {name: [tuple(v for k, v in r.items() if k not in drop) for r in table_rows]
            for name, table_rows in rows.items()}


def ranked(results: list, engine) -> list:
    """The returned orders with order, line and customer ids replaced by their rank, as in snapshot()."""
    with engine.connect() as conn:
        orders = {i: n for n, i in enumerate(conn.execute(select(t.orders.c.id).order_by(t.orders.c.id)).scalars(), 1)}
        lines = {i: n for n, i in enumerate(conn.execute(select(t.order_lines.c.id).order_by(t.order_lines.c.id))
                                            .scalars(), 1)}
        customers = {i: n for n, i in enumerate(conn.execute(select(t.customers.c.id).order_by(t.customers.c.id))
                                                .scalars(), 1)}
    customers[None] = None
    out = []
    for r in results:
        if isinstance(r, tuple):
            order, created = r
            r = ({**order, "id": orders[order["id"]], "customer_id": customers[order["customer_id"]],
                  "lines": [{**ln, "id": lines[ln["id"]]} for ln in order["lines"]]}, created)
        elif isinstance(r, str):  # a refusal naming the stored order: by its rank too
            r = re.sub(r"\(order (\d+)\)|order (\d+) exists",
                       lambda m: m.group(0).replace(m.group(1) or m.group(2), f"#{orders[int(m.group(1) or m.group(2))]}"),
                       r)
        out.append(r)
    return out
