"""Picking with the scanner: take the next task, at each stop scan the location, then the item, then
confirm the quantity (repeated scans, or a typed count for products without marking codes).

Every request carries the client's operation id: the scan, its ledger movement and its answer commit
together, and a retry with the same id gets the stored answer and changes nothing
(platform/idempotency.py). Refusals are answers too (stored, counted for pick accuracy), never errors.

Every unit picked is one ledger movement `pick` off its location, with the worker as actor and the
order as reference, taken from the order's reservation at that location, and one timeline entry.
An undo puts the unit back (`return`, same reference) and reserves it again. A short pick releases
the missing units, writes them off the location (`adjustment`, reason short pick), reserves them again
elsewhere in the warehouse when there are any (a new stop on the same walk), else in the seller's other
warehouses (orders/services/topup.py: a shipment there, picked by that warehouse's wave), and opens an
exception task; what no warehouse has moves the order to `exception` for the shift lead
(floor/services/exceptions.py). An order is picked once every pick line of every shipment is.

Locks: the task first (every scan of a task runs one at a time), then the order, then stock rows
(stock services' order), as the lifecycle takes them."""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass

from sqlalchemy import Engine, bindparam, func, insert, select, update

from qoima.db import tables as t
from qoima.floor.services import items
from qoima.floor.services.items import Refusal
from qoima.orders.domain import reasons
from qoima.orders.domain.status import Status
from qoima.orders.services import records, shipments, topup
from qoima.orders.services.lifecycle import load_order, order_facts, transition
from qoima.platform.access import Principal
from qoima.platform.errors import Conflict, NotFound
from qoima.platform.idempotency import Operation, Outcome, run_once
from qoima.platform.unit_of_work import UnitOfWork, utcnow
from qoima.stock.services.inventory import add_on_hand, lock_rows, remove_on_hand
from qoima.stock.services.reserve import apply_reservations, reserve_in_warehouses

MAX_QUANTITY = 10_000


@dataclass(frozen=True)
class ScanIn:
    op_id: str
    raw: str = ""
    quantity: int = 1


# --- reading a task ------------------------------------------------------------------------------------------

_LINE_COLUMNS = ("id", "seq", "order_id", "order_line_id", "product_id", "location_id", "tote", "quantity", "picked",
                 "short", "at_location", "shipment_id", "sku", "name", "marking_required", "seller_id", "location",
                 "external_id", "order_status", "barcodes")
Line = namedtuple("Line", _LINE_COLUMNS)  # a stop of a task as the scanner reads it (`_replace` after a pick)


def _lines_query():
    ln, p, loc, o = t.pick_task_lines.c, t.products.c, t.locations.c, t.orders.c
    return (select(ln.id, ln.seq, ln.order_id, ln.order_line_id, ln.product_id, ln.location_id, ln.tote,
                   ln.quantity, ln.picked, ln.short, ln.at_location, ln.shipment_id,
                   p.sku, p.name, p.marking_required, p.seller_id, loc.code.label("location"), o.external_id,
                   o.status.label("order_status"),
                   select(func.aggregate_strings(t.barcodes.c.code, " ")).where(t.barcodes.c.product_id == ln.product_id)
                   .scalar_subquery().label("barcodes"))
            .join(t.products, p.id == ln.product_id).join(t.locations, loc.id == ln.location_id)
            .join(t.orders, o.id == ln.order_id)
            .where(ln.task_id == bindparam("task_id")).order_by(ln.seq))


_LINES = _lines_query()  # built once: every scan reads its task's lines with it
_TASK = select(t.pick_tasks).where(t.pick_tasks.c.id == bindparam("task_id"))


def _lines(uow: UnitOfWork, task_id: int) -> list[Line]:
    return [Line(*r) for r in uow.execute(_LINES, {"task_id": task_id})]


