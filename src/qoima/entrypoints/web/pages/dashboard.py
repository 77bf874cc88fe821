"""The dashboard: SLA KPIs of the open orders and of the last 30 days."""

from __future__ import annotations

from qoima.orders.domain.status import Status
from qoima.orders.services import queries as order_queries
from qoima.entrypoints.web import charts, i18n
from qoima.entrypoints.web.common import UserDep, page_router

router = page_router()


@router.get("/")
def dashboard(web: UserDep):
    with web.uow() as uow:
        k = order_queries.kpis(uow, web.principal)
    by_status = k["orders_by_status"]
    statuses = [s.value for s in Status if by_status.get(s.value)]
    chart = charts.bar_chart([web._(i18n.STATUS_LABELS[s]) for s in statuses], [by_status[s] for s in statuses],
                             horizontal=True, colors=[i18n.STATUS_CHART_COLORS[s] for s in statuses],
                             value_fmt=lambda v: i18n.fmt_number(v, web.lang, 0),
                             width=560) if statuses else None
    return web.render("dashboard.html", k=k, chart=chart, total_orders=sum(by_status.values()),
                      by_status=[(s, by_status[s]) for s in statuses])
