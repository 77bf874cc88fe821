"""Exporting the order list (/orders/export?format=csv|xlsx plus the list's filters: status, seller,
channel, warehouse, q, late; other parameters, such as page, are ignored).

A seller gets only its own orders (its `seller=` is ignored), the floor exports nothing (the role matrix).
The column headers are in the user's language, times are warehouse time with the offset; every text cell goes through platform/export_safety.py
(no formula injection). The CSV is streamed batch by batch (orders/services/export.py)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timezone

from fastapi.responses import Response, StreamingResponse

from qoima.entrypoints.web import i18n
from qoima.entrypoints.web.common import UserDep, Web, page_router
from qoima.entrypoints.web.i18n import N_
from qoima.orders.services import export
from qoima.platform.bounds import SafeQuery
from qoima.platform.export_safety import CSV_MEDIA, XLSX_MEDIA, neutralise, xlsx_bytes

router = page_router()
HEADERS = {"id": N_("Order"), "external_id": N_("Order number"), "seller": N_("Seller"), "channel": N_("Channel"),
           "status": N_("Status"), "customer": N_("Customer"), "phone": N_("Phone"), "email": N_("E-mail"),
           "delivery_type": N_("Delivery"), "city": N_("City"), "address": N_("Address"),
           "warehouses": N_("Warehouse"), "items": N_("Items"), "total": N_("Total"), "currency": N_("Currency"),
           "received_at": N_("Received"), "ship_by": N_("Ship by"), "shipped_at": N_("Shipped"),
           "delivered_at": N_("Delivered")}


def _local(value):
    """A stored (naive UTC) time as warehouse time with its offset, e.g. 2026-12-03 22:52:00+05:00."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(i18n.WAREHOUSE_TZ).isoformat(sep=" ", timespec="seconds")
    return value


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _local(value)
    if isinstance(value, date):
        return value.isoformat()
    return neutralise(value) if isinstance(value, str) else value


def _csv_stream(header: list[str], rows):
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([neutralise(h) for h in header])
    yield "\ufeff" + buf.getvalue()  # a BOM: Excel reads the file as UTF-8
    for n, row in enumerate(rows, 1):
        buf.seek(0)
        buf.truncate()
        writer.writerow([_cell(v) for v in row])
        yield buf.getvalue()


def _labels(web: Web, cols) -> list[str]:
    return [web._(HEADERS[c]) for c in cols]


def _xlsx_row(row):
    return [float(v) if hasattr(v, "as_tuple") else _local(v) for v in row]  # a Decimal total as a number


@router.get("/orders/export")
def export_orders(web: UserDep, format: SafeQuery | None = None, status: SafeQuery | None = None,
                  seller: SafeQuery | None = None, channel: SafeQuery | None = None,
                  warehouse: SafeQuery | None = None, q: SafeQuery | None = None, late: SafeQuery | None = None):
    p = web.principal
    f = export.Filters(status=status or None, seller=(seller or None) if p.is_staff else None,
                       channel=channel or None, warehouse=warehouse or None, q=(q or "").strip() or None,
                       late=late in ("1", "on", "true"))
    cols = export.columns(p)
    rows = export.rows(web.engine, p, f)
    stamp = datetime.now(i18n.WAREHOUSE_TZ).strftime("%Y%m%d-%H%M")
    if format == "xlsx":
        body = xlsx_bytes(_labels(web, cols), (_xlsx_row(r) for r in rows), sheet="orders")
        return Response(body, media_type=XLSX_MEDIA, headers={
            "Content-Disposition": f'attachment; filename="orders-{stamp}.xlsx"', "Cache-Control": "no-store"})
    return StreamingResponse(_csv_stream(_labels(web, cols), rows), media_type=CSV_MEDIA, headers={
        "Content-Disposition": f'attachment; filename="orders-{stamp}.csv"', "Cache-Control": "no-store"})
