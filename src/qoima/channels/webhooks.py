"""Seller webhooks: every order event is POSTed to the seller's webhook URL, signed.

Each request carries
- `Qoima-Signature: t=<unix seconds>,v1=<hex>`: HMAC-SHA256 with the seller's
  secret over `<t>.<raw body>` (Stripe's scheme); the receiver recomputes it and
  refuses a timestamp older than five minutes (`verify_signature`, also in the README);
- `Qoima-Event-Id` and `Idempotency-Key`: the event's id, the same on every retry and
  takeover, so a retried delivery is recognised by the receiver.
The outbox hands an order's events over in the order they were written, so they
arrive in that order too.

The target is checked before every delivery (platform/urlguard.py: https, or http to
an allow-listed host; no private, loopback or link-local address, resolved now) and
the request goes to the checked address; redirects are not followed. Only a short
status line of a refusal is kept (`last_error`), never the response body.
Deliveries run side by side (platform/outbox_pool.py) with a per-endpoint limit,
back-off and circuit breaker (channels/endpoints.py)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import time

import httpx
from sqlalchemy import Engine, select

from qoima.channels.endpoints import BREAKERS
from qoima.db import tables as t
from qoima.platform import secret_box, urlguard
from qoima.platform.outbox import TransientError, handles
from qoima.platform.settings import get_settings
from qoima.platform.unit_of_work import UnitOfWork

SIGNATURE_HEADER = "Qoima-Signature"
TOLERANCE_S = 300


class Refused(Exception):
    """The event cannot be delivered as things are (not retried; replay it once fixed)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The Qoima-Signature header value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, tolerance_s: int = TOLERANCE_S,
                     now: float | None = None) -> bool:
    """True if `header` (Qoima-Signature) signs `body` with `secret` and is at most `tolerance_s` old.
    The receiver's check; the README has the same function for sellers to copy."""
    try:
        fields = [item.split("=", 1) for item in header.split(",")]
        timestamp = int(next(v for k, v in fields if k.strip() == "t"))
        signatures = [v.strip() for k, v in fields if k.strip() == "v1"]
    except (ValueError, StopIteration):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in signatures)


@functools.cache
def _http() -> httpx.Client:
    """One pooled client for every delivery (a new client per call costs ~50 ms of TLS setup)."""
    return httpx.Client(follow_redirects=False, limits=httpx.Limits(max_connections=100))


def _seller(engine: Engine, seller_id: int):
    with UnitOfWork(engine) as uow:
        return uow.execute(select(t.sellers.c.code, t.sellers.c.webhook_url, t.sellers.c.webhook_secret)
                           .where(t.sellers.c.id == seller_id)).first()


def _secret(seller) -> str:
    if not seller.webhook_secret:
        raise Refused(f"seller {seller.code} has no webhook secret: rotate it, then replay")
    try:
        return secret_box.unseal(seller.webhook_secret)
    except secret_box.SecretUnreadable as exc:
        raise Refused(f"the webhook secret of seller {seller.code} is unreadable ({exc}): rotate it, "
                      f"then replay") from None


def _target(url: str) -> urlguard.Target:
    try:
        return urlguard.check(url)
    except urlguard.Unresolvable as exc:
        raise TransientError(exc.message) from None
    except urlguard.UnsafeUrl as exc:
        raise Refused(f"not delivered: {exc.message}") from None


def _deliver(engine: Engine, event: dict) -> None:
    if event["seller_id"] is None:
        return
    seller = _seller(engine, event["seller_id"])
    if seller is None or not seller.webhook_url:
        return
    target = _target(seller.webhook_url)
    secret = _secret(seller)
    body = json.dumps({"id": event["id"], "type": event["topic"], "data": event["payload"]},
                      separators=(",", ":"), default=str).encode()
    origin = BREAKERS.origin(target.url)
    BREAKERS.enter(origin)  # raises Deferred while the endpoint's circuit is open or it is busy
    ok = False
    try:
        headers = {"Content-Type": "application/json", "User-Agent": "qoima-webhooks", "Host": target.host_header,
                   "Idempotency-Key": event["idempotency_key"], "Qoima-Event-Id": event["idempotency_key"],
                   SIGNATURE_HEADER: sign(secret, int(time.time()), body)}
        extensions = {"sni_hostname": target.host} if target.url.lower().startswith("https") else {}
        try:
            resp = _http().post(target.pinned_url(), content=body, headers=headers, extensions=extensions,
                                timeout=get_settings().webhook_timeout_s)
        except httpx.TransportError as exc:
            raise TransientError(f"webhook {origin} unreachable: {type(exc).__name__}") from None
        ok = resp.status_code < 500 and resp.status_code != 429
        status = f"{resp.status_code} {resp.reason_phrase}"[:80]  # the body is never kept
        if not ok:
            raise TransientError(f"webhook {origin} answered {status}")
        if resp.status_code >= 300:
            raise Refused(f"webhook {origin} refused the event: {status}")
    finally:
        BREAKERS.leave(origin, ok)


handles("order.status_changed")(_deliver)
handles("order.created")(_deliver)
handles("stock.low")(_deliver)  # a low-stock alert crossed (orders/services/low_stock.py): the seller is told
