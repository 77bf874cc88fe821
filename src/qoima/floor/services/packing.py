"""The packing station: scan the tote (T<task>-<tote>) or the order, then every item again; a missing
or an extra item blocks closing.

Packing is per shipment: an order shipped from two warehouses is packed in each of them, from what
that warehouse's pick lines put in the tote, each shipment with its own parcels; a tote names its
shipment, an order number does when one shipment of it waits for packing (otherwise the packer scans
the tote or names the warehouse). Closing a shipment makes it `packed`; the order is packed once all
its shipments are (`shipments.advance`), until then a timeline entry says which one was.

The box is suggested from the box sizes (`boxes.suggest_box`); the packer enters the weight of each
parcel (one or several per shipment). Closing writes the parcels with their tracking numbers; the
packing slip and the shipping labels (PDF and ZPL) are made from the stored rows whenever they are
asked for (so a reprint is the same label).

Tracking numbers: no carrier integration yet, so each parcel gets a carrier-style id in the UPU S10
layout (QM + 8 digits + check digit + KZ), from the parcel's id, unique by construction."""

from __future__ import annotations

import re
from types import SimpleNamespace
from dataclasses import dataclass

from sqlalchemy import Engine, func, insert, select, update

from qoima.db import tables as t
from qoima.floor.domain.boxes import Item, suggest_box
from qoima.floor.services import boxes, items
from qoima.orders.domain import reasons
from qoima.orders.domain.status import Status
from qoima.orders.services import records, shipments
from qoima.orders.services.lifecycle import load_order, picked_units, transition
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


@dataclass(frozen=True)
class Found:
    """What a packer scanned: the order, and the shipment when the scan names one (a tote)."""
    order_id: int
    shipment_id: int | None = None


def find_order(uow: UnitOfWork, principal: Principal, raw: str) -> Found:
    """The order a packer scanned: a tote label T<task>-<tote> (which names its shipment), the order's
    number, or #<id>."""
    principal.require("admin", "manager", "worker")
    code = raw.strip()
    m = _TOTE.match(code.upper())
    ln = t.pick_task_lines.c
    ship = None
    if m:
        row = uow.execute(select(ln.order_id, ln.shipment_id).where(ln.task_id == int(m.group(1)),
                                                                    ln.tote == int(m.group(2))).limit(1)).first()
        oid, ship = (row.order_id, row.shipment_id) if row else (None, None)
    elif code.startswith("#") and code[1:].isdigit() and len(code) < 19:
        oid = int(code[1:])
    else:
        oid = uow.execute(select(t.orders.c.id).where(t.orders.c.external_id == code[:100])
                          .order_by(t.orders.c.id.desc()).limit(1)).scalar()
    if oid is None or uow.execute(select(t.orders.c.id).where(t.orders.c.id == oid)).scalar() is None:
        raise NotFound("no order or tote %(code)s" % {"code": code[:60]}, field="raw", code="floor.unknown_order")
    return Found(oid, ship)


def shipment_of(uow: UnitOfWork, order, warehouse: str | None = None, shipment_id: int | None = None):
    """The shipment of `order` being packed: the one a tote named, the one from `warehouse`, or the one
    shipment of the order that waits for packing (picked), or its only shipment."""
    s, w = t.shipments.c, t.warehouses.c
    q = (select(s.id, s.order_id, s.status, s.seq, s.warehouse_id, w.code).join(t.warehouses, w.id == s.warehouse_id)
         .where(s.order_id == order.id).order_by(s.seq))
    rows = uow.execute(q).all()
    if shipment_id is not None:
        rows = [r for r in rows if r.id == shipment_id]
    elif warehouse:
        rows = [r for r in rows if r.code == warehouse.strip()[:20]]
        if not rows:
            raise NotFound("order %(order)s does not ship from %(warehouse)s", field="warehouse",
                           code="floor.pack_not_here", order=order.external_id, warehouse=warehouse.strip()[:20])
    live = [r for r in rows if r.status != Status.CANCELLED.value] or rows
    if len(live) > 1:
        waiting = [r for r in live if r.status == Status.PICKED.value]
        if len(waiting) != 1:
            raise Conflict("order %(order)s ships from %(warehouses)s: scan its tote or choose the warehouse",
                           field="warehouse", code="floor.pack_choose_warehouse", order=order.external_id,
                           warehouses=[r.code for r in live])
        live = waiting
    if not live:
        raise NotFound("order %(order)s has no shipment", field="order_id", code="floor.no_shipment",
                       order=order.external_id)
    return live[0]


