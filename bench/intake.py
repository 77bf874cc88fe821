"""Benchmark: order intake over HTTP (`POST /api/v1/orders`) against PostgreSQL.

1. a fresh schema (`qoima_bench` by default) in the given database, migrated;
2. seeded: 2 sellers x 100 SKUs, each stocked in ALA and AST (200 SKUs x 2
   warehouses) with plenty of units, and an API token for a manager;
3. the API started as `qoima serve` does: uvicorn with N worker processes on a
   free port (a subprocess), with Prometheus multiprocess mode when N > 1;
4. a load generator in its own process: `clients` keep-alive connections on one
   asyncio loop with a minimal HTTP/1.1 client (so that the generator costs far
   less CPU than the server), each sending orders of 3 lines with distinct
   external ids back to back; after a warm-up, completed orders and latencies
   are counted for `seconds`;
5. when `pgbench` is installed, the machine's write ceiling in the same run:
   `pgbench -i -s 10` into a scratch database, then the standard TPC-B-like
   script `pgbench -c 16 -j 2 -T 15`.

Prints one JSON line. Run it as `qoima bench intake --database-url URL`.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from urllib.parse import quote, urlsplit, urlunsplit

from sqlalchemy import create_engine, insert, text
from sqlalchemy.pool import NullPool

from bench import cpu

SKUS_PER_SELLER = 100
SELLERS = ("bench-home", "bench-tech")
WAREHOUSES = (("ALA", "Almaty", 43.2389, 76.8897), ("AST", "Astana", 51.1282, 71.4307))
CITIES = (("Almaty", 43.2567, 76.9286), ("Astana", 51.1605, 71.4704), ("Shymkent", 42.3417, 69.5901),
          ("Karaganda", 49.8047, 73.1094))
UNITS = 10_000_000
MANAGER = "bench-manager@qoima.local"


# ---------------------------------------------------------------- database

def plain_url(url: str) -> str:
    """postgresql://... without a driver suffix (for pgbench / psql)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def schema_url(url: str, schema: str) -> str:
    """The URL whose connections use `schema` (search_path through libpq options)."""
    parts = urlsplit(plain_url(url))
    query = "&".join(q for q in parts.query.split("&") if q and not q.startswith("options="))
    opt = "options=" + quote(f"-csearch_path={schema}")
    return urlunsplit(parts._replace(query=f"{query}&{opt}" if query else opt))


