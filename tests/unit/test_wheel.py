"""The wheel carries every data file the application reads at run time: the sample CSVs, the message
catalogs, the templates and static files, the SQL of the PostgreSQL functions and the migrations."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "qoima"
DATA = ["data/samples/*.csv", "locale/*/LC_MESSAGES/*.po", "entrypoints/web/templates/*.html",
        "entrypoints/web/static/*", "db/sql/*.sql", "db/migrations/*.py", "db/migrations/*.mako",
        "db/migrations/versions/*.py"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> set[str]:
    out, tree = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("tree")
    # a copy of the project, so that the build leaves nothing in the work tree (build/, *.egg-info)
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(out), str(tree)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    (found,) = out.glob("qoima-*.whl")
    with zipfile.ZipFile(found) as z:
        return set(z.namelist())


@pytest.mark.parametrize("pattern", DATA)
def test_the_wheel_has_every_data_file(wheel, pattern):
    files = [p for p in SRC.glob(pattern) if p.is_file()]
    assert files, f"nothing matches {pattern} in the source tree"
    missing = [str(p.relative_to(SRC)) for p in files if f"qoima/{p.relative_to(SRC).as_posix()}" not in wheel]
    assert not missing, f"not in the wheel: {missing}"
