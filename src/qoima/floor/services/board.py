"""The floor board: what the operator watches during the shift. Orders per state against the cut-off,
shipments at risk of missing their ship-by, wave progress, lines per hour per picker, pick accuracy,
cycle time received -> shipped and the same-day ship rate."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select

from qoima.db import tables as t
from qoima.floor.services.exceptions import open_exceptions
from qoima.floor.services.waves import wave_progress
from qoima.platform.unit_of_work import UnitOfWork, utcnow

FLOOR_STATES = ("allocated", "picking", "picked", "packed")
AT_RISK = timedelta(hours=1)


def board(uow: UnitOfWork, warehouse_id: int | None = None, now: datetime | None = None, hours: int = 8) -> dict:
    now = now or utcnow()
    since = now - timedelta(hours=hours)
    o, s = t.orders.c, t.shipments.c
    scope = [s.warehouse_id == warehouse_id] if warehouse_id is not None else []
    base = (select(o.status, func.count(func.distinct(o.id)).label("n"),
                   func.count(func.distinct(case((o.ship_by < now, o.id)))).label("late"))
            .join(t.shipments, s.order_id == o.id).where(o.status.in_(FLOOR_STATES), *scope)
            .group_by(o.status))
    states = {st: {"due": 0, "late": 0} for st in FLOOR_STATES}
    for r in uow.execute(base):
        states[r.status] = {"due": r.n - r.late, "late": r.late}
    risk = [dict(r._mapping) for r in uow.execute(
        select(o.id, o.external_id, o.status, o.ship_by).join(t.shipments, s.order_id == o.id)
        .where(o.status.in_(FLOOR_STATES), o.ship_by < now + AT_RISK, *scope)
        .order_by(o.ship_by).limit(20).distinct())]
    fs = t.floor_scans.c
    pickers = [{"actor": r.actor, "lines": r.lines,
                "per_hour": round(r.lines / max((r.last - r.first).total_seconds() / 3600, 0.25), 1)}
               for r in uow.execute(select(fs.actor, func.count(func.distinct(fs.line_id)).label("lines"),
                                           func.min(fs.created_at).label("first"), func.max(fs.created_at).label("last"))
                                    .where(fs.stage == "pick", fs.kind == "item", fs.accepted.is_(True),
                                           fs.undone.is_(False), fs.created_at >= since)
                                    .group_by(fs.actor).order_by(fs.actor))]
    scans = uow.execute(select(
        func.count().label("all"),
        func.coalesce(func.sum(case((and_(fs.stage == "pick", fs.accepted.is_(False)), 1), else_=0)), 0).label("refused"),
        func.coalesce(func.sum(case((and_(fs.stage == "pack", fs.accepted.is_(False)), 1), else_=0)), 0).label("pack_err"),
        func.coalesce(func.sum(case((and_(fs.stage == "pick", fs.kind == "item", fs.accepted.is_(True)), 1), else_=0)),
                      0).label("picks"))
        .where(fs.created_at >= since)).first()
    shipped = uow.execute(select(func.count().label("n"),
                                 func.coalesce(func.sum(case((o.shipped_at <= o.ship_by, 1), else_=0)), 0).label("same"),
                                 func.coalesce(func.sum(case((o.fulfillment_error.is_(True), 1), else_=0)), 0)
                                 .label("reported"))
                          .where(o.shipped_at.is_not(None), o.shipped_at >= now - timedelta(days=7))).first()
    cycles = [(r.shipped_at - r.received_at).total_seconds() / 3600 for r in uow.execute(
        select(o.received_at, o.shipped_at).where(o.shipped_at.is_not(None), o.shipped_at >= now - timedelta(days=7))
        .limit(50000))]
    exceptions = open_exceptions(uow, warehouse_id)  # each links to its resolution page; resolved ones are gone
    picks = int(scans.picks or 0)
    errors = int(scans.pack_err or 0) + int(shipped.reported or 0)
    return {
        "states": states, "at_risk": risk, "waves": wave_progress(uow, warehouse_id, limit=10), "pickers": pickers,
        "scans_refused": int(scans.refused or 0), "pack_errors": int(scans.pack_err or 0),
        "reported_errors": int(shipped.reported or 0),
        "pick_accuracy": None if picks == 0 else max(0.0, 1 - errors / picks),
        "cycle_hours": None if not cycles else round(sum(cycles) / len(cycles), 1),
        "same_day_rate": None if not shipped.n else int(shipped.same) / int(shipped.n),
        "shipped_7d": int(shipped.n or 0), "window_hours": hours, "exceptions": exceptions,
    }
