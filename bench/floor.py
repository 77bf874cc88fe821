"""`qoima bench floor --database-url URL`: (a) plan waves, batches and routes for 10,000 orders in a
20-aisle x 50-bay layout and compare the walk with picking one order at a time (S-shape); (b) the
pick-scan endpoint's latency with 50 concurrent scanners on PostgreSQL (the API as `qoima serve` runs
it). One JSON line: {plan_s, walk_reduction, scan_p50_ms, scan_p99_ms, ...}.

(a) is the planning the release does (floor/services/waves.py): orders grouped into waves by ship-by
deadline and carrier, batched onto carts of 8 totes with `batching.make_batches`, each cart routed by
`routing.route`; the orders have 1-4 picks at uniformly random bays.
(b) seeds 50 workers, one product with plenty of stock at 50 locations and 50 orders of 400 units each,
releases one wave (one cart per order), and lets each scanner scan units of its own order (one request
in flight per scanner, keep-alive): first flat out, as fast as the answers come (throughput; with 50
requests always queued the latency is 50 / throughput, Little's law), then at a picker's pace, one
scan per second per scanner from random starts (open loop): the latency the picker waits for the beep."""

from __future__ import annotations

import random
import statistics
import threading
import time
from decimal import Decimal

from bench.intake import fresh_schema, free_port, schema_url, start_api, stop_api

AISLES, BAYS, BAY_M = 20, 50, 1.0


def plan(orders: int = 10_000, capacity: int = 8, seed: int = 7) -> dict:
    from qoima.floor.domain.batching import OrderPicks, make_batches, single_order_walk
    from qoima.floor.domain.routing import Layout, Pick
    rng = random.Random(seed)
    layout = Layout(aisles=AISLES, aisle_length=BAYS * BAY_M, aisle_spacing=3.0, depot_aisle=0)
    waves: dict[tuple, list] = {}
    for oid in range(1, orders + 1):
        picks = tuple(Pick(f"{oid}:{i}", rng.randrange(AISLES), (rng.randrange(BAYS) + 0.5) * BAY_M)
                      for i in range(rng.choice([1, 1, 2, 2, 3, 4])))
        waves.setdefault((rng.randrange(4), rng.choice(["courier", "pickup_point", "self_pickup"])), []).append(
            OrderPicks(oid, picks))
    t0 = time.perf_counter()
    batched = 0.0
    batches = 0
    for key in sorted(waves):
        result = make_batches(layout, waves[key], capacity)
        batched += sum(b.route.length for b in result)
        batches += len(result)
    plan_s = time.perf_counter() - t0
    single = sum(single_order_walk(layout, group) for group in waves.values())
    return {"plan_s": round(plan_s, 2), "walk_reduction": round(1 - batched / single, 3), "orders": orders,
            "waves": len(waves), "batches": batches, "walk_m": round(batched), "single_order_walk_m": round(single)}


SCANNERS = 50
UNITS = 400


