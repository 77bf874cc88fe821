"""`qoima clv ...`: fit BG/NBD or Pareto/NBD (+ Gamma-Gamma) on a transaction CSV.

The CSV needs a header with ``customer_id`` and ``date`` (ISO ``YYYY-MM-DD``, a
time part after it is ignored) and optionally ``amount``; other columns are
ignored.  Bad input is reported with its CSV line and field, exit code 2.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
import polars as pl
import typer

from qoima.platform import export_safety
from qoima.analytics.domain.clv import PERIODS_PER_MONTH, GammaGammaParams, fit_gamma_gamma, fit_purchase_model, score_customers, summary_from_transactions

app = typer.Typer(
    help="Customer lifetime value: BG/NBD or Pareto/NBD with Gamma-Gamma spend.",
    no_args_is_help=True,
    add_completion=False,
)


class Model(str, Enum):
    bgnbd = "bgnbd"
    pareto = "pareto"


class Unit(str, Enum):
    days = "days"
    weeks = "weeks"


class InputError(Exception):
    """A problem with the user's CSV, already phrased for the user."""


REQUIRED = ("customer_id", "date")

FileArg = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV: customer_id,date[,amount]")
]
CalEnd = Annotated[
    Optional[str],
    typer.Option("--calibration-end", help="last day (YYYY-MM-DD) used for fitting; default: last date in file"),
]
ModelOpt = Annotated[Model, typer.Option("--model", help="purchase model")]
UnitOpt = Annotated[Unit, typer.Option("--unit", help="time unit of recency, T and horizon")]


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _first_ragged_line(path: Path) -> str:
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        width = len(next(reader, []))
        for row in reader:
            if row and len(row) != width:
                return f"line {reader.line_num}: expected {width} fields, found {len(row)}"
    return "unreadable CSV"


def _first_bad(mask: pl.Series) -> int | None:
    """CSV line number (header = line 1) of the first True in ``mask``."""
    idx = mask.arg_true()
    return None if idx.is_empty() else int(idx[0]) + 2


def read_transactions(path: Path) -> pl.DataFrame:
    """Read and validate the CSV into ``customer_id (str), date (Date)[, amount (f64)]``."""
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.NoDataError:
        raise InputError(f"{path}: file is empty") from None
    except pl.exceptions.PolarsError:
        raise InputError(f"{path}: {_first_ragged_line(path)}") from None
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise InputError(
            f"{path}: line 1: header must name customer_id,date[,amount]; missing {', '.join(missing)}"
        )
    if raw.height == 0:
        raise InputError(f"{path}: no transactions after the header")
    cid = raw["customer_id"].str.strip_chars()
    if (line := _first_bad(cid.is_null() | (cid == ""))) is not None:
        raise InputError(f"{path}: line {line}: field customer_id is empty")
    text = raw["date"].str.strip_chars()
    date = text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    rest = text.str.slice(10)
    bad = date.is_null() | ~((rest == "") | rest.str.starts_with("T") | rest.str.starts_with(" "))
    if (line := _first_bad(bad)) is not None:
        value = raw["date"][line - 2]
        what = "is empty" if value is None or not value.strip() else f"{value!r} is not an ISO date (YYYY-MM-DD)"
        raise InputError(f"{path}: line {line}: field date {what}")
    columns = {"customer_id": cid, "date": date}
    if "amount" in raw.columns:
        amount = raw["amount"].str.strip_chars().cast(pl.Float64, strict=False)
        bad = amount.is_null() | amount.is_nan() | amount.is_infinite()
        if (line := _first_bad(bad)) is not None:
            value = raw["amount"][line - 2]
            what = "is empty" if value is None or not value.strip() else f"{value!r} is not a number"
            raise InputError(f"{path}: line {line}: field amount {what}")
        columns["amount"] = amount
    return pl.DataFrame(columns)