def pack_lines(uow: UnitOfWork, ship):
    """The shipment's lines to pack: the units its pick lines put in the tote (per order line); a
    shipment picked without the floor's pick lines (moved by hand) packs what the ledger says was
    picked for the order from its warehouse (`_picked_by_hand`)."""
    ol, p, fs, pl = t.order_lines.c, t.products.c, t.floor_scans.c, t.pick_task_lines.c
    packed = (select(fs.order_line_id, func.count().label("n"))
              .where(fs.shipment_id == ship.id, fs.stage == "pack", fs.kind == "item", fs.accepted.is_(True),
                     fs.undone.is_(False)).group_by(fs.order_line_id).subquery())
    picked = (select(pl.order_line_id, func.sum(pl.picked).label("n")).where(pl.shipment_id == ship.id)
              .group_by(pl.order_line_id).subquery())
    floor = uow.execute(select(pl.id).where(pl.shipment_id == ship.id).limit(1)).first() is not None
    quantity = picked.c.n if floor else ol.quantity
    q = (select(ol.id, ol.product_id, ol.sku, quantity.label("quantity"), p.name, p.marking_required, p.weight_g,
                p.length_mm, p.width_mm, p.height_mm, func.coalesce(packed.c.n, 0).label("packed"))
         .join(t.products, p.id == ol.product_id).outerjoin(packed, packed.c.order_line_id == ol.id)
         .where(ol.order_id == ship.order_id).order_by(ol.id))
    if floor:
        return uow.execute(q.join(picked, picked.c.order_line_id == ol.id).where(picked.c.n > 0)).all()
    return _picked_by_hand(uow, ship, uow.execute(q).all())


def _picked_by_hand(uow: UnitOfWork, ship, lines) -> list:
    """The order's lines cut to the units the ledger took off the shelves of this shipment's warehouse
    for the order (less what went back), handed to the lines of each product in line order."""
    here = set(uow.execute(select(t.locations.c.id).where(t.locations.c.warehouse_id == ship.warehouse_id))
               .scalars())
    left: dict[int, int] = {}
    for r in picked_units(uow, ship.order_id):
        if r.location_id in here:
            left[r.product_id] = left.get(r.product_id, 0) + int(r.qty)
    out = []
    for ln in lines:
        take = min(ln.quantity, left.get(ln.product_id, 0))
        if take > 0:
            left[ln.product_id] -= take
            out.append(SimpleNamespace(**{**ln._asdict(), "quantity": take}))
    return out


def view(uow: UnitOfWork, principal: Principal, order_id: int, warehouse: str | None = None,
         shipment_id: int | None = None) -> dict:
    order = load_order(uow, principal, order_id)
    ship = shipment_of(uow, order, warehouse, shipment_id)
    lines = pack_lines(uow, ship)
    suggestion = suggest_box([Item(ln.length_mm, ln.width_mm, ln.height_mm, ln.weight_g, ln.quantity) for ln in lines],
                             boxes.boxes_for_suggestion(uow))
    parcels = [dict(r._mapping) for r in uow.execute(
        select(t.parcels.c.id, t.parcels.c.parcel_no, t.parcels.c.tracking, t.parcels.c.weight_g, t.parcels.c.box_code)
        .where(t.parcels.c.shipment_id == ship.id).order_by(t.parcels.c.parcel_no))]
    return {"order_id": order.id, "order": order.external_id, "status": ship.status, "order_status": order.status,
            "shipment_id": ship.id, "warehouse": ship.code,
            "lines": [{"line_id": ln.id, "sku": ln.sku, "name": ln.name, "quantity": ln.quantity, "packed": ln.packed}
                      for ln in lines],
            "complete": all(ln.packed == ln.quantity for ln in lines),
            "weight_g": sum(ln.weight_g * ln.quantity for ln in lines),
            "box": None if suggestion is None else suggestion.__dict__, "parcels": parcels}


@dataclass(frozen=True)
class Where:
    """Which packing: the order, and the warehouse (or the shipment a tote named) when it ships from two."""
    order_id: int
    warehouse: str | None = None
    shipment_id: int | None = None


def scan(engine: Engine, principal: Principal, where: Where, op_id: str, raw: str) -> Outcome:
    body = {"order_id": where.order_id, "warehouse": where.warehouse, "shipment_id": where.shipment_id, "raw": raw}
    op = Operation("floor.pack_scan", principal, op_id, body, field="op_id", status_code=200)
    return run_once(engine, op, lambda uow: _scan(uow, principal, where, op_id, raw))


