"""Floor exceptions and their resolution by the shift lead (admin, manager).

A short pick opens an exception task (floor/services/picking.py: kind "exception", the order it is
about, a note). The shift lead resolves it once, with one of:
- "resource": the order's missing units are re-sourced now (orders/services/topup.py: after stock
  arrived; all or nothing), an order in `exception` picks again; the units land on the shipments of
  their warehouses and the waves there pick them;
- "cancel": the order is cancelled through the lifecycle (its reservations are released and the units
  already picked go back to their shelves, a ledger `return` each), the note is the reason;
- "close": nothing more to do (found and handled), the note says what was done.
"cancel" and "close" need a note. Who, when, the action and the note are stored on the task, the order
gets a timeline entry by that person, and the task leaves the board.

Every resolution carries the client's operation id: a retry with the same id gets the first answer and
changes nothing (platform/idempotency.py). Locks: the task, then the order, then stock rows (topup)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update

from qoima.db import tables as t
from qoima.orders.domain import reasons
from qoima.orders.domain.status import Status
from qoima.orders.services import topup
from qoima.orders.services.lifecycle import load_order, transition
from qoima.platform.access import Principal
from qoima.platform.errors import Conflict, NotFound, ValidationError
from qoima.platform.idempotency import Operation, Outcome, run_once
from qoima.platform.unit_of_work import UnitOfWork, utcnow

ACTIONS = ("resource", "cancel", "close")
NOTE_NEEDED = ("cancel", "close")
MAX_NOTE = 500


@dataclass(frozen=True)
class ResolveIn:
    op_id: str
    action: str
    note: str = ""


def check(data: ResolveIn) -> None:
    """The action is one of ACTIONS; cancel and close say why (422 naming the field)."""
    if data.action not in ACTIONS:
        raise ValidationError("unknown action '%(action)s'; one of: %(allowed)s", field="action",
                              code="floor.unknown_action", action=data.action[:40], allowed=", ".join(ACTIONS))
    if data.action in NOTE_NEEDED and not data.note.strip():
        raise ValidationError("a note is required to %(action)s an exception", field="note", code="floor.note_required",
                              action=data.action)
    if len(data.note) > MAX_NOTE:
        raise ValidationError("the note must be at most %(max)s characters", field="note", code="floor.note_too_long",
                              max=MAX_NOTE)


def exception_view(uow: UnitOfWork, principal: Principal, task_id: int) -> dict:
    """The exception with its order: what the resolution page shows."""
    principal.require("admin", "manager")
    pt, o = t.pick_tasks.c, t.orders.c
    row = uow.execute(select(pt.id, pt.warehouse_id, pt.status, pt.note, pt.created_at, pt.order_id, pt.resolved_by,
                             pt.resolved_at, pt.resolution, pt.resolution_note, t.warehouses.c.code.label("warehouse"))
                      .join(t.warehouses, t.warehouses.c.id == pt.warehouse_id)
                      .where(pt.id == task_id, pt.kind == "exception")).first()
    if row is None:
        raise NotFound("exception %(id)s not found", field="task_id", code="floor.unknown_exception", id=task_id)
    view = dict(row._mapping)
    view["order"] = None
    if row.order_id is not None:
        order = uow.execute(select(o.id, o.external_id, o.status).where(o.id == row.order_id)).first()
        if order is not None:
            view["order"] = {"id": order.id, "external_id": order.external_id, "status": order.status,
                             "missing": [{"sku": n.sku, "quantity": n.quantity}
                                         for n in topup.missing_units(uow, order.id)]}
    view["open"] = row.status == "open"
    return view


def resolve(engine: Engine, principal: Principal, task_id: int, data: ResolveIn) -> Outcome:
    principal.require("admin", "manager")
    check(data)
    body = {"task_id": task_id, "action": data.action, "note": data.note}
    op = Operation("floor.exception_resolve", principal, data.op_id, body, field="op_id", status_code=200)
    return run_once(engine, op, lambda uow: _resolve(uow, principal, task_id, data))


def _lock(uow: UnitOfWork, task_id: int):
    q = select(t.pick_tasks).where(t.pick_tasks.c.id == task_id)
    task = uow.execute(q.with_for_update() if uow.is_postgres else q).first()
    if task is None or task.kind != "exception":
        raise NotFound("exception %(id)s not found", field="task_id", code="floor.unknown_exception", id=task_id)
    if task.status != "open":
        raise Conflict("exception %(id)s is already resolved (%(resolution)s by %(by)s)", field="task_id",
                       code="floor.exception_resolved", id=task_id, resolution=task.resolution or task.status,
                       by=task.resolved_by or "-")
    return task


def _resolve(uow: UnitOfWork, principal: Principal, task_id: int, data: ResolveIn) -> dict:
    task = _lock(uow, task_id)
    note = data.note.strip()
    order = load_order(uow, principal, task.order_id, lock=True) if task.order_id is not None else None
    if data.action != "close" and order is None:
        raise Conflict("exception %(id)s names no order: it can only be closed", field="action",
                       code="floor.exception_without_order", id=task_id)
    params = {"id": task.id, "order": order.external_id if order is not None else "-"}
    if data.action == "resource":
        _resource(uow, principal, order, note)
        why = reasons.text("timeline.exception_resourced_note" if note else "timeline.exception_resourced",
                           task=task.id, note=note)
        message = "exception %(id)s resolved: the missing units of order %(order)s are re-sourced"
    elif data.action == "cancel":
        transition(uow, principal, order.id, Status.CANCELLED.value, reason=note)
        why = reasons.text("timeline.exception_cancelled", task=task.id, note=note)
        message = "exception %(id)s resolved: order %(order)s is cancelled"
    else:
        why = reasons.text("timeline.exception_closed", task=task.id, note=note)
        message = "exception %(id)s closed"
    now = utcnow()
    uow.execute(update(t.pick_tasks).where(t.pick_tasks.c.id == task.id).values(
        status="done", done_at=now, resolved_by=principal.email[:254], resolved_at=now, resolution=data.action,
        resolution_note=note[:MAX_NOTE] or None))
    if order is not None:
        status = uow.execute(select(t.orders.c.status).where(t.orders.c.id == order.id)).scalar_one()
        uow.execute(insert(t.order_events).values(order_id=order.id, from_status=status, to_status=status,
                                                  actor=principal.email[:254], reason=why[:500], created_at=now))
    return {"ok": True, "code": "floor.exception_" + {"resource": "resourced", "cancel": "cancelled",
                                                       "close": "closed"}[data.action],
            "message": message, "params": params, "exception": exception_view(uow, principal, task.id)}


def _resource(uow: UnitOfWork, principal: Principal, order, note: str) -> None:
    if order.status == Status.EXCEPTION.value:
        topup.resume_exception(uow, principal, order, note)  # 409 when the units are still nowhere
        return
    if order.status != Status.PICKING.value:
        raise Conflict("order %(order)s is %(status)s: there is nothing to re-source", field="action",
                       code="floor.nothing_to_resource", order=order.external_id, status=order.status)
    top = topup.reserve_missing(uow, order, topup.missing_units(uow, order.id))
    if top.missing > 0:
        raise Conflict("order %(order)s: %(missing)s unit(s) are still missing and no warehouse has them; nothing "
                       "was re-sourced", field="status", code="orders.still_missing", order=order.external_id,
                       missing=top.missing)


def open_exceptions(uow: UnitOfWork, warehouse_id: int | None = None, limit: int = 50) -> list[dict]:
    """The board's list: open exceptions, oldest first, with their order."""
    pt, o = t.pick_tasks.c, t.orders.c
    q = (select(pt.id, pt.note, pt.created_at, pt.order_id, o.external_id, o.status.label("order_status"))
         .outerjoin(t.orders, o.id == pt.order_id).where(pt.kind == "exception", pt.status == "open")
         .order_by(pt.id).limit(limit))
    if warehouse_id is not None:
        q = q.where(pt.warehouse_id == warehouse_id)
    return [dict(r._mapping) for r in uow.execute(q)]