def fresh_schema(url: str, schema: str):
    """Drop and re-create the schema, migrate it, and return an engine bound to it."""
    from qoima.db.migrate import upgrade
    from qoima.platform.settings import normalize_url
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", schema):
        raise ValueError(f"bad schema name {schema!r}")
    admin = create_engine(normalize_url(plain_url(url)), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    engine = create_engine(normalize_url(schema_url(url, schema)), pool_size=4)
    upgrade(engine)
    return engine


def seed(engine, skus_per_seller: int = SKUS_PER_SELLER, units: int = UNITS) -> dict:
    """Sellers, warehouses with storage locations, products with stock (and their receipt
    movements in the ledger), a manager with an API token. Returns what the load needs."""
    from qoima.db import tables as t
    from qoima.catalog.domain.barcodes import check_digit
    from qoima.platform import auth
    from qoima.catalog import services as catalog
    from qoima.platform.access import SYSTEM
    from qoima.platform.unit_of_work import UnitOfWork, utcnow
    now = utcnow()
    with UnitOfWork(engine) as uow:
        sellers = {code: catalog.create_seller(uow, SYSTEM, code, code.title()) for code in SELLERS}
        auth.create_user(uow, email=MANAGER, password=None, role="manager")
        token = auth.create_token(uow, MANAGER, "bench")
        locs = {}
        for code, city, lat, lon in WAREHOUSES:
            wid = catalog.create_warehouse(uow, SYSTEM, code=code, name=code, city=city, lat=lat, lon=lon)
            locs[wid] = [catalog.create_location(uow, SYSTEM, warehouse_id=wid, code=f"A-{a:02d}-{p:02d}-1",
                                                 aisle=f"{a:02d}", position=f"{p:02d}", x=a * 3.0, y=p * 1.5)
                         for a in range(1, 5) for p in range(1, 9)]
        products, skus = [], {}
        n = 0
        for code, sid in sellers.items():
            skus[code] = []
            for i in range(skus_per_seller):
                n += 1
                sku = f"{code[6:9].upper()}-{i + 1:04d}"
                skus[code].append(sku)
                products.append({"seller_id": sid, "sku": sku, "name": f"Bench item {n}", "category": "bench",
                                 "price": Decimal(1990), "weight_g": 300, "length_mm": 100, "width_mm": 100,
                                 "height_mm": 50, "marking_required": False, "created_at": now})
        pids = uow.execute(insert(t.products).returning(t.products.c.id, t.products.c.seller_id,
                                                        sort_by_parameter_order=True), products).all()
        uow.execute(insert(t.barcodes), [{"seller_id": p.seller_id, "product_id": p.id,
                                          "code": f"487{9000000 + k:09d}" + check_digit(f"487{9000000 + k:09d}")}
                                         for k, p in enumerate(pids)])
        stock, moves = [], []
        for wid, loc_ids in locs.items():
            for k, p in enumerate(pids):
                loc = loc_ids[k % len(loc_ids)]
                stock.append({"product_id": p.id, "location_id": loc, "warehouse_id": wid, "on_hand": units,
                              "reserved": 0})
                moves.append({"kind": "receipt", "product_id": p.id, "to_location_id": loc, "quantity": units,
                              "actor": "bench", "reason": "bench seed", "reference": "bench", "created_at": now})
        uow.execute(insert(t.stock), stock)
        uow.execute(insert(t.stock_movements), moves)
        uow.commit()
    with engine.connect() as conn:
        # planner statistics of the catalog, as autovacuum keeps them on a live database; the empty order
        # tables stay unanalysed (an ANALYZE of an empty table makes cached plans, such as those of the
        # foreign-key checks, scan it sequentially while it grows during the run)
        conn.execute(text("ANALYZE sellers, warehouses, locations, products, barcodes, stock"))
        conn.commit()
    return {"token": token, "skus": skus}


# ---------------------------------------------------------------- server

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_api(url: str, workers: int, port: int) -> tuple[subprocess.Popen, str]:
    data_dir = tempfile.mkdtemp(prefix="qoima-bench-")
    url += ("&" if "?" in url else "?") + f"application_name={APP_NAME}"
    env = {**os.environ, "QOIMA_DATABASE_URL": url, "QOIMA_SECRET_KEY": "bench-secret-not-for-production",
           "QOIMA_DATA_DIR": data_dir, "QOIMA_LOG_LEVEL": "WARNING"}
    if workers > 1:  # as `qoima serve`: /metrics adds up the processes' counters (prometheus multiprocess mode)
        env["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(data_dir, "prometheus")
        os.mkdir(env["PROMETHEUS_MULTIPROC_DIR"])
    # the same server as `qoima serve` (uvicorn, N processes, no access log)
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "qoima.entrypoints.asgi:app", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", str(workers), "--log-level", "warning",
                             "--no-access-log"], env=env, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    time.sleep(0.5 * workers)  # let every worker finish importing
                    return proc, data_dir
        except OSError:
            pass
        time.sleep(0.2)
    stop_api(proc, data_dir)
    raise RuntimeError("the API did not answer /healthz within 60 s")


def stop_api(proc: subprocess.Popen, data_dir: str | None = None) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if data_dir:
        shutil.rmtree(data_dir, ignore_errors=True)


# ---------------------------------------------------------------- load generator

async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        body += await reader.readexactly(size + 2)
        if size == 0:
            return status, body


async def _client(i: int, port: int, token: str, skus: dict, t_measure: float, t_end: float, out: dict) -> None:
    rng = random.Random(i)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    # Reconnect now and then: a kept-alive connection stays with the worker process that accepted it,
    # and re-accepting lets connections spread over the workers as a load balancer would.
    per_connection = 25
    sellers = list(skus)
    head = (f"POST /api/v1/orders HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\n").encode()
    n = 0
    try:
        while True:
            now = time.perf_counter()
            if now >= t_end:
                break
            seller = rng.choice(sellers)
            city, lat, lon = rng.choice(CITIES)
            n += 1
            body = json.dumps({
                "seller": seller, "channel": "bench", "external_id": f"{out['run']}-{i}-{n}",
                "customer": {"name": "Bench Customer", "phone": f"+7701{rng.randint(0, 9999999):07d}"},
                "delivery": {"type": "courier", "address": "Abay 1", "city": city, "lat": lat, "lon": lon},
                "lines": [{"sku": s, "quantity": rng.randint(1, 2), "unit_price": "1990.00"}
                          for s in rng.sample(skus[seller], 3)]}).encode()
            writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            status, _ = await _read_response(reader)
            done = time.perf_counter()
            if n % per_connection == 0:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            if now >= t_measure and done <= t_end:
                if status == 201:
                    out["lat"].append(done - now)
                else:
                    out["errors"] += 1
                    out["statuses"][status] = out["statuses"].get(status, 0) + 1
    except (OSError, asyncio.IncompleteReadError) as exc:
        out["errors"] += 1
        out["exceptions"].append(repr(exc)[:200])
    finally:
        writer.close()


def _load_process(port, token, skus, clients, warmup, seconds, queue) -> None:
    async def main():
        t0 = time.perf_counter()
        out = {"lat": [], "errors": 0, "statuses": {}, "exceptions": [], "run": f"r{os.getpid()}"}
        await asyncio.gather(*(_client(i, port, token, skus, t0 + warmup, t0 + warmup + seconds, out)
                               for i in range(clients)))
        return out
    queue.put(asyncio.run(main()))


def drive(port: int, token: str, skus: dict, clients: int, warmup: float, seconds: float,
          groups=None) -> dict:
    """groups(): {name: [pid, ...]} of the processes whose CPU is accounted (the load generator is added)."""
    queue = mp.get_context("fork").Queue()
    proc = mp.get_context("fork").Process(target=_load_process,
                                          args=(port, token, skus, clients, warmup, seconds, queue))
    proc.start()
    before = after = None
    if groups is not None:  # CPU of the measured window (the generator counts from warmup to warmup+seconds)
        time.sleep(warmup)
        watched = {**groups(), "load_generator": [proc.pid]}
        before = cpu.snapshot(watched)
        time.sleep(seconds)
        after = cpu.snapshot(watched)
    out = queue.get(timeout=warmup + seconds + 120)
    proc.join(30)
    lat = sorted(out["lat"])

    def pct(p: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None
    return {"orders_per_s": round(len(lat) / seconds, 1), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None, "errors": out["errors"],
            "error_statuses": out["statuses"], "exceptions": out["exceptions"][:3],
            "cpu_per_order": cpu.per_unit(before, after, len(lat))}


APP_NAME = "qoima-bench-api"


def pg_pids(url: str):
    """A function giving the PostgreSQL processes of the run: the API's backends (by application
    name) and the server's own background processes (WAL writer, checkpointer, autovacuum...)."""
    from qoima.platform.settings import normalize_url

    def groups() -> dict[str, list[int]]:
        eng = create_engine(normalize_url(plain_url(url)), poolclass=NullPool)
        try:
            with eng.connect() as conn:
                rows = conn.execute(text("SELECT pid, application_name, backend_type FROM pg_stat_activity")).all()
        finally:
            eng.dispose()
        return {"postgres_backends": [r.pid for r in rows if r.application_name == APP_NAME],
                "postgres_background": [r.pid for r in rows if r.backend_type != "client backend"]}
    return groups


def horizon_holders(url: str, older_than_s: float = 5.0) -> dict[int, str]:
    """Transactions anywhere on the server open for longer than `older_than_s`: while one holds an
    xid or a snapshot, dead row versions cannot be pruned (in any database of the cluster), the hot
    stock rows bloat, and every figure of the run is pessimistic. Reported with the result."""
    from qoima.platform.settings import normalize_url
    eng = create_engine(normalize_url(plain_url(url)), poolclass=NullPool)
    try:
        with eng.connect() as conn:
            rows = conn.execute(text(
                "SELECT pid, datname, state, round(extract(epoch FROM now() - xact_start)) AS age FROM pg_stat_activity"
                " WHERE pid <> pg_backend_pid() AND (backend_xid IS NOT NULL OR backend_xmin IS NOT NULL)"
                " AND now() - xact_start > make_interval(secs => :s)"), {"s": older_than_s}).all()
    finally:
        eng.dispose()
    return {r.pid: f"pid {r.pid} in {r.datname}: {r.state}, open for {int(r.age)} s" for r in rows}


# ---------------------------------------------------------------- pgbench

PGBENCH_MODE = "tpcb-like: pgbench -i -s 10; pgbench -c 16 -j 2 -T 15"


def pgbench(url: str, seconds: int = 15) -> float | None:
    exe = shutil.which("pgbench")
    if exe is None:
        return None
    base = plain_url(url)
    parts = urlsplit(base)
    scratch = urlunsplit(parts._replace(path="/qoima_pgbench", query=""))
    admin = create_engine(re.sub(r"^postgresql://", "postgresql+psycopg://", urlunsplit(parts._replace(query=""))),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.execute(text("select 1 from pg_database where datname = 'qoima_pgbench'")).first() is None:
            conn.execute(text("CREATE DATABASE qoima_pgbench"))
    admin.dispose()
    subprocess.run([exe, "-i", "-s", "10", "-q", scratch], check=True, capture_output=True)
    res = subprocess.run([exe, "-c", "16", "-j", "2", "-T", str(seconds), scratch], check=True,
                         capture_output=True, text=True)
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", res.stdout) or \
        re.search(r"tps = ([0-9.]+)", res.stdout)
    return round(float(m.group(1)), 1) if m else None


# ---------------------------------------------------------------- the benchmark

def run(database_url: str, clients: int = 16, seconds: float = 20, workers: int = 2, warmup: float = 5,
        schema: str = "qoima_bench", with_pgbench: bool = True, profile: str | None = None) -> dict:
    if not plain_url(database_url).startswith("postgresql://"):
        raise ValueError("the intake benchmark needs a PostgreSQL URL")
    engine = fresh_schema(database_url, schema)
    world = seed(engine)
    engine.dispose()
    url = schema_url(database_url, schema)
    port = free_port()
    proc, data_dir = start_api(url, workers, port)
    spy = None
    try:
        if profile:
            exe = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
            gil = ["--gil"] if os.environ.get("QOIMA_BENCH_PROFILE_GIL") else []  # only threads holding the GIL
            spy = subprocess.Popen([exe, "record", "--pid", str(proc.pid), "--subprocesses", "--format", "raw",
                                    "--duration", str(int(warmup + seconds)), "--rate", "200", "--output", profile,
                                    "--nonblocking", *gil], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pgs = pg_pids(database_url)
        held = horizon_holders(database_url)
        result = drive(port, world["token"], world["skus"], clients, warmup, seconds,
                       groups=lambda: {"api": cpu.children(proc.pid), **pgs()})
    finally:
        if spy is not None:
            spy.wait(60)
        stop_api(proc, data_dir)
    result.update(clients=clients, workers=workers, seconds=seconds, lines_per_order=3,
                  long_transactions=list({**held, **horizon_holders(database_url)}.values()))
    if with_pgbench:
        result["pgbench_tps"] = pgbench(database_url)
        result["pgbench_mode"] = PGBENCH_MODE if result["pgbench_tps"] is not None else "pgbench not installed"
    return result


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1])))
