"""`qoima clv fit|predict` through typer's CliRunner."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qoima.entrypoints.cli.clv import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
runner = CliRunner()

TINY = """customer_id,date,amount
A,2024-01-01,10
A,2024-01-01,5
A,2024-01-08,20
A,2024-01-22T10:30:00,30
B,2024-01-15,7
C,2024-01-02,12
C,2024-01-29,18
D,2024-01-20,40
E,2024-01-03,9
E,2024-01-10,11
E,2024-01-17,13
F,2024-01-25,50
"""


@pytest.fixture()
def tiny_csv(tmp_path: Path) -> Path:
    path = tmp_path / "tx.csv"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def cdnow_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.csv"
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["customer_id", "date", "amount"])
        for line in (FIXTURES / "cdnow_sample.txt").read_text().splitlines():
            if line.strip():
                _, cid, day, _, amount = line.split()
                out.writerow([cid, dt.datetime.strptime(day, "%Y%m%d").date().isoformat(), amount])
    return path


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_fit_cdnow_reproduces_published_estimates(cdnow_csv):
    out = _json(runner.invoke(app, ["fit", str(cdnow_csv), "--calibration-end", "1997-09-30"]))
    assert out["model"] == "bgnbd" and out["unit"] == "weeks" and out["calibration_end"] == "1997-09-30"
    assert out["n_customers"] == 2357
    p = out["params"]
    assert (round(p["r"], 3), round(p["alpha"], 3), round(p["a"], 3), round(p["b"], 3)) == (0.243, 4.414, 0.793, 2.426)
    assert out["log_likelihood"] == pytest.approx(-9582.4, abs=0.05)
    assert out["fit_seconds"] >= 0
    gg = out["gamma_gamma"]
    assert gg["n_customers"] == 946
    assert gg["params"]["p"] == pytest.approx(6.25, abs=0.005)
    assert gg["params"]["q"] == pytest.approx(3.74, abs=0.005)
    assert gg["params"]["gamma"] == pytest.approx(15.44, abs=0.01)


def test_fit_pareto_cdnow(cdnow_csv):
    out = _json(runner.invoke(app, ["fit", str(cdnow_csv), "--calibration-end", "1997-09-30", "--model", "pareto"]))
    p = out["params"]
    assert out["model"] == "pareto"
    rounded = (round(p["r"], 3), round(p["alpha"], 2), round(p["s"], 3), round(p["beta"], 2))
    assert rounded == (0.553, 10.58, 0.606, 11.67)


def test_fit_tiny_file_defaults_to_last_date(tiny_csv):
    out = _json(runner.invoke(app, ["fit", str(tiny_csv), "--unit", "days"]))
    assert out["calibration_end"] == "2024-01-29"
    assert out["n_customers"] == 6
    assert set(out["params"]) == {"r", "alpha", "a", "b"}
    assert all(v > 0 for v in out["params"].values())
    assert out["gamma_gamma"]["n_customers"] == 3  # A, C and E repeat


def test_fit_without_amount_column_has_no_gamma_gamma(tmp_path):
    path = tmp_path / "no_amount.csv"
    path.write_text("customer_id,date\n1,2024-01-01\n1,2024-01-05\n2,2024-01-03\n")
    out = _json(runner.invoke(app, ["fit", str(path)]))
    assert out["n_customers"] == 2 and "gamma_gamma" not in out


def test_predict_writes_per_customer_csv(tiny_csv, tmp_path):
    target = tmp_path / "scores.csv"
    result = runner.invoke(
        app, ["predict", str(tiny_csv), "--output", str(target), "--unit", "days",
              "--calibration-end", "2024-01-29", "--horizon", "90", "--discount-rate", "0.01"],
    )
    summary = _json(result)
    assert summary["customers"] == 6 and summary["horizon"] == 90
    rows = {r["customer_id"]: r for r in csv.DictReader(target.open())}
    assert list(next(iter(rows.values()))) == [
        "customer_id", "frequency", "recency", "T", "monetary",
        "p_alive", "expected_purchases", "expected_spend", "clv",
    ]
    assert sorted(rows) == ["A", "B", "C", "D", "E", "F"]
    a = rows["A"]  # days 01-01 (15), 01-08 (20), 01-22 (30); observed until 01-29
    assert (int(a["frequency"]), float(a["recency"]), float(a["T"]), float(a["monetary"])) == (2, 21.0, 28.0, 25.0)
    b = rows["B"]
    assert float(b["p_alive"]) == 1.0 and float(b["monetary"]) == 0.0
    for r in rows.values():
        assert 0 < float(r["p_alive"]) <= 1
        assert float(r["expected_purchases"]) > 0 and float(r["expected_spend"]) > 0
        assert float(r["clv"]) > 0
    # CLV over 90 days = 3 months of discounted spend x purchases: below undiscounted value
    assert float(a["clv"]) < float(a["expected_spend"]) * float(a["expected_purchases"])
    assert summary["total_clv"] == pytest.approx(sum(float(r["clv"]) for r in rows.values()), rel=1e-5)


def test_predict_cdnow_matches_lifetimes_clv(cdnow_csv, tmp_path):
    target = tmp_path / "cdnow_scores.csv"
    _json(runner.invoke(app, ["predict", str(cdnow_csv), "-o", str(target), "--calibration-end", "1997-09-30"]))
    first = next(csv.DictReader(target.open()))
    assert first["customer_id"] == "0001"
    # lifetimes: CLV 36.28 for customer 1 over 12 months at 1%/month (published summary rounding)
    assert float(first["clv"]) == pytest.approx(36.28, abs=0.02)
    assert float(first["p_alive"]) == pytest.approx(0.7266, abs=5e-4)


@pytest.mark.parametrize(
    "content, message",
    [
        ("customer_id,date,amount\n1,2024-01-01,3\n2,2024-13-01,4\n", "line 3: field date '2024-13-01'"),
        ("customer_id,date,amount\n1,2024-01-01,3\n2,2024-01-02,x\n", "line 3: field amount 'x' is not a number"),
        ("customer_id,date,amount\n1,2024-01-01,3\n,2024-01-02,4\n", "line 3: field customer_id is empty"),
        ("customer_id,date,amount\n1,2024-01-01,3\n2,,4\n", "line 3: field date is empty"),
        ("customer_id,date,amount\n1,2024-01-01,3\n2,2024-01-02,4,5\n", "line 3: expected 3 fields, found 4"),
        ("1,2024-01-01,3\n2,2024-01-02,4\n", "line 1: header must name customer_id,date"),
    ],
)
def test_bad_input_names_line_and_field(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    result = runner.invoke(app, ["fit", str(path)])
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_bad_calibration_end_and_model(tiny_csv):
    result = runner.invoke(app, ["fit", str(tiny_csv), "--calibration-end", "2024-02-30"])
    assert result.exit_code == 2 and "--calibration-end" in result.stderr
    result = runner.invoke(app, ["fit", str(tiny_csv), "--model", "nbd"])
    assert result.exit_code == 2


def test_predict_without_amounts_leaves_spend_columns_blank(tmp_path):
    path, target = tmp_path / "no_amount.csv", tmp_path / "out.csv"
    path.write_text("customer_id,date\n1,2024-01-01\n1,2024-01-05\n2,2024-01-03\n3,2024-01-04\n3,2024-01-20\n")
    summary = _json(runner.invoke(app, ["predict", str(path), "-o", str(target), "--unit", "days", "--horizon", "30"]))
    assert summary["total_clv"] is None
    rows = list(csv.DictReader(target.open()))
    assert [r["customer_id"] for r in rows] == ["1", "2", "3"]
    assert [r["frequency"] for r in rows] == ["1", "0", "1"]
    assert all(r["monetary"] == r["expected_spend"] == r["clv"] == "" for r in rows)
    assert all(float(r["expected_purchases"]) >= 0 for r in rows)
