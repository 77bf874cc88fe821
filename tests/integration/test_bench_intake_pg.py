"""The README's intake benchmark runs end to end (not a timing test: the figures
are the benchmark's business; here it must serve orders without errors and
account for where the CPU went)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres

PG_URL = os.environ.get("QOIMA_TEST_DATABASE_URL")
if not PG_URL:
    pytest.skip("the intake benchmark needs PostgreSQL: set QOIMA_TEST_DATABASE_URL", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench import intake  # noqa: E402


def test_bench_intake_serves_orders_through_the_express_path():
    schema = f"qoima_bench_smoke_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    try:
        result = intake.run(PG_URL, clients=4, seconds=2, workers=1, warmup=1, schema=schema, with_pgbench=False)
    finally:
        from sqlalchemy import create_engine, text

        from qoima.platform.settings import normalize_url
        eng = create_engine(normalize_url(PG_URL), isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        eng.dispose()
    assert result["errors"] == 0, result
    assert result["orders_per_s"] > 0 and result["p50_ms"] <= result["p99_ms"]
    cpu = result["cpu_per_order"]
    assert cpu is not None and cpu["api_ms"] > 0 and cpu["postgres_backends_ms"] > 0, cpu
    assert isinstance(result["long_transactions"], list)