def _record(uow, principal, op_id, where: tuple, answer) -> None:
    """where: (order id, shipment id, order line id or None, what was scanned)."""
    order_id, shipment_id, line_id, raw = where
    uow.execute(insert(t.floor_scans).values(
        actor=principal.email[:254], op_id=op_id[:200], stage="pack", kind="item", order_id=order_id,
        shipment_id=shipment_id, order_line_id=line_id, raw=raw[:500], quantity=1 if answer["ok"] else 0,
        accepted=answer["ok"], code=answer["code"], response=answer, created_at=utcnow()))


def _packable(uow: UnitOfWork, principal: Principal, where: Where):
    """The order (locked) and its shipment, refused unless the shipment is picked and the order on the
    floor (not on hold, not in exception)."""
    principal.require("admin", "manager", "worker")
    order = load_order(uow, principal, where.order_id, lock=True)
    ship = shipment_of(uow, order, where.warehouse, where.shipment_id)
    if ship.status != Status.PICKED.value or order.status not in (Status.PICKING.value, Status.PICKED.value):
        raise Conflict("order %(order)s is %(status)s (its shipment from %(warehouse)s: %(shipment_status)s): only "
                       "picked shipments are packed", field="order_id", code="floor.not_picked",
                       order=order.external_id, status=order.status, warehouse=ship.code,
                       shipment_status=ship.status)
    return order, ship


def _scan(uow: UnitOfWork, principal: Principal, where: Where, op_id: str, raw: str) -> dict:
    order, ship = _packable(uow, principal, where)
    s = items.read(raw)
    lines = pack_lines(uow, ship)
    line = next((ln for ln in lines if items.is_product(uow, s, ln.product_id, ln.sku)), None)

    def answer(ok, code, message, **params):
        a = {"ok": ok, "code": code, "message": message, "params": params}
        _record(uow, principal, op_id, (order.id, ship.id, line.id if line is not None else None,
                                        s.marking_code or raw), a)
        a["pack"] = view(uow, principal, order.id, shipment_id=ship.id)
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


def close(engine: Engine, principal: Principal, where: Where, op_id: str, parcels: list[ParcelSpec]) -> Outcome:
    body = {"order_id": where.order_id, "warehouse": where.warehouse, "shipment_id": where.shipment_id,
            "parcels": [p.__dict__ for p in parcels]}
    op = Operation("floor.pack_close", principal, op_id, body, field="op_id", status_code=200)
    return run_once(engine, op, lambda uow: _close(uow, principal, where, parcels))


def _close(uow: UnitOfWork, principal: Principal, where: Where, parcels: list[ParcelSpec]) -> dict:
    order, ship = _packable(uow, principal, where)
    missing = [f"{ln.sku} ({ln.quantity - ln.packed})" for ln in pack_lines(uow, ship) if ln.packed < ln.quantity]
    if missing:
        raise Conflict("not every item is scanned: missing %(missing)s", field="parcels", code="floor.pack_missing",
                       missing=missing)
    from qoima.floor.services.waves import carrier_of
    now = utcnow()
    made = []
    for n, p in enumerate(parcels, start=1):
        pid = uow.execute(insert(t.parcels).values(
            shipment_id=ship.id, order_id=order.id, parcel_no=n, tracking=f"tmp-{order.id}-{ship.id}-{n}",
            carrier=carrier_of(order.delivery_type), box_code=p.box_code[:20], weight_g=p.weight_g,
            length_mm=p.length_mm, width_mm=p.width_mm, height_mm=p.height_mm, created_at=now)
            .returning(t.parcels.c.id)).scalar_one()
        tracking = s10_tracking(pid)
        uow.execute(update(t.parcels).where(t.parcels.c.id == pid).values(tracking=tracking))
        made.append({"id": pid, "parcel_no": n, "tracking": tracking, "weight_g": p.weight_g})
    why = reasons.text("floor.packed_in", warehouse=ship.code, parcels=len(parcels),
                       trackings=", ".join(m["tracking"] for m in made))
    at = shipments.advance(uow, ship.id, Status.PACKED.value, now)
    now_status = order.status
    if at == Status.PACKED.value and order.status == Status.PICKED.value:
        now_status = transition(uow, principal, order.id, Status.PACKED.value, reason=why, at=now)
    else:  # another shipment of the order is not packed yet: the timeline says this one is
        records.note(uow, order.id, order.status, principal.email, why, at=now)
    return {"ok": True, "code": "floor.packed", "message": "order %(order)s packed: %(parcels)s parcel(s)",
            "params": {"order": order.external_id, "parcels": len(made)}, "order_id": order.id,
            "shipment_id": ship.id, "warehouse": ship.code, "order_status": now_status, "parcels": made}