def _seed(engine) -> list[tuple[str, int]]:
    """50 workers with tokens, 50 orders of one product at 50 locations, one wave released: (token, task)."""
    from qoima.catalog import services as catalog
    from qoima.catalog.schemas import ProductIn
    from qoima.customers.schemas import CustomerIn
    from qoima.floor.services import picking, waves
    from qoima.orders.schemas import DeliveryIn, LineIn, OrderIn
    from qoima.orders.services.intake import submit_order
    from qoima.platform import auth
    from qoima.platform.access import SYSTEM, Principal
    from qoima.platform.unit_of_work import UnitOfWork, run
    from qoima.stock.schemas import ReceiptIn, ReceiptLineIn
    from qoima.stock.services import inbound
    with UnitOfWork(engine) as uow:
        catalog.create_seller(uow, SYSTEM, "bench", "Bench")
        wid = catalog.create_warehouse(uow, SYSTEM, code="ALA", name="Almaty", city="Almaty", lat=43.2, lon=76.9)
        for n in range(SCANNERS):
            catalog.create_location(uow, SYSTEM, warehouse_id=wid, code=f"L-{n:02d}", x=n % AISLES, y=n // AISLES + 1)
        catalog.upsert_product(uow, SYSTEM, ProductIn(seller="bench", sku="BENCH-1", name="Bench item",
                                                      price=Decimal("1"), barcodes=["4870000009015"]))
        from sqlalchemy import update

        from qoima.db import tables as t
        uow.execute(update(t.warehouses).values(cart_capacity=1))
        users = []
        for n in range(SCANNERS):
            email = f"picker{n}@bench.local"
            uid = auth.create_user(uow, email=email, password="bench-password", role="worker", language="en")
            users.append((Principal(uid, email, "worker"), auth.create_token(uow, email)))
        uow.commit()
    with UnitOfWork(engine) as uow:
        for n in range(SCANNERS):
            inbound.receive(uow, SYSTEM, ReceiptIn(seller="bench", warehouse="ALA", location=f"L-{n:02d}",
                                                   lines=[ReceiptLineIn(sku="BENCH-1", expected=UNITS, received=UNITS)]))
        uow.commit()
    for n in range(SCANNERS):
        submit_order(engine, SYSTEM, OrderIn(
            seller="bench", channel="api", external_id=f"B-{n}", customer=CustomerIn(name="Bench", phone="+77010000000"),
            delivery=DeliveryIn(type="courier", address="Abay 1", city="Almaty", lat=43.25, lon=76.93),
            lines=[LineIn(sku="BENCH-1", quantity=UNITS, unit_price=Decimal("1"))]))
    run(engine, lambda uow: waves.release(uow, SYSTEM, waves.ReleaseRequest(warehouse="ALA", limit=SCANNERS)))
    out = []
    for principal, token in users:
        task = run(engine, lambda uow, p=principal: picking.next_task(uow, p))
        out.append((token, task["id"], task["current"]["location"]))
    return out


def _scanner(port: int, task: tuple, clock: tuple, pace: float, phase: str, out: list) -> None:
    """One picker's scanner: the location once, then the item again and again. `pace` 0: flat out (the
    next scan as soon as the answer is there); else one scan every `pace` seconds from a random start,
    and a scan's latency counts from when it was due (a late answer delays the next one and that wait
    counts too: no coordinated omission)."""
    import httpx
    token, task_id, location = task
    t_start, t_measure, t_end = clock
    rng = random.Random(task_id)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as c:
        if phase == "flat":
            c.post(f"/api/v1/floor/tasks/{task_id}/scans", json={"op_id": f"{task_id}-loc", "raw": location})
        n = 0
        due = t_start + (rng.random() * pace if pace else 0.0)
        while due < t_end:
            if pace:
                time.sleep(max(0.0, due - time.perf_counter()))
            n += 1
            t0 = due if pace else time.perf_counter()
            r = c.post(f"/api/v1/floor/tasks/{task_id}/scans?lang=en",  # as the scanner page sends it
                       json={"op_id": f"{task_id}-{phase}-{n}", "raw": "4870000009015"})
            done = time.perf_counter()
            if r.status_code != 200 or not r.json().get("ok"):
                out.append(("error", r.status_code))
                break
            if t0 >= t_measure:
                out.append(done - t0)
            due = due + pace if pace else done


def _drive(port: int, tasks: list, pace: float, phase: str, warmup: float, seconds: float) -> dict:
    out: list = []
    start = time.perf_counter() + 0.5
    clock = (start, start + warmup, start + warmup + seconds)
    threads = [threading.Thread(target=_scanner, args=(port, task, clock, pace, phase, out)) for task in tasks]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    lat = sorted(x for x in out if isinstance(x, float))
    errors = len([x for x in out if not isinstance(x, float)])
    if not lat:
        return {"p50_ms": None, "p99_ms": None, "scans_per_s": 0, "errors": errors}
    return {"p50_ms": round(statistics.median(lat) * 1000, 1),
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 1),
            "scans_per_s": round(len(lat) / seconds, 1), "errors": errors}


def scans(database_url: str, schema: str = "qoima_bench_floor", workers: int = 2, warmup: float = 3.0,
          seconds: float = 15.0, pace: float = 1.0) -> dict:
    """50 scanners, twice: flat out (closed loop: the throughput, and the latency that many requests
    queued at once get), then at a picker's pace (`pace` seconds between one scanner's scans; open loop):
    the latency a picker feels. scan_p50_ms / scan_p99_ms are the latter."""
    engine = fresh_schema(database_url, schema)
    try:
        tasks = _seed(engine)
    finally:
        engine.dispose()
    port = free_port()
    proc, data_dir = start_api(schema_url(database_url, schema), workers, port)
    try:
        flat = _drive(port, tasks, 0.0, "flat", warmup, seconds)
        paced = _drive(port, tasks, pace, "paced", warmup, seconds) if pace else flat
    finally:
        stop_api(proc, data_dir)
    return {"scan_p50_ms": paced["p50_ms"], "scan_p99_ms": paced["p99_ms"], "scan_pace_s": pace,
            "scans_per_s": paced["scans_per_s"], "flat_out_p50_ms": flat["p50_ms"], "flat_out_p99_ms": flat["p99_ms"],
            "flat_out_scans_per_s": flat["scans_per_s"], "scanners": SCANNERS,
            "scan_errors": flat["errors"] + paced["errors"], "api_workers": workers}


def run(database_url: str, orders: int = 10_000, schema: str = "qoima_bench_floor", workers: int = 2,
        seconds: float = 15.0, pace: float = 1.0) -> dict:
    result = plan(orders)
    result.update(scans(database_url, schema=schema, workers=workers, seconds=seconds, pace=pace))
    return result
