"""Analytics snapshots in the database (table analytics_snapshots): the newest one per
seller and kind for the readers, saving a run of all kinds for the worker, and the
state of a seller's orders a snapshot is computed from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select

from qoima.db import tables as t

KEEP = 2  # snapshots kept per seller and kind (the newest, and the one before it)
S = t.analytics_snapshots


@dataclass(frozen=True)
class Snapshot:
    id: int
    seller_id: int
    kind: str
    source_version: str
    computed_at: datetime
    data: dict


@dataclass(frozen=True)
class Head:
    """The newest snapshot of a seller without its data: what the refresh pass decides on."""
    computed_at: datetime
    source_version: str


def latest(conn: Connection, seller_id: int, kind: str) -> Snapshot | None:
    row = conn.execute(select(S).where(S.c.seller_id == seller_id, S.c.kind == kind)
                       .order_by(S.c.computed_at.desc(), S.c.id.desc()).limit(1)).first()
    return Snapshot(row.id, row.seller_id, row.kind, row.source_version, row.computed_at, row.data) if row else None


def latest_head(conn: Connection, seller_id: int, kind: str) -> tuple[int, Head] | None:
    """(id, head) of the newest snapshot, without reading its data."""
    row = conn.execute(select(S.c.id, S.c.computed_at, S.c.source_version)
                       .where(S.c.seller_id == seller_id, S.c.kind == kind)
                       .order_by(S.c.computed_at.desc(), S.c.id.desc()).limit(1)).first()
    return (row.id, Head(row.computed_at, row.source_version)) if row else None


def data_of(conn: Connection, snapshot_id: int) -> dict:
    return conn.execute(select(S.c.data).where(S.c.id == snapshot_id)).scalar_one()


def heads(conn: Connection, kind: str = "overview") -> dict[int, Head]:
    """seller id -> the newest snapshot of `kind`, for every seller that has one."""
    out: dict[int, Head] = {}
    rows = conn.execute(select(S.c.seller_id, S.c.computed_at, S.c.source_version).where(S.c.kind == kind)
                        .order_by(S.c.seller_id, S.c.computed_at, S.c.id)).all()
    for r in rows:  # ascending: the last one per seller wins
        out[r.seller_id] = Head(r.computed_at, r.source_version)
    return out


def source_version(conn: Connection, seller_id: int) -> str:
    """The state of the seller's orders (count and last update, as the old in-process cache used)
    and of its customer merges (a merge moves orders to another customer). Equal strings: nothing
    the analytics read has changed."""
    n, last = conn.execute(select(func.count(), func.max(t.orders.c.updated_at))
                           .where(t.orders.c.seller_id == seller_id)).one()
    merges = conn.execute(select(func.count()).select_from(t.customer_merges)
                          .where(t.customer_merges.c.seller_id == seller_id)).scalar_one()
    return f"{n}|{last.isoformat() if last else '-'}|{merges}"


def has_orders(conn: Connection, seller_id: int) -> bool:
    return conn.execute(select(t.orders.c.id).where(t.orders.c.seller_id == seller_id).limit(1)).first() is not None


@dataclass(frozen=True)
class Run:
    """One refresh of a seller: every kind computed from the same orders at the same moment."""
    seller_id: int
    source_version: str
    computed_at: datetime
    compute_seconds: float
    data: dict  # kind -> data


def save(conn: Connection, run: Run) -> None:
    """Insert the run's snapshots and drop all but the newest `KEEP` per kind. The caller commits;
    a second run of the same source version breaks the unique key (another worker was first)."""
    conn.execute(insert(S), [{"seller_id": run.seller_id, "kind": kind, "source_version": run.source_version,
                              "computed_at": run.computed_at, "compute_seconds": max(0.0, run.compute_seconds),
                              "data": data} for kind, data in run.data.items()])
    for kind in run.data:
        keep = (select(S.c.id).where(S.c.seller_id == run.seller_id, S.c.kind == kind)
                .order_by(S.c.computed_at.desc(), S.c.id.desc()).limit(KEEP))
        conn.execute(delete(S).where(S.c.seller_id == run.seller_id, S.c.kind == kind,
                                     S.c.id.not_in(keep)))
