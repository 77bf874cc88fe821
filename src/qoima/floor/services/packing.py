"""The packing station: scan the tote (T<task>-<tote>) or the order, then every item again; a missing
or an extra item blocks closing. The box is suggested from the box sizes (`boxes.suggest_box`); the
packer enters the weight of each parcel (one or several per shipment). Closing writes the parcels with
their tracking numbers and moves the order to `packed`; the packing slip and the shipping labels (PDF
and ZPL) are made from the stored rows whenever they are asked for (so a reprint is the same label).

Tracking numbers: no carrier integration yet, so each parcel gets a carrier-style id in the UPU S10
layout (QM + 8 digits + check digit + KZ), from the parcel's id, unique by construction."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Engine, func, insert, select, update

from qoima.db import tables as t
from qoima.floor.domain.boxes import Item, suggest_box
from qoima.floor.services import boxes, items
from qoima.orders.domain.status import Status
from qoima.orders.services.lifecycle import load_order, transition
from qoima.platform.access import Principal
from qoima.platform.errors import Conflict, NotFound
from qoima.platform.idempotency import Operation, Outcome, run_once
from qoima.platform.unit_of_work import UnitOfWork, utcnow

_TOTE = re.compile(r"^T(\d{1,18})-(\d{1,3})$")
S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def s10_tracking(serial: int, prefix: str = "QM", country: str = "KZ") -> str:
    digits = f"{serial % 10**8:08d}"
    check = 11 - sum(int(d) * w for d, w in zip(digits, S10_WEIGHTS)) % 11
    check = 0 if check == 10 else 5 if check == 11 else check
    return f"{prefix}{digits}{check}{country}"


def find_order(uow: UnitOfWork, principal: Principal, raw: str) -> int:
    """The order a packer scanned: a tote label T<task>-<tote>, the order's number, or #<id>."""
    principal.require("admin", "manager", "worker")
    code = raw.strip()
    m = _TOTE.match(code.upper())
    ln = t.pick_task_lines.c
    if m:
        oid = uow.execute(select(ln.order_id).where(ln.task_id == int(m.group(1)), ln.tote == int(m.group(2)))
                          .limit(1)).scalar()
    elif code.startswith("#") and code[1:].isdigit() and len(code) < 19:
        oid = int(code[1:])
    else:
        oid = uow.execute(select(t.orders.c.id).where(t.orders.c.external_id == code[:100])
                          .order_by(t.orders.c.id.desc()).limit(1)).scalar()
    if oid is None or uow.execute(select(t.orders.c.id).where(t.orders.c.id == oid)).scalar() is None:
        raise NotFound("no order or tote %(code)s" % {"code": code[:60]}, field="raw", code="floor.unknown_order")
    return oid


def _pack_lines(uow: UnitOfWork, order_id: int):
    ol, p, fs = t.order_lines.c, t.products.c, t.floor_scans.c
    packed = (select(fs.order_line_id, func.count().label("n"))
              .where(fs.order_id == order_id, fs.stage == "pack", fs.kind == "item", fs.accepted.is_(True),
                     fs.undone.is_(False)).group_by(fs.order_line_id).subquery())
    return uow.execute(select(ol.id, ol.product_id, ol.sku, ol.quantity, p.name, p.marking_required, p.weight_g,
                              p.length_mm, p.width_mm, p.height_mm, func.coalesce(packed.c.n, 0).label("packed"))
                       .join(t.products, p.id == ol.product_id).outerjoin(packed, packed.c.order_line_id == ol.id)
                       .where(ol.order_id == order_id).order_by(ol.id)).all()


def view(uow: UnitOfWork, principal: Principal, order_id: int) -> dict:
    order = load_order(uow, principal, order_id)
    lines = _pack_lines(uow, order.id)
    suggestion = suggest_box([Item(ln.length_mm, ln.width_mm, ln.height_mm, ln.weight_g, ln.quantity) for ln in lines],
                             boxes.boxes_for_suggestion(uow))
    parcels = [dict(r._mapping) for r in uow.execute(
        select(t.parcels.c.id, t.parcels.c.parcel_no, t.parcels.c.tracking, t.parcels.c.weight_g, t.parcels.c.box_code)
        .where(t.parcels.c.order_id == order.id).order_by(t.parcels.c.parcel_no))]
    return {"order_id": order.id, "order": order.external_id, "status": order.status,
            "lines": [{"line_id": ln.id, "sku": ln.sku, "name": ln.name, "quantity": ln.quantity, "packed": ln.packed}
                      for ln in lines],
            "complete": all(ln.packed == ln.quantity for ln in lines),
            "weight_g": sum(ln.weight_g * ln.quantity for ln in lines),
            "box": None if suggestion is None else suggestion.__dict__, "parcels": parcels}


def scan(engine: Engine, principal: Principal, order_id: int, op_id: str, raw: str) -> Outcome:
    op = Operation("floor.pack_scan", principal, op_id, {"order_id": order_id, "raw": raw}, field="op_id",
                   status_code=200)
    return run_once(engine, op, lambda uow: _scan(uow, principal, order_id, op_id, raw))


def _record(uow, principal, op_id, where: tuple, answer) -> None:
    """where: (order id, order line id or None, what was scanned)."""
    order_id, line_id, raw = where
    uow.execute(insert(t.floor_scans).values(
        actor=principal.email[:254], op_id=op_id[:200], stage="pack", kind="item", order_id=order_id,
        order_line_id=line_id, raw=raw[:500], quantity=1 if answer["ok"] else 0, accepted=answer["ok"],
        code=answer["code"], response=answer, created_at=utcnow()))


