"""Settings from the environment (pydantic-settings). Without QOIMA_DATABASE_URL
Qoima uses an SQLite file under the data directory (default ./.qoima)."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from qoima.db.engine import DEFAULT_LOCK_TIMEOUT_MS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QOIMA_", extra="ignore")

    database_url: str | None = None
    data_dir: Path = Path(".qoima")
    secret_key: str | None = None
    env: str = "local"  # local | production
    log_level: str = "INFO"
    log_json: bool = False
    outbox_max_attempts: int = 8
    outbox_lease_s: float = 10.0  # a worker holds a claimed event this long, renewed by heartbeats
    webhook_timeout_s: float = 5.0
    # webhook targets (platform/urlguard.py): https only, or http to these hosts (comma-separated);
    # private, loopback and link-local addresses are refused unless allowed (tests, demos, an intranet)
    webhook_http_hosts: str = ""
    webhook_allow_private: bool = False
    # the delivery pool (platform/outbox_pool.py, channels/endpoints.py): events handled side by side,
    # at most webhook_max_in_flight per endpoint; after webhook_breaker_failures consecutive failures an
    # endpoint's events wait webhook_breaker_open_s (doubling while it stays down), then one probe goes
    outbox_threads: int = 8
    webhook_max_in_flight: int = 2
    webhook_breaker_failures: int = 5
    webhook_breaker_open_s: float = 30.0
    # /metrics: when set, scrapes need `Authorization: Bearer <token>`; the gauges of orders and outbox
    # events are a snapshot the worker takes at most every metrics_snapshot_s seconds
    metrics_token: str | None = None
    metrics_snapshot_s: float = 15.0
    db_pool_size: int = 10  # PostgreSQL connections per process (and as many again in bursts)
    # PostgreSQL: how long a statement waits for a row lock before it fails with 55P03 (0 = forever);
    # the unit of work then re-runs the use case (db_retry_attempts in all, also for deadlocks and
    # serialization failures)
    db_lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS
    db_retry_attempts: int = 5
    # uploads of the import endpoints (entrypoints/uploads.py, platform/tabular.py): the largest file per kind
    # in MB (checked on Content-Length and while the body streams in, before anything is parsed);
    # import_max_mb, when set, caps all three; rows per file; how far an XLSX may expand (total MB of its
    # parts, compression ratio of a part)
    import_max_mb: int | None = None
    import_max_mb_orders: int = 32
    import_max_mb_products: int = 16
    import_max_mb_stock: int = 16
    import_max_rows: int = 500_000
    import_xlsx_max_uncompressed_mb: int = 200
    import_xlsx_max_ratio: int = 100
    # customer analytics snapshots (analytics/services/refresh.py): a seller's snapshot is recomputed at most
    # once per analytics_refresh_seconds, and only after its orders changed; the worker looks every
    # analytics_check_seconds
    analytics_refresh_seconds: float = 300.0
    analytics_check_seconds: float = 5.0
    # sign-in throttling (platform/login_throttle.py), per account and per client address: after
    # login_free_failures failures the next attempt waits login_delay_s, doubling with each failure;
    # from login_lockout_failures on, each failure locks for login_lockout_minutes; counts are
    # forgotten after login_forget_hours without an attempt (and, for the account, at a good sign-in)
    login_free_failures: int = 5
    login_lockout_failures: int = 10
    login_ip_free_failures: int = 20
    login_ip_lockout_failures: int = 100
    login_delay_s: float = 1.0
    login_lockout_minutes: float = 15.0
    login_forget_hours: float = 24.0
    token_ttl_days: int = 90  # API tokens expire this many days after they are made (0: never)

    def import_limit_mb(self, kind: str) -> int:
        """The largest upload (MB) of an import of this kind (orders, products, stock)."""
        own = getattr(self, f"import_max_mb_{kind}")
        return min(own, self.import_max_mb) if self.import_max_mb else own

    def import_limits(self):
        from qoima.platform.tabular import Limits
        return Limits(max_rows=self.import_max_rows, xlsx_max_uncompressed_mb=self.import_xlsx_max_uncompressed_mb,
                      xlsx_max_ratio=self.import_xlsx_max_ratio)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalize_url(self.database_url)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / 'qoima.db').resolve()}"

    def resolved_secret(self) -> str:
        if self.secret_key:
            return self.secret_key
        if self.env == "production":
            raise RuntimeError("QOIMA_SECRET_KEY must be set when QOIMA_ENV=production")
        path = self.data_dir / "secret.key"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            os.chmod(path, 0o600)
        return path.read_text().strip()


def normalize_url(url: str) -> str:
    """Accept postgres:// and postgresql:// and use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
