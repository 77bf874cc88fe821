"""Low-stock alerts (/alerts): the alerts of the seller with each SKU's available units, sales rate and
days of cover, the SKUs low now first, and a form to set or clear the alert of a SKU. A seller sees and sets
its own; staff pick a seller (`?seller=`). The worker sends `stock.low` once per crossing
(orders/services/low_stock.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form

from qoima.entrypoints.web import lookups
from qoima.entrypoints.web.common import CsrfDep, UserDep, Web, int_param, page_router
from qoima.entrypoints.web.i18n import N_
from qoima.orders.services import low_stock
from qoima.platform.bounds import SafeQuery, Text
from qoima.platform.errors import DomainError, NotFound
from qoima.stock.domain.low_stock import KINDS
from qoima.stock.services import alerts

router = page_router()
KIND_LABELS = {"threshold": N_("Threshold (units available)"), "days_of_cover": N_("Days of cover")}


def _page(web: Web, seller: str | None, form: dict | None = None, form_error: str | None = None,
          status: int = 200):
    p = web.principal
    with web.uow() as uow:
        sellers = lookups.sellers(uow, p) if p.is_staff else []
        seller_id = lookups.seller_id_by_code(uow, p, seller) if p.is_staff and seller else None
        if p.is_staff and seller and seller_id is None:
            raise NotFound("no such seller", field="seller", code="catalog.seller_not_found")
        items = low_stock.current(uow, p, seller_id=seller_id)
        warehouses = lookups.warehouses(uow)
    form = form or {"sku": "", "kind": "threshold", "value": "", "window_days": "30", "warehouse": "",
                    "seller": seller or ""}
    return web.render("alerts.html", status=status, items=items, sellers=sellers, warehouses=warehouses,
                      seller=seller or "", form=form, form_error=form_error, kinds=KINDS, kind_labels=KIND_LABELS,
                      low_count=sum(1 for i in items if i["low"]))


@router.get("/alerts")
def alerts_page(web: UserDep, seller: SafeQuery | None = None, sku: SafeQuery | None = None):
    seller = (seller or "").strip() if web.principal.is_staff else ""
    form = {"sku": (sku or "").strip(), "kind": "threshold", "value": "", "window_days": "30", "warehouse": "",
            "seller": seller}
    return _page(web, seller or None, form)


@router.post("/alerts")
def alerts_post(web: UserDep, _csrf: CsrfDep, action: Annotated[Text(10), Form()] = "set",
                sku: Annotated[Text(64), Form()] = "", kind: Annotated[Text(20), Form()] = "threshold",
                value: Annotated[Text(20), Form()] = "", window_days: Annotated[Text(20), Form()] = "30",
                warehouse: Annotated[Text(40), Form()] = "", seller: Annotated[Text(40), Form()] = "",
                alert_id: Annotated[Text(20), Form()] = ""):
    p = web.principal
    seller = seller.strip() if p.is_staff else ""
    back = "/alerts" + (f"?seller={seller}" if seller else "")
    if action == "clear":
        aid = int_param(alert_id, 0, minimum=0)
        web.run(lambda uow: alerts.clear_alert(uow, p, aid))  # another seller's alert: the 404 page
        web.flash("success", web._("The alert was cleared."))
        return web.redirect(back)
    form = {"sku": sku.strip(), "kind": kind, "value": value.strip(), "window_days": window_days.strip(),
            "warehouse": warehouse.strip(), "seller": seller}
    number, days = int_param(form["value"]), int_param(form["window_days"])
    if number is None:
        return _page(web, seller or None, form, web._("Enter the alert's value as a whole number."), 422)
    if days is None:
        return _page(web, seller or None, form, web._("Enter the sales window in days."), 422)
    if p.is_staff and not seller:
        return _page(web, None, form, web._("Choose the seller."), 422)
    data = alerts.AlertIn(sku=form["sku"], kind=kind, value=number, seller=seller or None,
                          warehouse=form["warehouse"] or None, window_days=days)
    try:
        web.run(lambda uow: alerts.set_alert(uow, p, data))
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        return _page(web, seller or None, form, web._("The alert was not saved: %(reason)s", reason=web.error(exc)),
                     exc.status if exc.status < 500 else 422)
    web.flash("success", web._("The alert of %(sku)s was saved.", sku=data.sku))
    return web.redirect(back)