def _open(line) -> int:
    """Units the stop still wants: none once its order is cancelled (the walk goes on without it)."""
    if line.order_status == "cancelled":
        return 0
    return line.quantity - line.picked - line.short


def task_view(uow: UnitOfWork, task_id: int, lines=None, task=None) -> dict:
    """The task as the scanner shows it (`lines`, `task`: its lines and row when the caller has just read
    them under the task's lock)."""
    task = uow.execute(_TASK, {"task_id": task_id}).first() if task is None else task
    if task is None:
        raise NotFound(f"pick task {task_id} not found", field="task_id", code="floor.unknown_task")
    lines = _lines(uow, task_id) if lines is None else lines
    current = next((ln for ln in lines if _open(ln) > 0), None)
    return {
        "id": task.id, "kind": task.kind, "status": task.status, "assignee": task.assignee, "wave_id": task.wave_id,
        "route_length": round(task.route_length, 1), "note": task.note,
        "done": current is None,
        "stops": [{"seq": ln.seq, "location": ln.location, "sku": ln.sku, "name": ln.name, "tote": ln.tote,
                   "quantity": ln.quantity, "picked": ln.picked, "short": ln.short, "order": ln.external_id}
                  for ln in lines],
        "current": None if current is None else {
            "line_id": current.id, "seq": current.seq, "location": current.location, "sku": current.sku,
            "name": current.name, "tote": current.tote, "quantity": current.quantity, "picked": current.picked,
            "marking_required": current.marking_required, "order": current.external_id,
            "expect": "item" if current.at_location else "location"},
    }


def next_task(uow: UnitOfWork, principal: Principal, warehouse_id: int | None = None) -> dict | None:
    """The picker's task in progress, else the oldest open one (released soonest-due first), now theirs.
    A task left with nothing to pick (its orders were cancelled meanwhile) is closed on the way."""
    principal.require("admin", "manager", "worker")
    pt = t.pick_tasks.c
    for _ in range(50):
        mine = uow.execute(select(pt.id).where(pt.assignee == principal.email, pt.status == "in_progress",
                                               pt.kind == "pick").order_by(pt.id).limit(1)).scalar()
        if mine is None:
            q = select(pt.id).where(pt.status == "open", pt.kind == "pick").order_by(pt.id).limit(1)
            if warehouse_id is not None:
                q = q.where(pt.warehouse_id == warehouse_id)
            if uow.is_postgres:
                q = q.with_for_update(skip_locked=True)
            mine = uow.execute(q).scalar()
            if mine is None:
                return None
        task = _lock_task(uow, principal, mine)  # open -> in progress, theirs
        lines = _lines(uow, mine)
        if any(_open(ln) > 0 for ln in lines):
            return task_view(uow, mine, lines, task)
        _finish_if_done(uow, principal, task, lines)
    return None


# --- scanning ------------------------------------------------------------------------------------------------

def scan(engine: Engine, principal: Principal, task_id: int, data: ScanIn) -> Outcome:
    body = {"task_id": task_id, "raw": data.raw, "quantity": data.quantity}
    op = Operation("floor.pick_scan", principal, data.op_id, body, field="op_id", status_code=200)
    return run_once(engine, op, lambda uow: _scan(uow, principal, task_id, data))


def undo(engine: Engine, principal: Principal, task_id: int, op_id: str) -> Outcome:
    op = Operation("floor.pick_undo", principal, op_id, {"task_id": task_id}, field="op_id", status_code=200)
    return run_once(engine, op, lambda uow: _undo(uow, principal, task_id, op_id))


def short(engine: Engine, principal: Principal, task_id: int, op_id: str, found: int = 0) -> Outcome:
    op = Operation("floor.pick_short", principal, op_id, {"task_id": task_id, "found": found}, field="op_id",
                   status_code=200)
    return run_once(engine, op, lambda uow: _short(uow, principal, task_id, op_id, found))


