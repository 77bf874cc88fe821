"""Schemathesis (`--checks all`) against a started `qoima demo` ends with no failures: no server
error, every status code and content type documented, schema-valid requests accepted and
schema-invalid ones refused (two checks narrowed in schemathesis_hooks.py, which says why).

The demo runs on SQLite in a temp data dir on a free port; the run is deterministic
(`--generation-deterministic`, one worker) and bounded (QOIMA_SCHEMATHESIS_EXAMPLES examples
per operation, default 25: about two minutes on 2 cores). Run it by hand against any server:

    SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH=tests/api schemathesis run \\
        http://127.0.0.1:8000/openapi.json --checks all \\
        --exclude-checks positive_data_acceptance,negative_data_rejection \\
        -H "Authorization: Bearer $(qoima token create --email admin@qoima.local)" -n 25 \\
        --generation-deterministic --workers 1
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
EXAMPLES = os.environ.get("QOIMA_SCHEMATHESIS_EXAMPLES", "25")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def demo(tmp_path):
    """`qoima demo` on a free port: (base url, admin token)."""
    env = {**os.environ, "QOIMA_DATA_DIR": str(tmp_path / "data"), "QOIMA_LOG_LEVEL": "WARNING"}
    env.pop("QOIMA_DATABASE_URL", None)
    port = _free_port()
    log = open(tmp_path / "demo.log", "wb")
    proc = subprocess.Popen([str(BIN / "qoima"), "demo", "--port", str(port), "--orders", "60"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "qoima demo did not start"
            time.sleep(0.3)
        token = subprocess.run([str(BIN / "qoima"), "token", "create", "--email", "admin@qoima.local"], env=env,
                               check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_schemathesis_finds_nothing(demo, tmp_path):
    base, token = demo
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    cmd = [str(BIN / "schemathesis"), "run", f"{base}/openapi.json", "--checks", "all",
           "--exclude-checks", "positive_data_acceptance,negative_data_rejection",
           "-H", f"Authorization: Bearer {token}", "--max-examples", EXAMPLES, "--generation-deterministic",
           "--workers", "1", "--no-color", "--request-timeout", "30",
           "--report", "junit", "--report-dir", str(tmp_path / "report")]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    out = run.stdout + run.stderr
    tested = re.search(r"Tested: (\d+)", out)
    assert tested and int(tested.group(1)) >= 30, out[-3000:]  # every operation of the API, not a few
    assert run.returncode == 0, out[-20000:]
    assert "No issues found" in out or " passed" in out, out[-3000:]
    print(out[-1500:])
