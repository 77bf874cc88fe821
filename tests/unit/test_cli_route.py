"""`qoima route` through the registered Typer app."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qoima.entrypoints.cli import app

runner = CliRunner()
README = Path(__file__).resolve().parents[2] / "README.md"


def _write(tmp_path: Path, name: str, data) -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return p


def _run(*args):
    return runner.invoke(app, ["route", *map(str, args)])


LAYOUT = {"aisles": 5, "aisle_length": 10, "aisle_spacing": 2, "depot_aisle": 2}
PICKS = [{"id": "A", "aisle": 0, "position": 3}, {"id": "B", "aisle": 4, "position": 7},
         {"id": "C", "aisle": 2, "position": 5}, {"id": "D", "aisle": 1, "position": 9}]


@pytest.mark.parametrize("method,length", [("best", 44.0), ("exact", 44.0), ("s-shape", 56.0), ("largest-gap", 48.0)])
def test_prints_one_json_line(tmp_path, method, length):
    res = _run("--layout", _write(tmp_path, "l.json", LAYOUT), "--picks", _write(tmp_path, "p.json", PICKS),
               "--method", method)
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["length"] == length
    assert sorted(out["sequence"]) == ["A", "B", "C", "D"]
    assert out["method"] == ("exact" if method == "best" else method)


def test_multi_block_exact_says_which_heuristic(tmp_path):
    layout = dict(LAYOUT, cross_aisles=[5])
    res = _run("--layout", _write(tmp_path, "l.json", layout), "--picks", _write(tmp_path, "p.json", PICKS),
               "--method", "exact")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["method"] in ("s-shape", "largest-gap", "aisle-dp")


@pytest.mark.parametrize("layout,picks,needle", [
    ("{", PICKS, "layout file .*not valid JSON"),
    (dict(LAYOUT, depot_aisle=9), PICKS, "layout file .*depot_aisle"),
    (dict(LAYOUT, aisles="5"), PICKS, "layout file .*aisles"),
    (dict(LAYOUT, cross_aisles=[0]), PICKS, r"cross_aisles\[0\]"),
    (LAYOUT, [{"id": "A", "aisle": 7, "position": 1}], r"picks file .*picks\[0\]\.aisle"),
    (LAYOUT, [{"id": "A", "aisle": 1, "position": 11}], r"picks\[0\]\.position"),
    (LAYOUT, [{"id": "A", "aisle": 1}], r"picks\[0\]\.position"),
    (LAYOUT, {"id": "A"}, "picks file .*picks"),
    (LAYOUT, "\xff\xfe", "picks file"),
])
def test_bad_files_exit_2_naming_the_field(tmp_path, layout, picks, needle):
    res = _run("--layout", _write(tmp_path, "l.json", layout), "--picks", _write(tmp_path, "p.json", picks))
    assert res.exit_code == 2
    assert re.search(needle, res.output), res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_missing_file_and_bad_method(tmp_path):
    res = _run("--layout", tmp_path / "none.json", "--picks", _write(tmp_path, "p.json", PICKS))
    assert res.exit_code == 2 and "not found" in res.output
    res = _run("--layout", _write(tmp_path, "l.json", LAYOUT), "--picks", _write(tmp_path, "p.json", PICKS),
               "--method", "fast")
    assert res.exit_code == 2


def test_readme_example_is_what_the_command_prints(tmp_path):
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Pick routing (`qoima route`)"):]
    blocks = re.findall(r"```json\n(.*?)```", section, re.S)
    layout, picks, output = blocks[0], blocks[1], blocks[2]
    res = _run("--layout", _write(tmp_path, "l.json", layout), "--picks", _write(tmp_path, "p.json", picks))
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == json.loads(output)
