"""The one-window orders list and the order page (lines, reservations, sourcing,
customer, timeline and the moves the order may make next)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from math import ceil
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Form, Query

from qoima.platform import roles
from qoima.platform.bounds import INT64_MAX, Id64, SafeQuery, Text
from qoima.platform.errors import DomainError, NotFound
from qoima.orders.domain.status import Status
from qoima.orders.services import bulk, lifecycle, queries as order_queries, resourcing
from qoima.entrypoints.web import i18n, lookups
from qoima.entrypoints.web.i18n import N_
from qoima.entrypoints.web.common import CsrfDep, UserDep, Web, int_param, page_router

router = page_router()
PAGE_SIZES = (25, 50, 100, 200)
PAGE_SIZE = 50
DANGER = {Status.CANCELLED.value, Status.EXCEPTION.value, Status.RETURNED.value}
SORT_CHOICES = ("", *(f"{d}{k}" for k in order_queries.SORTS for d in ("", "-")))
BULK_LABELS = {"hold": N_("Put on hold"), "release": N_("Release from hold"), "cancel": N_("Cancel"),
               "print": N_("Print")}
VIEW_LABELS = {"open": N_("Open"), "due_today": N_("Due today"), "at_risk": N_("At risk"), "late": N_("Late")}
SORT_LABELS = {"ship_by": N_("Ship by"), "received": N_("Received"), "status": N_("Status")}


@router.get("/orders")
def orders_list(web: UserDep, status: SafeQuery | None = None, seller: SafeQuery | None = None,
                channel: SafeQuery | None = None, warehouse: SafeQuery | None = None, q: SafeQuery | None = None,
                late: SafeQuery | None = None, view: SafeQuery | None = None, sort: SafeQuery | None = None,
                delivery: SafeQuery | None = None, size: SafeQuery | None = None, page: SafeQuery | None = None):
    p = web.principal
    if status and status not in {s.value for s in Status}:
        status = None
    if not p.is_staff:
        seller = None  # a seller sees only their own orders: no seller filter at all
    if late in ("1", "on", "true") and not view:
        view = "late"  # the old ?late=1 link: the late view
    page_size = int_param(size, PAGE_SIZE) if int_param(size, PAGE_SIZE) in PAGE_SIZES else PAGE_SIZE
    filters = {"status": status or "", "seller": seller or "", "channel": channel or "", "warehouse": warehouse or "",
               "q": (q or "").strip(), "view": view if view in order_queries.VIEWS else "",
               "sort": sort if sort in SORT_CHOICES else "",
               "delivery": delivery if delivery in order_queries.DELIVERY_TYPES else "", "size": page_size}
    f = order_queries.OrderFilter(status=status or None, seller=seller or None, channel=channel or None,
                                  warehouse=warehouse or None, delivery=filters["delivery"] or None,
                                  q=filters["q"] or None, view=filters["view"] or None,
                                  sort=filters["sort"] or order_queries.SHIFT,
                                  limit=page_size)
    page_no = int_param(page, 1, minimum=1)
    with web.uow() as uow:
        items, total = order_queries.list_orders(uow, p, f)
        pages = max(1, ceil(total / page_size))
        if page_no > pages:  # bounded: a page past the end shows the last one
            page_no = pages
        if page_no > 1:
            items, total = order_queries.list_orders(uow, p, replace(f, offset=(page_no - 1) * page_size))
        sellers = lookups.sellers(uow, p) if p.is_staff else []
        warehouses = lookups.warehouses(uow)
        channels = lookups.channels(uow, p)
    return web.render("orders.html", items=items, total=total, page=page_no, pages=pages, page_size=page_size,
                      page_sizes=PAGE_SIZES, filters=filters, statuses=[s.value for s in Status], sellers=sellers,
                      warehouses=warehouses, channels=channels, now=order_queries.utcnow(),
                      views=order_queries.VIEWS, sorts=order_queries.SORTS,
                      view_labels={k: web._(v) for k, v in VIEW_LABELS.items()},
                      sort_labels={k: web._(v) for k, v in SORT_LABELS.items()}, deliveries=order_queries.DELIVERY_TYPES,
                      bulk_actions=_bulk_actions(web),
                      bulk_labels=BULK_LABELS, back=web.url_with())


def _ids(values: list[str]) -> list[int]:
    """The selected order ids (bounded, deduplicated, non-numbers dropped)."""
    out = [int(v) for v in (str(x).strip() for x in values[:bulk.MAX_ORDERS]) if v.isascii() and v.isdigit()]
    return list(dict.fromkeys(i for i in out if 0 < i <= INT64_MAX))


@router.post("/orders/bulk")
def orders_bulk(web: UserDep, _csrf: CsrfDep, action: Annotated[Text(20), Form()] = "",
                reason: Annotated[Text(2000, multiline=True), Form()] = "",
                back: Annotated[Text(2000), Form()] = "/orders",
                order: Annotated[list[Text(20)], Form()] = []):  # noqa: B006
    back = back if back.startswith("/orders") and not back.startswith("//") else "/orders"
    ids = _ids(order)
    problem = None
    if not ids:
        problem = web._("Select at least one order.")
    elif action not in BULK_LABELS:
        problem = web._("Choose what to do with the selected orders.")
    elif action == "cancel" and not _may_cancel(web):
        problem = web._("Your role may not cancel orders.")
    elif action == "cancel" and not reason.strip():
        problem = web._("Give the reason for cancelling the orders.")
    if problem:
        web.flash("error", problem)
        return web.redirect(back)
    if action == "print":
        return web.redirect("/orders/print?" + urlencode([("order", i) for i in ids]))
    outcomes = bulk.apply_all(web.engine, web.principal, ids, action, reason.strip()[:500])
    rows = [{"id": o.order_id, "ok": o.ok, "already": o.already,
             "status": o.status, "reason": _reason(web, o.error) if o.error else ""} for o in outcomes]
    return web.render("orders_bulk.html", rows=rows, action=web._(BULK_LABELS[action]), back=back,
                      done=sum(1 for r in rows if r["ok"]), refused=sum(1 for r in rows if not r["ok"]))


def _bulk_actions(web: Web) -> list[str]:
    """What the bar offers this role: no cancel without CANCEL_ORDERS, no release for a seller (a seller may
    only hold or cancel: orders/domain/status.py SELLER_MAY)."""
    return [a for a in BULK_LABELS if (a != "cancel" or _may_cancel(web)) and (a != "release" or web.principal.is_staff)]


def _may_cancel(web: Web) -> bool:
    return roles.may(web.principal.role, roles.CANCEL_ORDERS)


def _reason(web: Web, exc: DomainError) -> str:
    """A refusal in the user's language (one place for the error-localization convention to hook into)."""
    return web.error(exc)


@router.get("/orders/print")
def orders_print(web: UserDep, order: list[SafeQuery] = Query(default=[])):  # noqa: B008
    """A printable pick / order list of the selected orders (the floor's view has no prices or contacts)."""
    found, missing = [], []
    with web.uow() as uow:
        for oid in _ids(order):
            try:
                found.append(order_queries.get_order(uow, web.principal, oid))
            except NotFound:
                missing.append(oid)
    return web.render("orders_print.html", orders=found, missing=missing, now=order_queries.utcnow())


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
