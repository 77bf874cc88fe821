"""Reading a seller's order history out of the database as the Polars frame
that the customer analytics in `qoima.domain` expect (one row per order).

Experience of an order, as the loyalty report uses it:
- shipped_same_day: shipped no later than its ship-by deadline (the same-day promise);
- delivered_on_time: delivered no later than the promised delivery time (when no
  promise was recorded: within 3 days after the ship-by deadline);
- fulfillment_error: wrong item / pick-pack error / complaint recorded on the order;
- return_days: days from the return's arrival at the warehouse to its processing.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from sqlalchemy import Engine, func, select

from qoima.db import tables as t

DEFAULT_PROMISE = timedelta(days=3)
SCHEMA = {"order_id": pl.Int64, "customer_id": pl.Int64, "created_at": pl.Datetime("us"), "amount": pl.Float64,
          "status": pl.Utf8, "ship_by": pl.Datetime("us"), "shipped_at": pl.Datetime("us"),
          "delivered_at": pl.Datetime("us"), "promised_delivery_at": pl.Datetime("us"),
          "fulfillment_error": pl.Boolean, "return_received_at": pl.Datetime("us"),
          "return_processed_at": pl.Datetime("us")}


def orders_query(seller_id: int):
    ret = (select(t.returns.c.order_id, func.min(t.returns.c.received_at).label("received_at"),
                  func.max(t.returns.c.processed_at).label("processed_at"))
           .group_by(t.returns.c.order_id).subquery())
    cust = func.coalesce(t.customers.c.merged_into_id, t.customers.c.id)
    return (select(t.orders.c.id.label("order_id"), cust.label("customer_id"),
                   t.orders.c.received_at.label("created_at"), t.orders.c.total.label("amount"), t.orders.c.status,
                   t.orders.c.ship_by, t.orders.c.shipped_at, t.orders.c.delivered_at,
                   t.orders.c.promised_delivery_at, t.orders.c.fulfillment_error,
                   ret.c.received_at.label("return_received_at"), ret.c.processed_at.label("return_processed_at"))
            .join(t.customers, t.customers.c.id == t.orders.c.customer_id)
            .outerjoin(ret, ret.c.order_id == t.orders.c.id)
            .where(t.orders.c.seller_id == seller_id))


def load_orders(engine: Engine, seller_id: int) -> pl.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(orders_query(seller_id))
        rows = [tuple(r) for r in result]
    raw = pl.DataFrame(rows, schema=SCHEMA, orient="row") if rows else pl.DataFrame(schema=SCHEMA)
    return to_analytics_frame(raw)


def to_analytics_frame(raw: pl.DataFrame) -> pl.DataFrame:
    promise = pl.coalesce(pl.col("promised_delivery_at"), pl.col("ship_by") + DEFAULT_PROMISE)
    return raw.select(
        "order_id", "customer_id", "created_at", pl.col("amount").cast(pl.Float64),
        pl.when(pl.col("shipped_at").is_not_null())
        .then(pl.col("ship_by").is_null() | (pl.col("shipped_at") <= pl.col("ship_by")))
        .alias("shipped_same_day"),
        pl.when(pl.col("delivered_at").is_not_null()).then(pl.col("delivered_at") <= promise)
        .alias("delivered_on_time"),
        pl.col("fulfillment_error").fill_null(False),
        ((pl.col("return_processed_at") - pl.col("return_received_at")).dt.total_seconds() / 86_400)
        .alias("return_days"),
        (pl.col("status") == "cancelled").alias("cancelled"),
    )