def _lock_task(uow: UnitOfWork, principal: Principal, task_id: int, done_ok: bool = False):
    principal.require("admin", "manager", "worker")
    task = uow.execute(_TASK_LOCKED if uow.is_postgres else _TASK, {"task_id": task_id}).first()
    if task is None or task.kind != "pick":
        raise NotFound(f"pick task {task_id} not found", field="task_id", code="floor.unknown_task")
    if task.status not in ("open", "in_progress") and not (done_ok and task.status == "done"):
        raise Conflict(f"pick task {task_id} is {task.status}", field="task_id", code="floor.task_closed")
    if task.status == "open":
        uow.execute(update(t.pick_tasks).where(t.pick_tasks.c.id == task.id).values(
            status="in_progress", assignee=principal.email, started_at=utcnow()))
        task = uow.execute(_TASK, {"task_id": task_id}).first()
    return task


_TASK_LOCKED = _TASK.with_for_update()


@dataclass(frozen=True)
class _Entry:
    """One scan as the scans table keeps it."""
    kind: str
    task: object
    line: object
    answer: dict
    raw: str = ""
    quantity: int = 0


_INSERT_SCAN = insert(t.floor_scans).returning(t.floor_scans.c.id)  # built once: a row per scan


def _record(uow: UnitOfWork, principal: Principal, op_id: str, entry: _Entry) -> int:
    kind, task, line, answer, raw, quantity = (entry.kind, entry.task, entry.line, entry.answer, entry.raw,
                                               entry.quantity)
    return uow.execute(_INSERT_SCAN, {
        "actor": principal.email[:254], "op_id": op_id[:200], "stage": "pick", "kind": kind, "task_id": task.id,
        "line_id": line.id if line is not None else None, "order_id": line.order_id if line is not None else None,
        "order_line_id": line.order_line_id if line is not None else None, "raw": raw[:500], "quantity": quantity,
        "accepted": answer["ok"], "code": answer["code"], "response": answer, "created_at": utcnow()}).scalar_one()


def _answer(uow: UnitOfWork, task_id: int, ok: bool, code: str, message: str, **params) -> dict:
    return {"ok": ok, "code": code, "message": message, "params": params, "task": task_view(uow, task_id)}


def _refuse_on(uow: UnitOfWork, read: tuple, code: str, message: str, **params) -> dict:
    """A refusal from the task row and lines (`read`) read under its lock (nothing changed them since)."""
    task, lines = read
    return {"ok": False, "code": code, "message": message, "params": params,
            "task": task_view(uow, task.id, lines, task)}


def _scan(uow: UnitOfWork, principal: Principal, task_id: int, data: ScanIn) -> dict:
    task = _lock_task(uow, principal, task_id, done_ok=True)  # a late scan of a done walk: refused, not an error
    lines = _lines(uow, task.id)
    line = next((ln for ln in lines if _open(ln) > 0), None)
    raw = (data.raw or "")[:500]
    if line is None:
        if task.status != "done":  # its last open stops were of orders cancelled meanwhile
            _finish_if_done(uow, principal, task, lines)
        answer = _answer(uow, task.id, False, "floor.task_done", "this task is done: take the next one")
        _record(uow, principal, data.op_id, _Entry("item", task, None, answer, raw))
        return answer
    if not line.at_location:
        answer, kind = _at_location(uow, task, line, raw), "location"
    else:
        answer, kind = _item(uow, principal, (task, lines), line, raw, data), "item"
    units, code = answer.pop("_units", 0), answer.pop("_marking", None)
    scan_id = _record(uow, principal, data.op_id, _Entry(kind, task, line, answer, raw, quantity=units))
    if code:  # claimed by _item; now it knows its scan (an undo frees it again)
        uow.execute(update(t.marking_codes).where(t.marking_codes.c.code == code[:200]).values(scan_id=scan_id))
    return answer


