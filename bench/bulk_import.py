"""Benchmark: importing a large orders CSV through the real import path
(file bytes -> parsing -> validation with the API's schemas -> bulk intake ->
one commit), against a fresh, seeded schema.

The file has `orders` orders of 1-3 lines (one row per line, the order columns
repeated on every row), customers drawn from a pool a third the size of the
order count (so repeat buyers are matched), coordinates of four cities, and
prices; the stock is large enough that nearly every order is allocated.

Prints one JSON line. Run it as `qoima bench import --database-url URL`.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
import time

from bench.intake import CITIES, fresh_schema, seed

HEADER = ["seller", "channel", "external_id", "customer_name", "customer_phone", "customer_email",
          "customer_language", "preferred_channel", "delivery_type", "address", "city", "lat", "lon",
          "received_at", "sku", "quantity", "unit_price"]


def make_csv(orders: int, skus: dict, seed_value: int = 42) -> tuple[bytes, int]:
    rng = random.Random(seed_value)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    sellers = list(skus)
    pool = max(1, orders // 3)
    lines = 0
    for n in range(orders):
        seller = sellers[n % len(sellers)]
        city, lat, lon = rng.choice(CITIES)
        c = rng.randrange(pool)
        head = [seller, "csv", f"IMP-{n + 1:07d}", f"Customer {c}", f"+7701{c:07d}",
                f"customer{c}@example.kz" if c % 2 else "", rng.choice(("ru", "kk", "en")), "sms",
                rng.choice(("courier", "courier", "pickup_point")), f"{city}, street {rng.randint(1, 200)}", city,
                f"{lat + rng.uniform(-0.05, 0.05):.5f}", f"{lon + rng.uniform(-0.05, 0.05):.5f}",
                f"2024-05-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00+05:00"]
        for sku in rng.sample(skus[seller], rng.randint(1, 3)):
            w.writerow(head + [sku, rng.randint(1, 3), rng.choice(("1990.00", "2990.00", "4990.00", "12990.00"))])
            lines += 1
    return buf.getvalue().encode(), lines


def run(database_url: str, orders: int = 100_000, schema: str = "qoima_bench", batch_size: int = 2000) -> dict:
    from qoima.orders.services.order_import import import_orders
    from qoima.platform.access import Principal
    from qoima.platform.imports import ImportOptions, Upload, bulk_interpreter
    engine = fresh_schema(database_url, schema)
    world = seed(engine)
    data, lines = make_csv(orders, world["skus"])
    principal = Principal(user_id=None, email="bench-import", role="manager")
    started = time.perf_counter()
    with bulk_interpreter():  # as `qoima import` and the worker's import jobs run it
        report = import_orders(engine, principal, Upload(data, "orders.csv"), ImportOptions(batch_size=batch_size))
    seconds = time.perf_counter() - started
    engine.dispose()
    if not report.valid:
        raise RuntimeError(f"the generated file has errors: {report.errors[:5]}")
    return {"orders": report.counts["new"], "lines": lines, "seconds": round(seconds, 2),
            "rows_per_s": round(lines / seconds, 1), "orders_per_s": round(report.counts["new"] / seconds, 1),
            "allocated": report.counts["allocated"], "backordered": report.counts["backordered"],
            "file_mb": round(len(data) / 1e6, 1)}


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)))
