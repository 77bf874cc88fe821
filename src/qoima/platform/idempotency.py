"""Idempotency keys: a retried request (a scanner that lost the answer, a form
sent twice) is done once.

The caller names the operation, its key (the `Idempotency-Key` header of the
API, the operation id of a web form) and the request body. `run_once` opens one
unit of work, claims the key, runs the use case in that same transaction and
stores the response beside it, so the stock change and the stored answer commit
together or not at all:

- the first request with a key runs the use case; its response is stored;
- a retry with the same key and the same body gets the stored response and
  status code back without running the use case (`Outcome.replayed`);
- the same key with another body is refused (422, `KeyReused`);
- of two concurrent requests with one key, the unique key (scope, key) is the
  arbiter: the second one's insert waits for the first transaction, then finds
  the stored row and replays it; should the wait run into the database's
  `lock_timeout`, it is answered 409 (`KeyInProgress`) and may be retried.

A failed use case stores nothing (its transaction is rolled back), so a retry
after an error runs again. Keys live `TTL` (24 h); `purge_expired` deletes older
ones and is a plain function for the worker to call now and then. The scope is
the operation plus the caller's seller and user: a key of one caller never
returns another caller's response.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import Engine, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError

from qoima.db import tables as t
from qoima.platform.access import Principal
from qoima.platform.bounds import rfc3339
from qoima.platform.errors import Conflict, ValidationError
from qoima.platform.unit_of_work import UnitOfWork, run, utcnow

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
TTL = timedelta(hours=24)
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: lock_timeout ran out while waiting for the other request


class KeyReused(ValidationError):
    title = "Idempotency-Key reused"


class KeyInProgress(Conflict):
    title = "Request in progress"


@dataclass(frozen=True)
class Operation:
    """One idempotent request: `kind` names the use case (e.g. "stock.receipt"); `body`
    is everything that makes two requests the same (JSON-able); `key` may be None
    (then the use case simply runs once, as without idempotency)."""
    kind: str
    principal: Principal
    key: str | None
    body: Any
    field: str = HEADER  # how the caller sent the key, named in errors
    status_code: int = 201


@dataclass(frozen=True)
class Outcome:
    status_code: int
    response: Any
    replayed: bool = False


def scope_of(kind: str, principal: Principal) -> str:
    """The operation and who asks: the seller (if any) and the user (by id, else e-mail)."""
    user = principal.user_id if principal.user_id is not None else principal.email
    return f"{kind}|seller:{principal.seller_id or '-'}|user:{user}"[:200]


def request_hash(kind: str, body: Any) -> str:
    canonical = json.dumps({"kind": kind, "body": body}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str | None, field: str = HEADER) -> str | None:
    """None for no key; a key is 1 to 200 visible ASCII characters (spaces around are dropped)."""
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in key):
        raise ValidationError("%(name)s must be 1 to %(max)s visible ASCII characters", field=field,
                              code="idempotency.bad_key", max=MAX_KEY_LENGTH, name=field)
    return key


def _jsonable(value: Any) -> Any:
    """The response as it will be stored, so the first answer and every replay are equal."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> str:
    """Times as the API gives them (RFC 3339 with the offset), anything else as its text."""
    return rfc3339(value) if isinstance(value, datetime) else str(value)


def run_once(engine: Engine, op: Operation, use_case: Callable[[UnitOfWork], Any]) -> Outcome:
    """Run `use_case(uow)` once per (caller, operation, key) and commit; replay the stored outcome after.
    The whole of it (key claim and use case) is re-run on a deadlock or serialization failure
    (`unit_of_work.run`); a key still held by a concurrent request past lock_timeout is 409."""
    key = check_key(op.key, op.field)

    def attempt(uow: UnitOfWork) -> Outcome:
        if key is None:
            return Outcome(op.status_code, _jsonable(use_case(uow)))
        try:
            stored = _claim(uow, op, key)
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                raise _in_progress(op) from None
            raise
        if isinstance(stored, Outcome):
            return stored
        response = _jsonable(use_case(uow))
        uow.execute(_STORE, {"kid": stored, "status_code": op.status_code, "response": response})
        return Outcome(op.status_code, response)

    return run(engine, attempt)


def _claim_statement(ins):
    return (ins(t.idempotency_keys).on_conflict_do_nothing(index_elements=["scope", "key"])
            .returning(t.idempotency_keys.c.id))


# built once (every retried-safe request runs them): the key claim per dialect, the stored answer
_CLAIM_PG, _CLAIM_SQLITE = _claim_statement(pg_insert), _claim_statement(sqlite_insert)
_STORE = (update(t.idempotency_keys).where(t.idempotency_keys.c.id == bindparam("kid"))
          .values(status_code=bindparam("status_code"),
                  response=bindparam("response", type_=t.idempotency_keys.c.response.type)))


def _claim(uow: UnitOfWork, op: Operation, key: str) -> int | Outcome:
    """Insert the key row (its id: the key is ours now) or return the stored outcome of an earlier request.
    The insert comes first (one statement for a new key, the common case); a key older than the TTL is
    taken over as a new one."""
    scope, digest, now = scope_of(op.kind, op.principal), request_hash(op.kind, op.body), utcnow()
    claim = _CLAIM_PG if uow.is_postgres else _CLAIM_SQLITE
    row = {"scope": scope, "key": key, "request_hash": digest, "actor": op.principal.email[:254], "created_at": now}
    claimed = uow.execute(claim, row).first()
    if claimed is not None:
        return claimed.id
    existing = _stored(uow, scope, key)  # a request before us (or a concurrent one, committed while we waited)
    if existing is not None and existing.created_at < now - TTL:
        uow.execute(delete(t.idempotency_keys).where(t.idempotency_keys.c.id == existing.id))
        claimed = uow.execute(claim, row).first()
        if claimed is not None:
            return claimed.id
        existing = _stored(uow, scope, key)
    if existing is None:
        raise _in_progress(op)
    if existing.request_hash != digest:
        raise KeyReused("%(name)s '%(key)s' was already used for a different request; "
                        "send a new key for a new request", field=op.field, code="idempotency.key_reused",
                        key=key, name=op.field)
    if existing.status_code is None:
        raise _in_progress(op)
    return Outcome(existing.status_code, existing.response, replayed=True)


def _stored(uow: UnitOfWork, scope: str, key: str):
    return uow.execute(select(t.idempotency_keys).where(t.idempotency_keys.c.scope == scope,
                                                        t.idempotency_keys.c.key == key)).first()


def _in_progress(op: Operation) -> KeyInProgress:
    return KeyInProgress("a request with this %(name)s is in progress; retry in a moment", field=op.field,
                         code="idempotency.in_progress", name=op.field)


def purge_expired(engine: Engine, now: datetime | None = None, ttl: timedelta = TTL, batch: int = 10_000) -> int:
    """Delete keys older than `ttl`, `batch` rows per transaction; returns how many went.
    The worker may call it every few minutes (one indexed range delete)."""
    cutoff = (now or utcnow()) - ttl
    total = 0
    while True:
        with UnitOfWork(engine) as uow:
            old = select(t.idempotency_keys.c.id).where(t.idempotency_keys.c.created_at < cutoff).limit(batch)
            gone = uow.execute(delete(t.idempotency_keys)
                               .where(t.idempotency_keys.c.id.in_(old.scalar_subquery()))).rowcount
            uow.commit()
        total += gone
        if gone < batch:
            return total