def _at_location(uow: UnitOfWork, task, line, raw: str) -> dict:
    loc = items.location_named(uow, task.warehouse_id, raw)
    if loc is not None and loc.id == line.location_id:
        uow.execute(update(t.pick_task_lines).where(t.pick_task_lines.c.id == line.id).values(at_location=True))
        return _answer(uow, task.id, True, "floor.at_location", "%(location)s: take %(quantity)s × %(name)s",
                       location=line.location, quantity=_open(line), name=line.name)
    if loc is not None:
        return _answer(uow, task.id, False, "floor.wrong_location",
                       "wrong location: you are at %(scanned)s, go to %(expected)s",
                       scanned=loc.code, expected=line.location)
    if items.products_for(uow, items.read(raw)):
        return _answer(uow, task.id, False, "floor.location_first", "scan the location %(expected)s first",
                       expected=line.location)
    return _answer(uow, task.id, False, "floor.unknown_code", "unknown code %(scanned)s: scan the location %(expected)s",
                   scanned=raw[:60], expected=line.location)


def _item(uow: UnitOfWork, principal: Principal, read: tuple, line, raw: str, data: ScanIn) -> dict:
    """`read`: the task row and its lines, read under the task's lock."""
    task, lines = read
    refused = _item_refusal(uow, task, line, raw, data)
    if refused is not None:
        return refused.answer(task=task_view(uow, task.id, lines, task))
    s = items.read(raw)
    qty = data.quantity
    order = load_order(uow, principal, line.order_id, lock=True)
    if order.status != Status.PICKING.value:
        return _refuse_on(uow, read, "floor.order_not_picking",
                          "order %(order)s is %(status)s now: put the unit back and take the next stop",
                          order=line.external_id, status=order.status)
    if s.marking_code and not items.claim_marking(uow, s.marking_code, s.gtin, line.product_id, line.order_id,
                                                  principal.email):
        return _refuse_on(uow, read, "floor.marking_seen",
                          "marking code already seen: this unit was scanned before, take another one")
    _take(uow, principal, line, qty)
    done = line.picked + qty
    lines = [ln._replace(picked=done) if ln.id == line.id else ln for ln in lines]  # what _take just wrote
    finished = _finish_if_done(uow, principal, task, lines)
    answer = {"ok": True, "code": "floor.picked", "message": "%(done)s of %(want)s × %(name)s into tote %(tote)s",
              "params": {"done": done, "want": line.quantity - line.short, "name": line.name, "tote": line.tote},
              "task": task_view(uow, task.id, lines, None if finished else task)}
    answer["_units"] = qty
    if s.marking_code:
        answer["_marking"] = s.marking_code
    if finished:
        answer["finished"] = True
    return answer


def _item_refusal(uow: UnitOfWork, task, line, raw: str, data: ScanIn) -> Refusal | None:
    s = items.read(raw)
    if not items.is_product(uow, s, line.product_id, line.sku, codes=(line.barcodes or "").split()):
        loc = items.location_named(uow, task.warehouse_id, raw)
        if loc is not None and loc.id != line.location_id:
            return Refusal("floor.wrong_location", "wrong location: you are at %(scanned)s, go to %(expected)s",
                           {"scanned": loc.code, "expected": line.location})
        if loc is not None:
            return Refusal("floor.already_here", "you are at %(expected)s: now scan the item", {"expected": line.location})
        other = items.products_for(uow, s, line.seller_id) or items.products_for(uow, s)
        if other:
            return Refusal("floor.wrong_item", "this is %(scanned)s, the line wants %(expected)s",
                           {"scanned": other[0].name, "expected": line.name})
        return Refusal("floor.unknown_item", "unknown barcode %(scanned)s, the line wants %(expected)s",
                       {"scanned": raw[:60], "expected": line.name})
    if line.marking_required and not s.marking_code:
        return Refusal("floor.marking_needed", "%(expected)s needs its DataMatrix marking code: scan the code on the unit",
                       {"expected": line.name})
    if not 1 <= data.quantity <= MAX_QUANTITY or (s.marking_code and data.quantity != 1):
        return Refusal("floor.one_unit", "a unit with a marking code is counted one scan at a time"
                       if s.marking_code else "the quantity must be between 1 and %(max)s", {"max": MAX_QUANTITY})
    if line.picked + data.quantity > line.quantity - line.short:
        return Refusal("floor.over_pick", "over-pick: the line wants %(want)s, %(done)s already picked",
                       {"want": line.quantity - line.short, "done": line.picked})
    return None


