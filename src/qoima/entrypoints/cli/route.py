"""`qoima route`: the walk through a pick list in a parallel-aisle warehouse.

    qoima route --layout LAYOUT.json --picks PICKS.json [--method exact|s-shape|largest-gap|best]

LAYOUT.json: {"aisles": N, "aisle_length": L, "aisle_spacing": W, "depot_aisle": K,
"cross_aisles": [positions]} (cross_aisles optional); PICKS.json: [{"id", "aisle", "position"}, ...].
Prints one JSON line {"method", "length", "sequence"}. A bad file is an error naming the file and
the field, exit code 2, no traceback.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from qoima.floor.domain.routing import layout_from_json, picks_from_json, route
from qoima.platform.errors import DomainError

app = typer.Typer(help="Pick routing: the shortest walk through a pick list.", add_completion=False)

MAX_FILE_BYTES = 20 * 1024 * 1024


class Method(str, Enum):
    exact = "exact"
    s_shape = "s-shape"
    largest_gap = "largest-gap"
    best = "best"


def _fail(message: str):
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _load(path: Path, what: str):
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            _fail(f"{what} file {path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        _fail(f"{what} file {path}: not found")
    except (OSError, UnicodeDecodeError) as e:
        _fail(f"{what} file {path}: cannot be read ({e.__class__.__name__})")
    except (json.JSONDecodeError, RecursionError) as e:
        msg = f"line {e.lineno}, column {e.colno}: {e.msg}" if isinstance(e, json.JSONDecodeError) else "nested too deep"
        _fail(f"{what} file {path}: not valid JSON ({msg})")


@app.callback(invoke_without_command=True)
def main(
    layout: Annotated[Path, typer.Option("--layout", help="layout JSON file", dir_okay=False)],
    picks: Annotated[Path, typer.Option("--picks", help="picks JSON file", dir_okay=False)],
    method: Annotated[Method, typer.Option("--method", help="routing method")] = Method.best,
) -> None:
    """Print the route as one JSON line: {"method", "length", "sequence"}."""
    layout_data = _load(layout, "layout")
    picks_data = _load(picks, "picks")
    try:
        lay = layout_from_json(layout_data)
    except DomainError as e:
        _fail(f"layout file {layout}: {e.field}: {e.message}")
    try:
        pick_list = picks_from_json(picks_data)
        r = route(lay, pick_list, method.value)
    except DomainError as e:
        _fail(f"picks file {picks}: {e.field}: {e.message}")
    typer.echo(json.dumps({"method": r.method, "length": round(r.length, 6), "sequence": list(r.sequence)},
                          ensure_ascii=False))