def _summary(path: Path, calibration_end: str | None, unit: Unit) -> tuple[pl.DataFrame, bool, dt.date]:
    tx = read_transactions(path)
    if calibration_end is None:
        end = tx["date"].max()
    else:
        try:
            end = dt.date.fromisoformat(calibration_end)
        except ValueError:
            raise InputError(f"--calibration-end: {calibration_end!r} is not an ISO date (YYYY-MM-DD)") from None
    has_amount = "amount" in tx.columns
    summary = summary_from_transactions(
        tx, observation_end=end, unit=unit.value, amount_col="amount" if has_amount else None
    )
    if summary.height == 0:
        raise InputError(f"{path}: no customer has a purchase on or before {end}")
    return summary, has_amount, end


def _fit(summary: pl.DataFrame, model: Model, has_amount: bool):
    x, t_x, T = summary["frequency"].to_numpy(), summary["recency"].to_numpy(), summary["T"].to_numpy()
    purchases = fit_purchase_model(model.value, x, t_x, T)
    spend: GammaGammaParams | None = None
    if has_amount:
        m = summary["monetary_value"].to_numpy()
        if np.any((x > 0) & (m > 0)):
            spend = fit_gamma_gamma(x, m)
    return purchases, spend


def _fit_record(fitted: Any) -> dict[str, Any]:
    return {
        "params": fitted.as_dict(),
        "log_likelihood": fitted.log_likelihood,
        "n_customers": fitted.n_customers,
        "fit_seconds": round(fitted.fit_seconds, 6),
    }


def _run(action):
    try:
        return action()
    except InputError as exc:
        _fail(str(exc))
    except (ValueError, ArithmeticError) as exc:
        _fail(f"cannot fit the model on this data: {exc}")


@app.command()
def fit(file: FileArg, calibration_end: CalEnd = None, model: ModelOpt = Model.bgnbd, unit: UnitOpt = Unit.weeks):
    """Fit the purchase model (and Gamma-Gamma when amounts are given); print one JSON line."""

    def action():
        summary, has_amount, end = _summary(file, calibration_end, unit)
        purchases, spend = _fit(summary, model, has_amount)
        out = {"model": model.value, **_fit_record(purchases), "unit": unit.value, "calibration_end": end.isoformat()}
        if has_amount:
            out["gamma_gamma"] = _fit_record(spend) if spend else None
        typer.echo(json.dumps(out))

    _run(action)


@app.command()
def predict(
    file: FileArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="per-customer CSV to write")],
    horizon: Annotated[
        Optional[float], typer.Option("--horizon", min=0, help="prediction horizon in --unit; default 12 months")
    ] = None,
    discount_rate: Annotated[float, typer.Option("--discount-rate", min=0, help="monthly discount rate")] = 0.01,
    calibration_end: CalEnd = None,
    model: ModelOpt = Model.bgnbd,
    unit: UnitOpt = Unit.weeks,
):
    """Write P(alive), expected purchases, expected spend and CLV for every customer."""

    def action():
        summary, has_amount, end = _summary(file, calibration_end, unit)
        purchases, spend = _fit(summary, model, has_amount)
        per_month = PERIODS_PER_MONTH[unit.value]
        h = 12 * per_month if horizon is None else horizon
        x, t_x, T = summary["frequency"].to_numpy(), summary["recency"].to_numpy(), summary["T"].to_numpy()
        m = summary["monetary_value"].to_numpy()
        scores = score_customers(
            purchases, x, t_x, T, horizon=h, monetary=m, spend_model=spend,
            discount_rate=discount_rate, periods_per_month=per_month,
        )
        def column(name: str, values) -> pl.Series:  # blank when there are no amounts
            return pl.Series(name, [None] * summary.height if values is None else values, dtype=pl.Float64)

        table = summary.select("customer_id", "frequency", "recency", "T").with_columns(
            column("monetary", m if has_amount else None),
            column("p_alive", scores.p_alive),
            column("expected_purchases", scores.expected_purchases),
            column("expected_spend", scores.expected_spend),
            column("clv", scores.clv),
        )
        export_safety.write_csv(table, output, float_precision=6)  # customer ids come from the input file
        out = {
            "model": model.value, "output": str(output), "customers": table.height,
            "horizon": h, "unit": unit.value, "calibration_end": end.isoformat(),
            "total_clv": None if scores.clv is None else float(math.fsum(scores.clv)),
        }
        typer.echo(json.dumps(out))

    _run(action)