def _take(uow: UnitOfWork, principal: Principal, line, qty: int) -> None:
    """qty units of the line leave their location: out of the order's reservation there, a ledger pick."""
    # the order is locked (so are its reservations: cancel and re-sourcing lock it first); remove_on_hand
    # locks the one stock row
    rv = t.reservations.c
    first = uow.execute(_TAKE_FIRST, {"ol": line.order_line_id, "p": line.product_id, "loc": line.location_id,
                                      "q": qty}).first()
    left = 0 if first is not None else qty
    held = [] if first is not None else uow.execute(
        select(rv.id, rv.quantity).join(t.stock, t.stock.c.id == rv.stock_id)
        .where(rv.order_line_id == line.order_line_id, t.stock.c.product_id == line.product_id,
               t.stock.c.location_id == line.location_id).order_by(rv.id)).all()
    for r in held:
        use = min(left, r.quantity)
        if use == r.quantity:
            uow.execute(t.reservations.delete().where(rv.id == r.id))
        else:
            uow.execute(update(t.reservations).where(rv.id == r.id).values(quantity=rv.quantity - use))
        left -= use
        if left == 0:
            break
    if left:
        raise Conflict(f"only {qty - left} unit(s) of {line.sku} are reserved for this order at {line.location}",
                       field="quantity", code="floor.not_reserved_here")
    remove_on_hand(uow, product_id=line.product_id, location_id=line.location_id, quantity=qty, kind="pick",
                   actor=principal.email, reason=reasons.text("ledger.picked_into_tote", tote=line.tote, line=line.id),
                   reference=f"order:{line.order_id}", from_reserved=True, sku=line.sku)
    uow.execute(_PICKED, {"lid": line.id, "q": qty})
    _timeline(uow, line.order_id, principal.email, reasons.text(
        "floor.picked", qty=qty, sku=line.sku, location=line.location, tote=line.tote), Status.PICKING.value)


def _take_first():
    """The line's first reservation at the stop, when it holds more than the units scanned: one statement
    (the common case); else `_take` walks them all."""
    rv, st = t.reservations.c, t.stock.c
    first = (select(func.min(rv.id)).join(t.stock, st.id == rv.stock_id)
             .where(rv.order_line_id == bindparam("ol"), st.product_id == bindparam("p"),
                    st.location_id == bindparam("loc")).scalar_subquery())
    return (update(t.reservations).where(rv.id == first, rv.quantity > bindparam("q"))
            .values(quantity=rv.quantity - bindparam("q")).returning(rv.id))


_TAKE_FIRST = _take_first()
_PICKED = (update(t.pick_task_lines).where(t.pick_task_lines.c.id == bindparam("lid"))
           .values(picked=t.pick_task_lines.c.picked + bindparam("q")))


def _timeline(uow: UnitOfWork, order_id: int, actor: str, reason: str, status: str | None = None) -> None:
    """A timeline entry that is no move (a unit picked, a pick undone, a short pick)."""
    if status is None:
        status = uow.execute(select(t.orders.c.status).where(t.orders.c.id == order_id)).scalar()
    records.note(uow, order_id, status, actor, reason)


