"""Handover to the courier: one manifest per carrier and pickup. Scanning a parcel's label adds it;
closing marks its shipments and orders shipped (handed to the courier) at that time, and lists the
parcels that were expected (packed for this carrier in this warehouse, not yet handed over) but not
scanned. A shipment ships when every parcel of it is on a closed manifest, and the order once every
shipment of it has (an order shipped from two warehouses leaves on two manifests: `shipments.advance`;
until the last one, a timeline entry says which shipment left)."""

from __future__ import annotations

from sqlalchemy import Engine, insert, select, update

from qoima.db import tables as t
from qoima.floor.services.layouts import warehouse_row
from qoima.orders.domain import reasons
from qoima.orders.domain.status import Status
from qoima.orders.services import records, shipments
from qoima.orders.services.lifecycle import load_order, transition
from qoima.platform.access import Principal
from qoima.platform.errors import Conflict, NotFound
from qoima.platform.idempotency import Operation, Outcome, run_once
from qoima.platform.unit_of_work import UnitOfWork, utcnow


# a packed shipment leaves while its order is on the floor (another shipment may still be picked or
# packed); not while the order is on hold, in exception or cancelled
_LEAVES = (Status.PICKING.value, Status.PICKED.value, Status.PACKED.value)


def open_manifest(uow: UnitOfWork, principal: Principal, warehouse: str, carrier: str) -> dict:
    principal.require("admin", "manager", "worker")
    wh = warehouse_row(uow, warehouse)
    mid = uow.execute(select(t.manifests.c.id).where(t.manifests.c.warehouse_id == wh.id,
                                                     t.manifests.c.carrier == carrier,
                                                     t.manifests.c.status == "open")).scalar()
    if mid is None:
        mid = uow.execute(insert(t.manifests).values(warehouse_id=wh.id, carrier=carrier, status="open",
                                                     actor=principal.email[:254], created_at=utcnow())
                          .returning(t.manifests.c.id)).scalar_one()
    return view(uow, mid)


def _manifest(uow: UnitOfWork, manifest_id: int, lock: bool = False):
    q = select(t.manifests).where(t.manifests.c.id == manifest_id)
    row = uow.execute(q.with_for_update() if lock and uow.is_postgres else q).first()
    if row is None:
        raise NotFound(f"manifest {manifest_id} not found", field="manifest_id", code="floor.unknown_manifest")
    return row


def _expected(uow: UnitOfWork, m):
    """Parcels packed for this carrier in this warehouse, not handed over yet."""
    p, s, o = t.parcels.c, t.shipments.c, t.orders.c
    return uow.execute(select(p.id, p.tracking, p.manifest_id, p.shipment_id, o.external_id, o.id.label("order_id"))
                       .join(t.shipments, s.id == p.shipment_id).join(t.orders, o.id == p.order_id)
                       .where(s.warehouse_id == m.warehouse_id, p.carrier == m.carrier, p.handed_at.is_(None),
                              s.status == Status.PACKED.value, o.status.in_(_LEAVES)).order_by(p.id)).all()


def view(uow: UnitOfWork, manifest_id: int) -> dict:
    m = _manifest(uow, manifest_id)
    scanned = uow.execute(select(t.parcels.c.tracking, t.orders.c.external_id)
                          .join(t.orders, t.orders.c.id == t.parcels.c.order_id)
                          .where(t.parcels.c.manifest_id == m.id).order_by(t.parcels.c.id)).all()
    waiting = [r for r in _expected(uow, m) if r.manifest_id != m.id] if m.status == "open" else []
    return {"id": m.id, "carrier": m.carrier, "status": m.status, "closed_at": m.closed_at,
            "scanned": [{"tracking": r.tracking, "order": r.external_id} for r in scanned],
            "waiting": [{"tracking": r.tracking, "order": r.external_id} for r in waiting],
            "missing": m.missing or []}


def scan(engine: Engine, principal: Principal, manifest_id: int, op_id: str, raw: str) -> Outcome:
    op = Operation("floor.handover_scan", principal, op_id, {"manifest_id": manifest_id, "raw": raw}, field="op_id",
                   status_code=200)
    return run_once(engine, op, lambda uow: _scan(uow, principal, manifest_id, op_id, raw))