def _scan(uow: UnitOfWork, principal: Principal, order_id: int, op_id: str, raw: str) -> dict:
    principal.require("admin", "manager", "worker")
    order = load_order(uow, principal, order_id, lock=True)
    if order.status != Status.PICKED.value:
        raise Conflict(f"order {order.external_id} is {order.status}: only picked orders are packed", field="order_id",
                       code="floor.not_picked")
    s = items.read(raw)
    lines = _pack_lines(uow, order.id)
    line = next((ln for ln in lines if items.is_product(uow, s, ln.product_id, ln.sku)), None)

    def answer(ok, code, message, **params):
        a = {"ok": ok, "code": code, "message": message, "params": params}
        _record(uow, principal, op_id, (order.id, line.id if line is not None else None, s.marking_code or raw), a)
        a["pack"] = view(uow, principal, order.id)
        return a
    if line is None:
        other = items.products_for(uow, s)
        return answer(False, "floor.pack_not_in_order", "%(scanned)s is not in order %(order)s",
                      scanned=other[0].name if other else raw[:60], order=order.external_id)
    if line.packed >= line.quantity:
        return answer(False, "floor.pack_extra", "extra %(name)s: the order has %(want)s", name=line.name,
                      want=line.quantity)
    if line.marking_required:
        if not s.marking_code:
            return answer(False, "floor.marking_needed",
                          "%(expected)s needs its DataMatrix marking code: scan the code on the unit", expected=line.name)
        picked_here = uow.execute(select(t.marking_codes.c.id).where(
            t.marking_codes.c.code == s.marking_code[:200], t.marking_codes.c.order_id == order.id)).scalar()
        if picked_here is None:
            return answer(False, "floor.pack_marking_unknown", "this marking code was not picked for order %(order)s",
                          order=order.external_id)
        fs = t.floor_scans.c
        again = uow.execute(select(func.count()).select_from(t.floor_scans).where(
            fs.order_id == order.id, fs.stage == "pack", fs.accepted.is_(True), fs.undone.is_(False),
            fs.raw == s.marking_code[:500])).scalar_one()
        if again:
            return answer(False, "floor.marking_seen", "marking code already seen: this unit was scanned before, "
                          "take another one")
    return answer(True, "floor.packed_unit", "%(done)s of %(want)s × %(name)s", done=line.packed + 1,
                  want=line.quantity, name=line.name)


@dataclass(frozen=True)
class ParcelSpec:
    weight_g: int
    box_code: str = ""
    length_mm: int = 0
    width_mm: int = 0
    height_mm: int = 0


def close(engine: Engine, principal: Principal, order_id: int, op_id: str, parcels: list[ParcelSpec]) -> Outcome:
    body = {"order_id": order_id, "parcels": [p.__dict__ for p in parcels]}
    op = Operation("floor.pack_close", principal, op_id, body, field="op_id", status_code=200)
    return run_once(engine, op, lambda uow: _close(uow, principal, order_id, parcels))


def _close(uow: UnitOfWork, principal: Principal, order_id: int, parcels: list[ParcelSpec]) -> dict:
    principal.require("admin", "manager", "worker")
    order = load_order(uow, principal, order_id, lock=True)
    if order.status != Status.PICKED.value:
        raise Conflict(f"order {order.external_id} is {order.status}: only picked orders are packed", field="order_id",
                       code="floor.not_picked")
    missing = [f"{ln.sku} ({ln.quantity - ln.packed})" for ln in _pack_lines(uow, order.id) if ln.packed < ln.quantity]
    if missing:
        raise Conflict("not every item is scanned: missing %s" % ", ".join(missing), field="parcels",
                       code="floor.pack_missing", missing=missing)
    ship = uow.execute(select(t.pick_task_lines.c.shipment_id).where(t.pick_task_lines.c.order_id == order.id)
                       .order_by(t.pick_task_lines.c.id).limit(1)).scalar()
    if ship is None:
        ship = uow.execute(select(t.shipments.c.id).where(t.shipments.c.order_id == order.id)
                           .order_by(t.shipments.c.seq).limit(1)).scalar_one()
    from qoima.floor.services.waves import carrier_of
    now = utcnow()
    made = []
    for n, p in enumerate(parcels, start=1):
        pid = uow.execute(insert(t.parcels).values(
            shipment_id=ship, order_id=order.id, parcel_no=n, tracking=f"tmp-{order.id}-{n}", carrier=carrier_of(
                order.delivery_type), box_code=p.box_code[:20], weight_g=p.weight_g, length_mm=p.length_mm,
            width_mm=p.width_mm, height_mm=p.height_mm, created_at=now).returning(t.parcels.c.id)).scalar_one()
        tracking = s10_tracking(pid)
        uow.execute(update(t.parcels).where(t.parcels.c.id == pid).values(tracking=tracking))
        made.append({"id": pid, "parcel_no": n, "tracking": tracking, "weight_g": p.weight_g})
    transition(uow, principal, order.id, Status.PACKED.value,
               reason=f"packed in {len(parcels)} parcel(s): {', '.join(m['tracking'] for m in made)}", at=now)
    return {"ok": True, "code": "floor.packed", "message": "order %(order)s packed: %(parcels)s parcel(s)",
            "params": {"order": order.external_id, "parcels": len(made)}, "order_id": order.id, "parcels": made}