def _finish_if_done(uow: UnitOfWork, principal: Principal, task, lines=None) -> bool:
    """Every stop of the task done: it is closed; each shipment of it whose every pick line (in every
    task) is done and whose warehouse holds nothing more for the order is picked (or cancelled when it
    ended up with nothing to ship: every unit was short and went elsewhere), and each order moves to
    where its shipments are (`shipments.advance`: `picked` once they all are). Returns whether the
    task closed."""
    lines = _lines(uow, task.id) if lines is None else lines
    if any(_open(ln) > 0 for ln in lines):
        return False
    now = utcnow()
    uow.execute(update(t.pick_tasks).where(t.pick_tasks.c.id == task.id).values(status="done", done_at=now))
    for order_id in sorted({x.order_id for x in lines}):
        order = load_order(uow, principal, order_id, lock=True)
        at = None
        for shipment_id in sorted({x.shipment_id for x in lines if x.order_id == order_id}):
            done = _shipment_done(uow, shipment_id)
            if done is not None:
                at = shipments.advance(uow, shipment_id, done, now)
        if at == Status.PICKED.value and order.status == Status.PICKING.value and not order_facts(uow, order).short:
            transition(uow, principal, order_id, Status.PICKED.value, reason=reasons.text("floor.pick_done", task=task.id),
                       at=now)
    if task.wave_id is not None:
        left = uow.execute(select(func.count()).select_from(t.pick_tasks).where(
            t.pick_tasks.c.wave_id == task.wave_id, t.pick_tasks.c.kind == "pick",
            t.pick_tasks.c.status.in_(("open", "in_progress")))).scalar_one()
        if left == 0:
            uow.execute(update(t.waves).where(t.waves.c.id == task.wave_id).values(status="done", done_at=now))
    return True


_SHIPMENT_LEFT = (select(func.coalesce(func.sum(t.pick_task_lines.c.quantity - t.pick_task_lines.c.picked
                                                - t.pick_task_lines.c.short), 0),
                         func.coalesce(func.sum(t.pick_task_lines.c.picked), 0))
                  .where(t.pick_task_lines.c.shipment_id == bindparam("sid")))


def _shipment_done(uow: UnitOfWork, shipment_id: int) -> str | None:
    """`picked` (or `cancelled`: nothing picked) once the shipment's pick lines are all done and its
    warehouse holds nothing more for the order (units re-sourced there wait for another wave); None:
    not yet, or it is past picking already."""
    sh = uow.execute(select(t.shipments.c.order_id, t.shipments.c.warehouse_id, t.shipments.c.status)
                     .where(t.shipments.c.id == shipment_id)).first()
    if sh is None or sh.status != Status.PICKING.value:
        return None
    left, picked = uow.execute(_SHIPMENT_LEFT, {"sid": shipment_id}).one()
    held = uow.execute(select(t.reservations.c.id).where(t.reservations.c.order_id == sh.order_id,
                                                         t.reservations.c.warehouse_id == sh.warehouse_id)
                       .limit(1)).first()
    if left > 0 or held is not None:
        return None
    return Status.PICKED.value if picked > 0 else Status.CANCELLED.value


def _undo(uow: UnitOfWork, principal: Principal, task_id: int, op_id: str) -> dict:
    task = _lock_task(uow, principal, task_id)
    fs = t.floor_scans.c
    last = uow.execute(select(fs.id, fs.kind, fs.line_id, fs.quantity).where(
        fs.task_id == task.id, fs.actor == principal.email, fs.accepted.is_(True), fs.undone.is_(False),
        fs.stage == "pick", fs.kind.in_(("location", "item"))).order_by(fs.id.desc()).limit(1)).first()
    if last is None:
        answer = _answer(uow, task.id, False, "floor.nothing_to_undo", "nothing to undo")
        _record(uow, principal, op_id, _Entry("undo", task, None, answer))
        return answer
    line = next(ln for ln in _lines(uow, task.id) if ln.id == last.line_id)
    if last.kind == "location":
        uow.execute(update(t.pick_task_lines).where(t.pick_task_lines.c.id == line.id).values(at_location=False))
    else:
        load_order(uow, principal, line.order_id, lock=True)
        _put_back(uow, principal, line, last.quantity)
        uow.execute(t.marking_codes.delete().where(t.marking_codes.c.scan_id == last.id))
    uow.execute(update(t.floor_scans).where(fs.id == last.id).values(undone=True))
    answer = _answer(uow, task.id, True, "floor.undone", "undone: %(what)s", what=(
        line.location if last.kind == "location" else f"{last.quantity} × {line.name}"))
    _record(uow, principal, op_id, _Entry("undo", task, line, answer, quantity=last.quantity))
    return answer


