"""The one-window orders list and the order page (lines, reservations, sourcing,
customer, timeline and the moves the order may make next)."""

from __future__ import annotations

from decimal import Decimal
from math import ceil
from typing import Annotated

from fastapi import Form

from qoima.platform.bounds import Id64, SafeQuery, Text
from qoima.platform.errors import DomainError, NotFound
from qoima.orders.domain.status import Status
from qoima.orders.services import lifecycle, queries as order_queries, resourcing
from qoima.entrypoints.web import i18n, lookups
from qoima.entrypoints.web.common import CsrfDep, UserDep, Web, int_param, page_router

router = page_router()
PAGE_SIZE = 50
DANGER = {Status.CANCELLED.value, Status.EXCEPTION.value, Status.RETURNED.value}


@router.get("/orders")
def orders_list(web: UserDep, status: SafeQuery | None = None, seller: SafeQuery | None = None,
                channel: SafeQuery | None = None, warehouse: SafeQuery | None = None, q: SafeQuery | None = None,
                late: SafeQuery | None = None, page: SafeQuery | None = None):
    p = web.principal
    if status and status not in {s.value for s in Status}:
        status = None
    if not p.is_staff:
        seller = None  # a seller sees only their own orders: no seller filter at all
    page_no = int_param(page, 1, minimum=1)
    filters = {"status": status or "", "seller": seller or "", "channel": channel or "", "warehouse": warehouse or "",
               "q": (q or "").strip(), "late": late in ("1", "on", "true")}
    with web.uow() as uow:
        items, total = order_queries.list_orders(
            uow, p, status=status or None, seller=seller or None, channel=channel or None,
            warehouse=warehouse or None, q=filters["q"] or None, late=filters["late"] or None,
            limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE)
        sellers = lookups.sellers(uow, p) if p.is_staff else []
        warehouses = lookups.warehouses(uow)
        channels = lookups.channels(uow, p)
    pages = max(1, ceil(total / PAGE_SIZE))
    return web.render("orders.html", items=items, total=total, page=page_no, pages=pages, page_size=PAGE_SIZE,
                      filters=filters, statuses=[s.value for s in Status], sellers=sellers, warehouses=warehouses,
                      channels=channels, now=order_queries.utcnow())


@router.get("/orders/{order_id}")
def order_page(web: UserDep, order_id: Id64):
    with web.uow() as uow:
        order = order_queries.get_order(uow, web.principal, order_id)
        steps = lifecycle.next_steps(uow, web.principal, order_id)  # exactly what the services would accept
    for line in order["lines"]:  # the floor's view has no prices (orders/domain/redaction.py)
        line["amount"] = Decimal(line["unit_price"]) * line["quantity"] if line["unit_price"] is not None else None
    return web.render("order.html", order=order, moves=steps.moves, can_resource=steps.resource, danger=DANGER,
                      now=order_queries.utcnow())


@router.post("/orders/{order_id}/transition")
def order_transition(web: UserDep, _csrf: CsrfDep, order_id: Id64, to_status: Annotated[Text(20), Form()] = "",
                     reason: Annotated[Text(2000, multiline=True), Form()] = ""):
    target = i18n.STATUS_LABELS.get(to_status)
    try:
        web.run(lambda uow: lifecycle.transition(uow, web.principal, order_id, to_status, reason.strip()[:500]))
    except NotFound:
        raise
    except DomainError as exc:
        web.flash("error", web._("The status was not changed: %(reason)s", reason=web.error(exc)))
    else:
        web.flash("success", web._("Order moved to “%(status)s”.", status=web._(target) if target else to_status))
    return web.redirect(f"/orders/{order_id}")


@router.post("/orders/{order_id}/resource")
def order_resource(web: UserDep, _csrf: CsrfDep, order_id: Id64, reason: Annotated[Text(2000, multiline=True), Form()] = ""):
    try:
        with web.uow() as uow:
            done = resourcing.resource(uow, web.principal, order_id, reason.strip()[:500])
            uow.commit()
    except NotFound:
        raise
    except DomainError as exc:
        web.flash("error", web._("The order was not re-sourced: %(reason)s", reason=web.error(exc)))
    else:
        label = i18n.STATUS_LABELS.get(done.status)
        web.flash("success", web._("Order re-sourced, now “%(status)s”: %(reason)s",
                                   status=web._(label) if label else done.status, reason=i18n.localize_reason(done.reason, web.lang)))
    return web.redirect(f"/orders/{order_id}")
