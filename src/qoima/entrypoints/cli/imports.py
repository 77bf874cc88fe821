"""`qoima import orders|products|stock FILE`: validate a CSV/XLSX file, show every
bad row, and write it all (or, with --dry-run, nothing). Exit code 2 when the
file has errors. Columns: see `qoima.orders.services.order_import`,
`qoima.catalog.services.product_import`, `qoima.stock.services.stock_import`.
Runs in the foreground with a progress bar (the API queues a job for the worker instead)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(help="Import orders, products or stock counts from CSV / XLSX", no_args_is_help=True)
console = Console(stderr=True)
out = Console()
SHOWN = 200
# defined here, not imported from .cli: cli imports this module while it loads
DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="where the SQLite file lives (default ./.qoima)",
                                                 envvar="QOIMA_DATA_DIR")]
DbUrl = Annotated[Optional[str], typer.Option("--database-url", envvar="QOIMA_DATABASE_URL",
                                              help="PostgreSQL URL; default: SQLite under --data-dir")]

FileArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help=".csv or .xlsx file")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="validate and count only; write nothing")]
AsOpt = Annotated[Optional[str], typer.Option("--as", help="act as this user (e-mail); default: the operator")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the report as JSON")]


def _principal(engine, email: str | None):
    from qoima.platform import auth
    from qoima.platform.access import Principal
    from qoima.platform.unit_of_work import UnitOfWork
    if not email:
        return Principal(user_id=None, email="cli-import", role="admin")
    with UnitOfWork(engine) as uow:
        from sqlalchemy import select

        from qoima.db import tables as t
        row = uow.execute(select(t.users).where(t.users.c.email == email.strip().lower(),
                                                t.users.c.is_active.is_(True))).first()
    if row is None:
        console.print(f"[red]no active user {email}[/]")
        raise typer.Exit(2)
    return auth.principal_of(row)


def run(kind: str, file: Path, dry_run: bool, as_user: str | None, data_dir, database_url, as_json: bool) -> None:
    from qoima.entrypoints.cli import engine_for
    from qoima.entrypoints.importers import IMPORTERS
    from qoima.platform.errors import DomainError
    from qoima.platform.imports import ImportOptions, Upload, bulk_interpreter
    from qoima.platform.settings import get_settings
    engine = engine_for(data_dir, database_url)
    principal = _principal(engine, as_user)
    with Progress(TextColumn("{task.description:<11}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        try:
            with bulk_interpreter():  # this process does nothing else meanwhile
                report = IMPORTERS[kind](engine, principal, Upload(filename=file.name, path=file),
                                         ImportOptions(dry_run=dry_run, progress=progress,
                                                       limits=get_settings().import_limits()))
        except DomainError as exc:
            bar.stop()
            console.print(f"[red]{exc.title}: {exc.message}[/]")
            raise typer.Exit(2)
    _print(report, as_json)
    if not report.valid:
        raise typer.Exit(2)


def _print(report, as_json: bool) -> None:
    data = report.as_dict()
    if as_json:
        out.print_json(json.dumps(data, default=str))
        return
    counts = ", ".join(f"{k}: {v}" for k, v in report.counts.items())
    for w in report.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    if report.encoding:
        console.print(f"read as {report.encoding} text")
    if not report.valid:
        table = Table(title=f"{len(report.errors)} bad row(s) in the {report.kind} file", show_lines=False)
        table.add_column("line", justify="right")
        table.add_column("field")
        table.add_column("problem")
        for e in data["errors"][:SHOWN]:
            table.add_row(str(e["line"]), e["field"], e["message"])
        out.print(table)
        if len(report.errors) > SHOWN:
            out.print(f"... and {len(report.errors) - SHOWN} more (use --json for the first {len(data['errors'])})")
        out.print(f"[red]nothing was written[/] ({report.rows} row(s) read; {counts})")
    elif report.dry_run:
        out.print(f"[green]valid[/]: {report.rows} row(s); {counts}. Dry run: nothing was written.")
    else:
        out.print(f"[green]imported[/]: {report.rows} row(s); {counts}")


@app.command()
def orders(file: FileArg, dry_run: DryRunOpt = False, as_user: AsOpt = None, data_dir: DataDir = None,
           database_url: DbUrl = None, as_json: JsonOpt = False):
    """Orders: one row per order line (seller, channel, external_id, customer_*, delivery_type, address, city,
    lat, lon, received_at, sku, quantity, unit_price). Existing orders are skipped."""
    run("orders", file, dry_run, as_user, data_dir, database_url, as_json)


@app.command()
def products(file: FileArg, dry_run: DryRunOpt = False, as_user: AsOpt = None, data_dir: DataDir = None,
             database_url: DbUrl = None, as_json: JsonOpt = False):
    """Products: seller, sku, name, category, price, barcodes (; or |), weight_g, length_mm, width_mm,
    height_mm, marking_required, replenishment_days. Created or updated by seller and SKU."""
    run("products", file, dry_run, as_user, data_dir, database_url, as_json)


@app.command()
def stock(file: FileArg, dry_run: DryRunOpt = False, as_user: AsOpt = None, data_dir: DataDir = None,
          database_url: DbUrl = None, as_json: JsonOpt = False):
    """Stock counts: seller, sku, warehouse, location, quantity (counted). The difference is booked as an
    adjustment with the reason "stock import"."""
    run("stock", file, dry_run, as_user, data_dir, database_url, as_json)