def _scan(uow: UnitOfWork, principal: Principal, manifest_id: int, op_id: str, raw: str) -> dict:
    principal.require("admin", "manager", "worker")
    m = _manifest(uow, manifest_id, lock=True)
    code = raw.strip().upper()[:40]
    p = uow.execute(select(t.parcels, t.shipments.c.warehouse_id, t.shipments.c.status.label("shipment_status"),
                           t.orders.c.status.label("order_status"))
                    .join(t.shipments, t.shipments.c.id == t.parcels.c.shipment_id)
                    .join(t.orders, t.orders.c.id == t.parcels.c.order_id)
                    .where(t.parcels.c.tracking == code)).first()
    if m.status != "open":
        ok, c, msg, params = False, "floor.manifest_closed", "manifest %(id)s is closed", {"id": m.id}
    elif p is None:
        ok, c, msg, params = False, "floor.unknown_parcel", "no parcel with tracking %(scanned)s", {"scanned": code}
    elif p.carrier != m.carrier or p.warehouse_id != m.warehouse_id:
        ok, c, msg, params = False, "floor.other_carrier", "parcel %(tracking)s goes with %(carrier)s, not this pickup", \
            {"tracking": p.tracking, "carrier": p.carrier}
    elif p.manifest_id is not None:
        ok, c, msg, params = False, "floor.parcel_on_manifest", "parcel %(tracking)s is already on manifest %(id)s", \
            {"tracking": p.tracking, "id": p.manifest_id}
    elif p.shipment_status != Status.PACKED.value or p.order_status not in _LEAVES:
        ok, c, msg, params = False, "floor.parcel_not_packed", "the order of parcel %(tracking)s is %(status)s", \
            {"tracking": p.tracking, "status": p.order_status if p.order_status not in _LEAVES else p.shipment_status}
    else:
        uow.execute(update(t.parcels).where(t.parcels.c.id == p.id).values(manifest_id=m.id))
        ok, c, msg, params = True, "floor.parcel_added", "parcel %(tracking)s added", {"tracking": p.tracking}
    answer = {"ok": ok, "code": c, "message": msg, "params": params}
    uow.execute(insert(t.floor_scans).values(
        actor=principal.email[:254], op_id=op_id[:200], stage="handover", kind="parcel",
        order_id=p.order_id if p is not None else None, raw=raw[:500], quantity=1 if ok else 0, accepted=ok, code=c,
        response=answer, created_at=utcnow()))
    return {**answer, "manifest": view(uow, m.id)}


def close(engine: Engine, principal: Principal, manifest_id: int, op_id: str) -> Outcome:
    op = Operation("floor.handover_close", principal, op_id, {"manifest_id": manifest_id}, field="op_id",
                   status_code=200)
    return run_once(engine, op, lambda uow: _close(uow, principal, manifest_id))


def _close(uow: UnitOfWork, principal: Principal, manifest_id: int) -> dict:
    principal.require("admin", "manager", "worker")
    m = _manifest(uow, manifest_id, lock=True)
    if m.status != "open":
        raise Conflict(f"manifest {m.id} is already closed", field="manifest_id", code="floor.manifest_closed")
    now = utcnow()
    expected = _expected(uow, m)
    missing = [{"tracking": r.tracking, "order": r.external_id} for r in expected if r.manifest_id != m.id]
    on = [r for r in expected if r.manifest_id == m.id]
    if not on:
        raise Conflict("no parcel is scanned onto this manifest yet", field="manifest_id", code="floor.manifest_empty")
    uow.execute(update(t.parcels).where(t.parcels.c.manifest_id == m.id).values(handed_at=now))
    shipped = []
    for order_id in sorted({r.order_id for r in on}):  # orders locked in id order
        order = load_order(uow, principal, order_id, lock=True)
        at, number = None, f"M-{m.id:06d}"
        for shipment_id in sorted({r.shipment_id for r in on if r.order_id == order_id}):
            left = uow.execute(select(t.parcels.c.id).where(t.parcels.c.shipment_id == shipment_id,
                                                            t.parcels.c.handed_at.is_(None))).first()
            if left is None:
                at = shipments.advance(uow, shipment_id, Status.SHIPPED.value, now)
        if at == Status.SHIPPED.value and order.status == Status.PACKED.value:
            transition(uow, principal, order_id, Status.SHIPPED.value, at=now,
                       reason=reasons.text("floor.handed", carrier=m.carrier, manifest=number))
            shipped.append(order.external_id)
        else:  # another shipment of the order has not left yet
            records.note(uow, order_id, order.status, principal.email, reasons.text(
                "floor.handed_from", carrier=m.carrier, manifest=number,
                warehouse=warehouse_row(uow, warehouse_id=m.warehouse_id).code), at=now)
    uow.execute(update(t.manifests).where(t.manifests.c.id == m.id).values(status="closed", closed_at=now,
                                                                           missing=missing))
    return {"ok": True, "code": "floor.manifest_closed_now",
            "message": "manifest %(number)s closed: %(shipped)s order(s) shipped, %(missing)s parcel(s) missing",
            "params": {"number": f"M-{m.id:06d}", "shipped": len(shipped), "missing": len(missing)},
            "manifest_id": m.id, "shipped": shipped, "missing": missing}