def _put_back(uow: UnitOfWork, principal: Principal, line, qty: int) -> None:
    wh = uow.execute(select(t.locations.c.warehouse_id).where(t.locations.c.id == line.location_id)).scalar_one()
    rows = lock_rows(uow, adds=[(line.product_id, line.location_id, wh)])
    add_on_hand(uow, product_id=line.product_id, location_id=line.location_id, warehouse_id=wh, quantity=qty,
                kind="return", actor=principal.email, reason=reasons.text("ledger.pick_undone", line=line.id),
                reference=f"order:{line.order_id}")
    apply_reservations(uow, line.order_id, [(line.order_line_id, rows[(line.product_id, line.location_id)].id, wh, qty)])
    uow.execute(update(t.pick_task_lines).where(t.pick_task_lines.c.id == line.id)
                .values(picked=t.pick_task_lines.c.picked - qty))
    _timeline(uow, line.order_id, principal.email,
              reasons.text("floor.pick_undone", qty=qty, sku=line.sku, location=line.location))


def _short(uow: UnitOfWork, principal: Principal, task_id: int, op_id: str, found: int) -> dict:
    task = _lock_task(uow, principal, task_id)
    line = next((ln for ln in _lines(uow, task.id) if _open(ln) > 0), None)
    if line is None or not 0 <= found < _open(line):
        answer = _answer(uow, task.id, False, "floor.not_short",
                         "nothing to report short here" if line is None else
                         "%(found)s found: scan them instead of reporting a short pick", found=found)
        _record(uow, principal, op_id, _Entry("short", task, line, answer))
        return answer
    missing = _open(line) - found
    order = load_order(uow, principal, line.order_id, lock=True)
    wh = uow.execute(select(t.locations.c.warehouse_id).where(t.locations.c.id == line.location_id)).scalar_one()
    rows = lock_rows(uow, removes=[(line.product_id, line.location_id)])
    stock = rows[(line.product_id, line.location_id)]
    _release_units(uow, line, stock.id, missing)
    # the shelf holds no more than what is still reserved on it: every free unit the books show is written off
    gone = stock.on_hand - (stock.reserved - missing)
    if gone > 0:
        remove_on_hand(uow, product_id=line.product_id, location_id=line.location_id, quantity=gone,
                       kind="adjustment", actor=principal.email,
                       reason=reasons.text("ledger.short_pick", missing=missing, line=line.id),
                       reference=f"short:{line.location}", sku=line.sku)
    uow.execute(update(t.pick_task_lines).where(t.pick_task_lines.c.id == line.id)
                .values(short=t.pick_task_lines.c.short + missing))
    # re-source the missing units elsewhere in this warehouse: a new stop on the same walk
    got = reserve_in_warehouses(uow, order_id=line.order_id, line_id=line.order_line_id, product_id=line.product_id,
                                quantity=missing, warehouse_ids=[wh])
    added = _new_stops(uow, task, line, got)
    # what this warehouse has not: the seller's other warehouses, a shipment each (released by their waves)
    away = topup.reserve_missing(uow, order, [topup.Need(line.order_line_id, line.product_id, line.sku, missing - got)],
                                 skip=frozenset({wh})) if got < missing else topup.TopUp()
    left = missing - got - away.reserved
    parts = [reasons.text("floor.short", missing=missing, sku=line.sku, location=line.location,
                          order=line.external_id)]
    if away.reserved:
        parts.append(reasons.text("floor.short_resourced", reserved=away.reserved, codes=", ".join(away.warehouses)))
    if left:
        parts.append(reasons.text("floor.short_nowhere", left=left))
    note = reasons.joined(parts)
    uow.execute(insert(t.pick_tasks).values(warehouse_id=task.warehouse_id, wave_id=task.wave_id, kind="exception",
                                            status="open", note=note[:500], order_id=line.order_id,
                                            created_at=utcnow()))
    _timeline(uow, line.order_id, principal.email, note)
    if left:
        transition(uow, principal, line.order_id, Status.EXCEPTION.value, reason=note)
    _finish_if_done(uow, principal, task)
    answer = _answer(uow, task.id, True, "floor.short_recorded",
                     "short pick recorded: %(missing)s missing, %(resourced)s found elsewhere (%(stops)s)",
                     missing=missing, resourced=got + away.reserved, stops=", ".join(added + away.warehouses) or "-")
    _record(uow, principal, op_id, _Entry("short", task, line, answer, quantity=missing))
    return answer


