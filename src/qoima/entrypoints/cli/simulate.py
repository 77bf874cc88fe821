"""`qoima simulate`: realistic order history for demos, tests and benchmarks."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from qoima.analytics.domain.simulate import simulate_history
from qoima.platform.unit_of_work import utcnow

app = typer.Typer(help="Generate realistic order history (customers, orders, fulfillment, returns)",
                  invoke_without_command=True)
console = Console(stderr=True)


@app.callback()
def simulate(
    customers: Annotated[int, typer.Option(help="number of customers")] = 10_000,
    years: Annotated[float, typer.Option(help="length of the history in years")] = 2.0,
    effect_days: Annotated[float, typer.Option(help="planted effect: next order this many days sooner after "
                                                    "a same-day shipment (0 = none)")] = 2.5,
    orders: Annotated[Optional[int], typer.Option(help="target number of orders (rates are scaled to it)")] = None,
    seed: int = 0,
    output: Annotated[Optional[Path], typer.Option(help="write customers.csv, orders.csv and transactions.csv "
                                                        "(customer_id,date,amount for `qoima clv`) here")] = None,
    into_db: Annotated[Optional[str], typer.Option("--into-db", help="insert the history for this seller code")] = None,
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", envvar="QOIMA_DATA_DIR")] = None,
    database_url: Annotated[Optional[str], typer.Option("--database-url", envvar="QOIMA_DATABASE_URL")] = None,
):
    if output is None and into_db is None:
        raise typer.BadParameter("give --output DIR and/or --into-db SELLER", param_hint="--output")
    end = utcnow().replace(microsecond=0)
    with console.status("simulating..."):
        sim = simulate_history(n_customers=customers, start=end - timedelta(days=365.25 * years), end=end,
                               effect_days=effect_days, n_orders=orders, seed=seed)
    summary = {"customers": sim.customers.height, "orders": sim.orders.height, "effect_days": effect_days,
               "start": sim.params.start.isoformat(), "end": sim.params.end.isoformat()}
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        sim.customers.write_csv(output / "customers.csv")
        sim.orders.write_csv(output / "orders.csv")
        import polars as pl
        sim.orders.filter(~pl.col("cancelled")).select(
            "customer_id", pl.col("created_at").dt.date().alias("date"), "amount").write_csv(output / "transactions.csv")
        summary["output"] = str(output)
    if into_db is not None:
        from sqlalchemy import select

        from qoima.db import tables as t
        from qoima.analytics.services.history import insert_history
        from qoima.entrypoints.cli import engine_for
        engine = engine_for(data_dir, database_url)
        with engine.connect() as conn:
            seller_id = conn.execute(select(t.sellers.c.id).where(t.sellers.c.code == into_db)).scalar()
        if seller_id is None:
            raise typer.BadParameter(f"unknown seller '{into_db}'", param_hint="--into-db")
        with Progress(TextColumn("inserting"), BarColumn(), TextColumn("{task.completed}/{task.total} orders"),
                      TimeRemainingColumn(), console=console) as bar:
            task = bar.add_task("insert", total=sim.orders.height)
            insert_history(engine, seller_id, sim.customers, sim.orders,
                           progress=lambda done, total: bar.update(task, completed=done))
        summary["seller"] = into_db
    typer.echo(json.dumps(summary))
