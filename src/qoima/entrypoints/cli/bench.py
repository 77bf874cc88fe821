"""`qoima bench ...`: the benchmarks of bench/ (one module per benchmark), each
printing one JSON line. They need a source checkout (bench/ lives beside src/)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(help="Benchmarks (one JSON line each); see bench/README.md", no_args_is_help=True)

BenchUrl = Annotated[str, typer.Option("--database-url", envvar="QOIMA_BENCH_DATABASE_URL",
                                       help="PostgreSQL URL; a fresh schema is created in that database")]
Schema = Annotated[str, typer.Option(help="schema created (dropped first!) for the benchmark")]


def bench_module(name: str):
    """Import bench/<name>.py from the checkout this package was installed from (or the current directory)."""
    for root in (Path(__file__).resolve().parents[4], Path.cwd()):
        if (root / "bench" / f"{name}.py").exists():
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            return importlib.import_module(f"bench.{name}")
    raise typer.BadParameter(f"bench/{name}.py not found: run from a Qoima source checkout")


def emit(result: dict) -> None:
    typer.echo(json.dumps(result, default=str))


@app.command()
def intake(database_url: BenchUrl, clients: int = 16, seconds: float = 20.0, workers: int = 2,
           warmup: float = 5.0, schema: Schema = "qoima_bench_intake",
           pgbench: Annotated[bool, typer.Option(help="also measure pgbench TPC-B-like tps")] = True,
           profile: Annotated[Optional[str], typer.Option(help="py-spy raw profile of the API into this file")] = None):
    """POST /api/v1/orders from concurrent clients against N API processes: orders/s, p50, p99."""
    emit(bench_module("intake").run(database_url, clients=clients, seconds=seconds, workers=workers,
                                    warmup=warmup, schema=schema, with_pgbench=pgbench, profile=profile))


@app.command("import")
def import_(database_url: BenchUrl, orders: int = 100_000, schema: Schema = "qoima_bench_import",
            batch_size: int = 2000):
    """Generate an orders CSV and import it through validation and bulk intake in one transaction."""
    emit(bench_module("bulk_import").run(database_url, orders=orders, schema=schema, batch_size=batch_size))


@app.command()
def analytics(customers: int = 1_000_000, orders: int = 5_000_000, seed: int = 1,
              lifetimes: Annotated[bool, typer.Option(help="also time lifetimes 0.11.3 (pinned venv in /tmp)")] = True):
    """Customer metrics, cohorts, RFM, CLV fit and the loyalty report on a simulated seller;
    BG/NBD fit time against lifetimes on the same customers."""
    emit(bench_module("analytics").run(customers, orders, seed, lifetimes=lifetimes))


@app.command()
def floor(database_url: BenchUrl, orders: int = 10_000, schema: Schema = "qoima_bench_floor", workers: int = 2,
          seconds: float = 15.0, pace: float = 1.0):
    """Plan waves, batches and routes for N orders (20 aisles x 50 bays; walk vs one order at a time),
    then the pick-scan endpoint with 50 concurrent scanners: flat out, then one scan per PACE seconds each."""
    emit(bench_module("floor").run(database_url, orders=orders, schema=schema, workers=workers, seconds=seconds,
                                   pace=pace))