def _release_units(uow: UnitOfWork, line, stock_id: int, qty: int) -> None:
    rv = t.reservations.c
    left = 0 if uow.execute(_TAKE_FIRST, {"ol": line.order_line_id, "p": line.product_id, "loc": line.location_id,
                                          "q": qty}).first() else qty
    for r in [] if left == 0 else uow.execute(select(rv.id, rv.quantity).where(rv.order_line_id == line.order_line_id,
                                                         rv.stock_id == stock_id).order_by(rv.id)).all():
        use = min(left, r.quantity)
        if use == r.quantity:
            uow.execute(t.reservations.delete().where(rv.id == r.id))
        else:
            uow.execute(update(t.reservations).where(rv.id == r.id).values(quantity=rv.quantity - use))
        left -= use
        if not left:
            break
    uow.execute(update(t.stock).where(t.stock.c.id == stock_id).values(reserved=t.stock.c.reserved - (qty - left)))


def _new_stops(uow: UnitOfWork, task, line, got: int) -> list[str]:
    """The units just reserved for the line elsewhere become stops at the end of the walk."""
    if got <= 0:
        return []
    rv, st, loc = t.reservations.c, t.stock.c, t.locations.c
    seq = uow.execute(select(func.max(t.pick_task_lines.c.seq)).where(t.pick_task_lines.c.task_id == task.id)).scalar()
    taken = dict(uow.execute(select(t.pick_task_lines.c.location_id, func.sum(t.pick_task_lines.c.quantity
                                                                            - t.pick_task_lines.c.picked
                                                                            - t.pick_task_lines.c.short))
                             .where(t.pick_task_lines.c.order_line_id == line.order_line_id)
                             .group_by(t.pick_task_lines.c.location_id)).all())
    out = []
    for r in uow.execute(select(st.location_id, loc.code, func.sum(rv.quantity).label("qty"))
                         .join(t.stock, st.id == rv.stock_id).join(t.locations, loc.id == st.location_id)
                         .where(rv.order_line_id == line.order_line_id, rv.warehouse_id == task.warehouse_id)
                         .group_by(st.location_id, loc.code).order_by(st.location_id)).all():
        extra = int(r.qty) - int(taken.get(r.location_id, 0) or 0)
        if extra <= 0:
            continue
        seq += 1
        uow.execute(insert(t.pick_task_lines).values(
            task_id=task.id, seq=seq, order_id=line.order_id, shipment_id=line.shipment_id,
            order_line_id=line.order_line_id, product_id=line.product_id, location_id=r.location_id, tote=line.tote,
            quantity=extra, picked=0, short=0, at_location=False))
        out.append(r.code)
    return out
