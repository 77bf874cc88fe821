"""Login throttling per account and per client address, shared by every process through the database.

Each sign-in attempt is counted *before* the password is checked, in one short transaction, with a
conditional upsert on the `login_throttle` row of the account ("account:<e-mail>") and of the client
address ("ip:<address>"): the row is only counted when it is not locked, so concurrent attempts in
other processes wait for the row (PostgreSQL row lock, SQLite write lock) and then see the lock the
first one set. A successful sign-in forgets the account's failures and takes back its own count from
the address. After `free` failures each further failure makes the next attempt wait a growing delay
(delay_s, 2 x delay_s, 4 x ...); from `lockout` failures on, each failure locks for `lockout_s`.
Counts are forgotten after `forget_s` without attempts.

Written by hand: the well-kept rate limiters (`limits`, used by slowapi) keep their counters in memory,
Redis, Memcached or MongoDB, none of which Qoima runs; a fixed-window counter also cannot express the
growing delay and lockout asked for here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from qoima.db import tables as t
from qoima.platform.errors import DomainError, ValidationError
from qoima.platform.unit_of_work import UnitOfWork, utcnow


class LoginThrottled(DomainError):
    """429: too many failed sign-ins; `retry_after` says in how many seconds to try again."""

    status = 429
    title = "Too many sign-in attempts"

    def __init__(self, retry_after: int):
        super().__init__("too many failed sign-in attempts: try again in %(retry_after)s s", field="password",
                         code="auth.throttled", retry_after=retry_after)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


@dataclass(frozen=True)
class Policy:
    free: int = 5            # failures without any wait
    lockout: int = 10        # from this many failures on, each failure locks for lockout_s
    delay_s: float = 1.0     # the first wait after `free` failures; it doubles with each further failure
    lockout_s: float = 900.0
    forget_s: float = 86400.0  # failures are forgotten after this long without an attempt

    def wait_after(self, failures: int) -> float:
        """Seconds the next attempt must wait after `failures` failed ones (a pure rule)."""
        if failures >= self.lockout:
            return self.lockout_s
        if failures >= self.free:
            return min(self.delay_s * 2 ** (failures - self.free), self.lockout_s)
        return 0.0


@dataclass(frozen=True)
class Throttle:
    account: Policy = Policy()
    address: Policy = Policy(free=20, lockout=100)

    @classmethod
    def from_settings(cls, s) -> Throttle:
        common = dict(delay_s=s.login_delay_s, lockout_s=s.login_lockout_minutes * 60,
                      forget_s=s.login_forget_hours * 3600)
        return cls(Policy(free=s.login_free_failures, lockout=s.login_lockout_failures, **common),
                   Policy(free=s.login_ip_free_failures, lockout=s.login_ip_lockout_failures, **common))


def _keys(email: str, address: str | None) -> list[str]:
    keys = ["account:" + (email or "").strip().lower()[:280]]
    if address:
        keys.append("ip:" + address[:280])
    return keys


def _count(uow: UnitOfWork, key: str, policy: Policy, now: datetime) -> bool:
    """Count one attempt on `key` unless it is locked; False when it is locked."""
    tbl = t.login_throttle
    ins = (pg_insert if uow.is_postgres else sqlite_insert)(tbl).values(
        key=key, failures=1, last_attempt_at=now, locked_until=_until(now, policy.wait_after(1)))
    forgotten = tbl.c.last_attempt_at < now - timedelta(seconds=policy.forget_s)
    stmt = ins.on_conflict_do_update(
        index_elements=[tbl.c.key],
        set_={"failures": case((forgotten, 1), else_=tbl.c.failures + 1), "last_attempt_at": now},
        where=or_(tbl.c.locked_until.is_(None), tbl.c.locked_until <= now),
    ).returning(tbl.c.failures)
    row = uow.execute(stmt).first()
    if row is None:
        return False
    wait = policy.wait_after(row.failures)
    if wait:
        uow.execute(update(tbl).where(tbl.c.key == key).values(locked_until=_until(now, wait)))
    return True


def _until(now: datetime, wait: float) -> datetime | None:
    return now + timedelta(seconds=wait) if wait else None


def retry_after(uow: UnitOfWork, keys: list[str], now: datetime) -> int:
    until = uow.execute(select(t.login_throttle.c.locked_until).where(t.login_throttle.c.key.in_(keys))).scalars()
    latest = max((u for u in until if u is not None), default=now)
    return max(1, math.ceil((latest - now).total_seconds()))


def begin_attempt(engine, throttle: Throttle, email: str, address: str | None) -> list[str]:
    """Count a sign-in attempt (committed at once) or raise LoginThrottled. Returns the keys counted."""
    keys, now = _keys(email, address), utcnow()
    with UnitOfWork(engine) as uow:
        policies = [throttle.account, throttle.address]
        if all(_count(uow, key, policy, now) for key, policy in zip(keys, policies)):
            uow.execute(delete(t.login_throttle).where(
                t.login_throttle.c.last_attempt_at < now - timedelta(seconds=throttle.account.forget_s)))
            uow.commit()
            return keys
    with UnitOfWork(engine) as uow:  # nothing was counted: the attempt is refused unchecked
        raise LoginThrottled(retry_after(uow, keys, now))


def succeeded(engine, keys: list[str]) -> None:
    """The password was right: forget the account's failures; take this attempt back from the address."""
    tbl = t.login_throttle
    with UnitOfWork(engine) as uow:
        uow.execute(delete(tbl).where(tbl.c.key == keys[0]))
        if len(keys) > 1:
            uow.execute(update(tbl).where(tbl.c.key == keys[1]).values(
                failures=case((tbl.c.failures > 0, tbl.c.failures - 1), else_=0), locked_until=None))
        uow.commit()


def authenticate(engine, throttle: Throttle, email: str, password: str, address: str | None):
    """The Principal of a right e-mail and password, None when wrong; LoginThrottled when locked."""
    from qoima.platform import auth
    for field, value in (("email", email), ("password", password)):
        if "\x00" in (value or ""):  # PostgreSQL text cannot hold it: a clear 422, not a 500
            raise ValidationError("%(name)s must not contain NUL characters", field=field, code="input.nul",
                                  name=field)
    keys = begin_attempt(engine, throttle, email, address)
    with UnitOfWork(engine) as uow:
        principal = auth.authenticate(uow, email, password)
    if principal is not None:
        succeeded(engine, keys)
    return principal
