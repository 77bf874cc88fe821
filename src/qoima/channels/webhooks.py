"""Seller webhooks: every order event is POSTed to the seller's webhook URL with
an Idempotency-Key (the event's, the same on every retry and takeover), so a
retried delivery is recognised by the receiver. The outbox hands an order's
events over in the order they were written, so they arrive in that order too."""

from __future__ import annotations

import functools

import httpx
from sqlalchemy import Engine, select

from qoima.db import tables as t
from qoima.platform.settings import get_settings
from qoima.platform.outbox import TransientError, handles
from qoima.platform.unit_of_work import UnitOfWork


@functools.cache
def _http() -> httpx.Client:
    """One pooled client for every delivery (a new client per call costs ~50 ms of TLS setup)."""
    return httpx.Client()


def _deliver(engine: Engine, event: dict) -> None:
    if event["seller_id"] is None:
        return
    with UnitOfWork(engine) as uow:
        url = uow.execute(select(t.sellers.c.webhook_url).where(t.sellers.c.id == event["seller_id"])).scalar()
    if not url:
        return
    body = {"id": event["id"], "type": event["topic"], "data": event["payload"]}
    try:
        resp = _http().post(url, json=body, timeout=get_settings().webhook_timeout_s,
                          headers={"Idempotency-Key": event["idempotency_key"], "User-Agent": "qoima-webhooks"})
    except httpx.TransportError as exc:
        raise TransientError(f"webhook {url} unreachable: {exc}") from exc
    if resp.status_code >= 500 or resp.status_code == 429:
        raise TransientError(f"webhook {url} answered {resp.status_code}")
    if resp.status_code >= 400:
        raise RuntimeError(f"webhook {url} refused the event: {resp.status_code} {resp.text[:200]}")


handles("order.status_changed")(_deliver)
handles("order.created")(_deliver)
