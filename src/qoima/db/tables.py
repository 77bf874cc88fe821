"""Database schema (SQLAlchemy Core). Invariants live here too, as constraints:
stock never goes negative and never reserves more than is on hand, one channel
order is one order, ledger quantities are positive."""

from __future__ import annotations

from sqlalchemy import (
    JSON, Boolean, CheckConstraint, Column, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, MetaData,
    Numeric, PrimaryKeyConstraint, String, Table, Text, UniqueConstraint, BigInteger, text,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)
Id = BigInteger().with_variant(Integer, "sqlite")


def pk() -> Column:
    return Column("id", Id, primary_key=True, autoincrement=True)


def created() -> Column:
    return Column("created_at", DateTime, nullable=False)


sellers = Table(
    "sellers", metadata, pk(),
    Column("code", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("webhook_url", String(500)),
    Column("churn_horizon_days", Integer),
    created(),
    # the key webhooks are signed with, sealed with QOIMA_SECRET_KEY (platform/secret_box.py); shown once
    Column("webhook_secret", Text),
)

users = Table(
    "users", metadata, pk(),
    Column("email", String(254), nullable=False, unique=True),
    Column("full_name", String(200), nullable=False, server_default=""),
    Column("password_hash", String(200)),
    Column("role", String(20), nullable=False),
    Column("seller_id", Id, ForeignKey("sellers.id")),
    Column("language", String(5), nullable=False, server_default="ru"),
    Column("is_active", Boolean, nullable=False, server_default="1"),
    # platform/auth.py: a web session carries the version it was signed in with; logout, a password
    # change and "log out everywhere" bump it, which ends every session of the user at once
    Column("session_version", Integer, nullable=False, server_default="0"),
    created(),
    CheckConstraint("role in ('admin','manager','worker','seller')", name="role"),
    CheckConstraint("(role = 'seller') = (seller_id is not null)", name="seller_role_has_seller"),
)

api_tokens = Table(
    "api_tokens", metadata, pk(),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(12), nullable=False),
    Column("name", String(100), nullable=False, server_default=""),
    created(),
    Column("last_used_at", DateTime),
    Column("revoked_at", DateTime),
    Column("expires_at", DateTime),  # null: never (QOIMA_TOKEN_TTL_DAYS=0 when it was made)
)

login_throttle = Table(  # platform/login_throttle.py: failed sign-ins per account and per client address
    "login_throttle", metadata,
    Column("key", String(300), primary_key=True),  # "account:<e-mail>" or "ip:<address>"
    Column("failures", Integer, nullable=False),
    Column("last_attempt_at", DateTime, nullable=False),
    Column("locked_until", DateTime),
    Index("ix_login_throttle_last_attempt_at", "last_attempt_at"),
)

warehouses = Table(
    "warehouses", metadata, pk(),
    Column("code", String(20), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("city", String(100), nullable=False, server_default=""),
    Column("timezone", String(60), nullable=False, server_default="Asia/Almaty"),
    Column("cutoff_time", String(5), nullable=False, server_default="14:00"),
    Column("handover_time", String(5), nullable=False, server_default="18:00"),
    Column("working_days", String(7), nullable=False, server_default="12345"),
    Column("lat", Float),
    Column("lon", Float),
    created(),
    # the floor (migration 0019): the aisle layout pick walks are routed on (floor/domain/routing.py), as JSON
    # {aisles, aisle_length, aisle_spacing, depot_aisle, cross_aisles}; waves released automatically this many
    # minutes before each cut-off (null: by hand only); a picker's cart holds this many totes
    Column("layout", Text),
    Column("auto_release_minutes", Integer),
    Column("cart_capacity", Integer, nullable=False, server_default="6"),
    CheckConstraint("auto_release_minutes is null or (auto_release_minutes >= 0 and auto_release_minutes <= 1440)",
                    name="auto_release_minutes"),
    CheckConstraint("cart_capacity >= 1 and cart_capacity <= 50", name="cart_capacity"),
)

locations = Table(
    "locations", metadata, pk(),
    Column("warehouse_id", Id, ForeignKey("warehouses.id"), nullable=False),
    Column("code", String(40), nullable=False),
    Column("kind", String(20), nullable=False, server_default="storage"),
    Column("zone", String(20), nullable=False, server_default=""),
    Column("aisle", String(20), nullable=False, server_default=""),
    Column("position", String(20), nullable=False, server_default=""),
    Column("level", String(20), nullable=False, server_default=""),
    Column("x", Float, nullable=False, server_default="0"),
    Column("y", Float, nullable=False, server_default="0"),
    UniqueConstraint("warehouse_id", "code", name="uq_locations_warehouse_code"),
    CheckConstraint("kind in ('receiving','storage','shipping','returns','quarantine')", name="kind"),
)

products = Table(
    "products", metadata, pk(),
    Column("seller_id", Id, ForeignKey("sellers.id"), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("name", String(300), nullable=False),
    Column("category", String(100), nullable=False, server_default=""),
    Column("price", Numeric(14, 2), nullable=False, server_default="0"),
    Column("weight_g", Integer, nullable=False, server_default="0"),
    Column("length_mm", Integer, nullable=False, server_default="0"),
    Column("width_mm", Integer, nullable=False, server_default="0"),
    Column("height_mm", Integer, nullable=False, server_default="0"),
    Column("marking_required", Boolean, nullable=False, server_default="0"),
    Column("replenishment_days", Integer),
    created(),
    UniqueConstraint("seller_id", "sku", name="uq_products_seller_sku"),
    CheckConstraint("weight_g >= 0 and length_mm >= 0 and width_mm >= 0 and height_mm >= 0", name="sizes"),
    CheckConstraint("replenishment_days is null or replenishment_days > 0", name="replenishment"),
)

barcodes = Table(
    "barcodes", metadata, pk(),
    Column("seller_id", Id, ForeignKey("sellers.id"), nullable=False),
    Column("product_id", Id, ForeignKey("products.id"), nullable=False, index=True),
    Column("code", String(14), nullable=False),
    UniqueConstraint("seller_id", "code", name="uq_barcodes_seller_code"),
)

stock = Table(  # on PostgreSQL with fillfactor 50 (migration 0002): counters stay on their page when updated
    "stock", metadata, pk(),
    Column("product_id", Id, ForeignKey("products.id"), nullable=False),
    Column("location_id", Id, ForeignKey("locations.id"), nullable=False, index=True),
    Column("warehouse_id", Id, ForeignKey("warehouses.id"), nullable=False),
    Column("on_hand", Integer, nullable=False, server_default="0"),
    Column("reserved", Integer, nullable=False, server_default="0"),
    UniqueConstraint("product_id", "location_id", name="uq_stock_product_location"),
    CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
    CheckConstraint("reserved >= 0 and reserved <= on_hand", name="reserved_within_on_hand"),
    Index("ix_stock_product_warehouse", "product_id", "warehouse_id"),
)

stock_movements = Table(
    "stock_movements", metadata, pk(),
    Column("kind", String(20), nullable=False),
    Column("product_id", Id, ForeignKey("products.id"), nullable=False, index=True),
    Column("from_location_id", Id, ForeignKey("locations.id")),
    Column("to_location_id", Id, ForeignKey("locations.id")),
    Column("quantity", Integer, nullable=False),
    Column("actor", String(254), nullable=False),
    Column("reason", String(500), nullable=False, server_default=""),
    Column("reference", String(100), nullable=False, server_default=""),
    created(),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("kind in ('receipt','putaway','transfer_out','transfer_in','move','pick','adjustment',"
                    "'return','scrap')", name="kind"),
    CheckConstraint("from_location_id is not null or to_location_id is not null", name="has_location"),
)

idempotency_keys = Table(  # platform/idempotency.py: a retried stock operation is done once per key
    "idempotency_keys", metadata, pk(),
    Column("scope", String(200), nullable=False),  # operation kind, seller and user of the caller
    Column("key", String(200), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer),  # null only inside the transaction that claims the key
    Column("response", JSON),
    Column("actor", String(254), nullable=False),
    created(),
    UniqueConstraint("scope", "key", name="uq_idempotency_keys_scope_key"),
    CheckConstraint("status_code is null or (status_code >= 200 and status_code < 300)", name="status_code"),
    Index("ix_idempotency_keys_created_at", "created_at"),
)

customers = Table(
    "customers", metadata, pk(),
    Column("seller_id", Id, ForeignKey("sellers.id"), nullable=False),
    Column("name", String(200), nullable=False, server_default=""),
    Column("phone", String(20)),
    Column("email", String(254)),
    Column("language", String(5), nullable=False, server_default="ru"),
    Column("preferred_channel", String(20), nullable=False, server_default="sms"),
    Column("merged_into_id", Id, ForeignKey("customers.id")),
    created(),
    # contact first: a look-up by e-mail can only use the e-mail index and one by phone only the phone
    # index, whatever the planner's statistics (on fresh tables it once took the phone index for an
    # e-mail look-up and read every customer of the seller)
    Index("ix_customers_phone_seller", "phone", "seller_id"),
    Index("ix_customers_email_seller", "email", "seller_id"),
)

customer_contacts = Table(  # one customer per contact: kept from customers by triggers (migration 0005)
    "customer_contacts", metadata,
    Column("seller_id", Id, ForeignKey("sellers.id"), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("value", String(254), nullable=False),  # normalized as platform/contacts.py does (E.164, lower-case)
    # the surviving customer (merged_into_id or id) of the oldest customer with this contact
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False, index=True),
    PrimaryKeyConstraint("seller_id", "kind", "value", name="pk_customer_contacts"),
    CheckConstraint("kind in ('phone','email')", name="kind"),
    CheckConstraint("(kind = 'phone' and value like '+%') or (kind = 'email' and value like '%@%')",
                    name="normalized"),
)

customer_merges = Table(
    "customer_merges", metadata, pk(),
    Column("seller_id", Id, ForeignKey("sellers.id"), nullable=False),
    Column("kept_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("merged_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("snapshot", JSON, nullable=False),
    Column("actor", String(254), nullable=False),
    created(),
)

# Customer analytics computed by the worker (analytics/services/refresh.py) and read by the pages and the
# API: one row per (seller, kind) and run, the newest two kept. source_version is the state of the seller's
# orders the snapshot was computed from; one snapshot per state and kind.
analytics_snapshots = Table(
    "analytics_snapshots", metadata, pk(),
    Column("seller_id", Id, ForeignKey("sellers.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("source_version", String(100), nullable=False),
    Column("computed_at", DateTime, nullable=False),
    Column("compute_seconds", Float, nullable=False),
    Column("data", JSON, nullable=False),
    UniqueConstraint("seller_id", "kind", "source_version", name="uq_analytics_snapshots_version"),
    CheckConstraint("kind in ('overview','clv','customers','loyalty')", name="kind"),
    CheckConstraint("compute_seconds >= 0", name="compute_seconds_not_negative"),
    Index("ix_analytics_snapshots_latest", "seller_id", "kind", "computed_at"),
)

orders = Table(
    "orders", metadata, pk(),
    Column("seller_id", Id, ForeignKey("sellers.id"), nullable=False),
    Column("channel", String(30), nullable=False),
    Column("external_id", String(100), nullable=False),
    Column("idempotency_key", String(200)),
    Column("request_hash", String(64)),  # SHA-256 of the request taken with idempotency_key: orders/domain/replay.py
    Column("customer_id", Id, ForeignKey("customers.id"), index=True),
    Column("status", String(20), nullable=False),
    Column("delivery_type", String(20), nullable=False),
    Column("address", String(500), nullable=False, server_default=""),
    Column("city", String(100), nullable=False, server_default=""),
    Column("lat", Float),
    Column("lon", Float),
    Column("total", Numeric(14, 2), nullable=False, server_default="0"),
    Column("currency", String(3), nullable=False, server_default="KZT"),
    Column("sourcing_reason", Text, nullable=False, server_default=""),
    Column("ship_by", DateTime),
    Column("promised_delivery_at", DateTime),
    Column("received_at", DateTime, nullable=False),
    Column("shipped_at", DateTime),
    Column("delivered_at", DateTime),
    Column("fulfillment_error", Boolean, nullable=False, server_default="0"),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("seller_id", "channel", "external_id", name="uq_orders_channel_order"),
    UniqueConstraint("seller_id", "idempotency_key", name="uq_orders_idempotency_key"),
    CheckConstraint("delivery_type in ('courier','pickup_point','self_pickup')", name="delivery_type"),
    CheckConstraint("status in ('new','backordered','allocated','picking','picked','packed','shipped','in_transit',"
                    "'out_for_delivery','delivered','on_hold','cancelled','exception','returned')", name="status"),
    Index("ix_orders_seller_status", "seller_id", "status"),
    Index("ix_orders_status_ship_by", "status", "ship_by"),
    Index("ix_orders_received_at", "received_at"),
)

shipments = Table(  # what one warehouse ships of an order: orders/services/shipments.py
    "shipments", metadata, pk(),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False),
    Column("warehouse_id", Id, ForeignKey("warehouses.id"), nullable=False),
    Column("seq", Integer, nullable=False),  # 1 = the plan's first warehouse (whose calendar sets ship-by)
    Column("status", String(20), nullable=False),
    created(),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("order_id", "warehouse_id", name="uq_shipments_order_warehouse"),
    UniqueConstraint("order_id", "seq", name="uq_shipments_order_seq"),
    CheckConstraint("seq >= 1", name="seq_positive"),
    CheckConstraint("status in ('new','backordered','allocated','picking','picked','packed','shipped','in_transit',"
                    "'out_for_delivery','delivered','cancelled','returned')", name="status"),
    Index("ix_shipments_warehouse_status", "warehouse_id", "status"),
)

order_lines = Table(
    "order_lines", metadata, pk(),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("product_id", Id, ForeignKey("products.id"), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Numeric(14, 2), nullable=False),
    Column("backordered", Integer, nullable=False, server_default="0"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("unit_price >= 0", name="price_not_negative"),
    CheckConstraint("backordered >= 0 and backordered <= quantity", name="backordered_within_quantity"),
    Index("ix_order_lines_backorder", "product_id", "backordered"),
)

reservations = Table(
    "reservations", metadata, pk(),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("order_line_id", Id, ForeignKey("order_lines.id"), nullable=False),
    Column("stock_id", Id, ForeignKey("stock.id"), nullable=False, index=True),
    Column("warehouse_id", Id, ForeignKey("warehouses.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    created(),
    CheckConstraint("quantity > 0", name="quantity_positive"),
)

order_events = Table(
    "order_events", metadata, pk(),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("from_status", String(20)),
    Column("to_status", String(20), nullable=False),
    Column("actor", String(254), nullable=False),
    Column("reason", String(500), nullable=False, server_default=""),
    created(),
)

outbox = Table(
    "outbox", metadata, pk(),
    Column("topic", String(60), nullable=False),
    Column("aggregate_id", Id),
    Column("seller_id", Id),
    Column("payload", JSON, nullable=False),
    Column("status", String(10), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("last_error", Text),
    created(),
    Column("handled_at", DateTime),
    # the claim lease: while a worker handles a pending event it holds it until claimed_until
    # (renewed by heartbeats); done/dead events keep claimed_by as the worker that finished them
    Column("claimed_by", String(80)),
    Column("claimed_until", DateTime),
    CheckConstraint("status in ('pending','done','dead')", name="status"),
    CheckConstraint("claimed_until is null or status = 'pending'", name="lease_only_while_pending"),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_aggregate", "aggregate_id", "id"),  # an aggregate's earlier events (handled in order)
    # the queue in written order without walking the done history (a claim went from ~200 ms to ~20 ms
    # with 300,000 done and 300,000 pending events on PostgreSQL)
    Index("ix_outbox_pending", "id", postgresql_where=text("status = 'pending'"),
          sqlite_where=text("status = 'pending'")),
)

receipts = Table(
    "receipts", metadata, pk(),
    Column("seller_id", Id, ForeignKey("sellers.id"), nullable=False),
    Column("warehouse_id", Id, ForeignKey("warehouses.id"), nullable=False),
    Column("supplier", String(200), nullable=False, server_default=""),
    Column("reference", String(100), nullable=False, server_default=""),
    Column("status", String(20), nullable=False, server_default="expected"),
    Column("expected_at", DateTime),
    created(),
    Column("closed_at", DateTime),
    CheckConstraint("status in ('expected','receiving','closed')", name="status"),
)

jobs = Table(  # long work off the request (file imports), run by the worker: platform/jobs.py
    "jobs", metadata, pk(),
    Column("kind", String(40), nullable=False),  # import.orders | import.products | import.stock
    Column("seller_id", Id, ForeignKey("sellers.id")),  # a seller user's own seller: the job is visible to it
    Column("user_id", Id, ForeignKey("users.id")),
    Column("actor", String(254), nullable=False),
    Column("role", String(20), nullable=False),
    Column("status", String(10), nullable=False, server_default="queued"),
    Column("options", JSON, nullable=False),  # what the job was asked (dry_run, filename, content_type)
    Column("input", LargeBinary),  # the uploaded file; dropped when the job has ended
    Column("input_bytes", Integer, nullable=False, server_default="0"),
    Column("stage", String(20), nullable=False, server_default=""),
    Column("progress_done", Integer, nullable=False, server_default="0"),
    Column("progress_total", Integer, nullable=False, server_default="0"),
    Column("report", JSON),  # the per-line report (valid, committed, counts, errors, warnings)
    Column("error", JSON),  # why a job failed without a per-line report (title, detail, field)
    Column("attempts", Integer, nullable=False, server_default="0"),
    created(),
    Column("started_at", DateTime),
    Column("heartbeat_at", DateTime),  # a running job whose worker stopped beating is taken over
    Column("finished_at", DateTime),
    CheckConstraint("status in ('queued','running','done','failed')", name="status"),
    CheckConstraint("progress_done >= 0 and progress_total >= 0 and input_bytes >= 0", name="counters"),
    Index("ix_jobs_status_id", "status", "id"),
    Index("ix_jobs_seller_id", "seller_id", "id"),
)

receipt_lines = Table(
    "receipt_lines", metadata, pk(),
    Column("receipt_id", Id, ForeignKey("receipts.id"), nullable=False, index=True),
    Column("product_id", Id, ForeignKey("products.id"), nullable=False),
    Column("expected_qty", Integer, nullable=False, server_default="0"),
    Column("received_qty", Integer, nullable=False, server_default="0"),
    CheckConstraint("expected_qty >= 0 and received_qty >= 0", name="quantities"),
    UniqueConstraint("receipt_id", "product_id", name="uq_receipt_lines_receipt_product"),
)

transfers = Table(
    "transfers", metadata, pk(),
    Column("seller_id", Id, ForeignKey("sellers.id"), nullable=False),
    Column("from_warehouse_id", Id, ForeignKey("warehouses.id"), nullable=False),
    Column("to_warehouse_id", Id, ForeignKey("warehouses.id"), nullable=False),
    Column("status", String(20), nullable=False, server_default="in_transit"),
    Column("actor", String(254), nullable=False),
    created(),
    Column("received_at", DateTime),
    CheckConstraint("status in ('in_transit','received')", name="status"),
)

transfer_lines = Table(
    "transfer_lines", metadata, pk(),
    Column("transfer_id", Id, ForeignKey("transfers.id"), nullable=False, index=True),
    Column("product_id", Id, ForeignKey("products.id"), nullable=False),
    Column("from_location_id", Id, ForeignKey("locations.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    CheckConstraint("quantity > 0", name="quantity_positive"),
)

returns = Table(
    "returns", metadata, pk(),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("seller_id", Id, ForeignKey("sellers.id"), nullable=False),
    Column("reason", String(200), nullable=False, server_default=""),
    Column("requested_at", DateTime, nullable=False),
    Column("received_at", DateTime),
    Column("processed_at", DateTime),
)

# the worker's snapshot of the gauges /metrics shows (orders and outbox events by status), so that a
# scrape reads a few rows instead of counting the tables (entrypoints/api/metrics.py)
metric_snapshots = Table(
    "metric_snapshots", metadata,
    Column("name", String(60), primary_key=True),
    Column("label", String(60), primary_key=True),
    Column("value", Float, nullable=False),
    Column("taken_at", DateTime, nullable=False),
)


# --- the warehouse floor (migration 0019): floor/services/* ------------------------------------------------------

waves = Table(  # allocated shipments of one warehouse, ship-by deadline and carrier, released together
    "waves", metadata, pk(),
    Column("warehouse_id", Id, ForeignKey("warehouses.id"), nullable=False),
    Column("carrier", String(40), nullable=False),
    Column("ship_by", DateTime),
    Column("status", String(20), nullable=False, server_default="released"),
    Column("released_by", String(254), nullable=False),
    Column("automatic", Boolean, nullable=False, server_default="0"),
    Column("route_length", Float, nullable=False, server_default="0"),
    Column("single_walk", Float, nullable=False, server_default="0"),  # what one order at a time would walk
    created(),
    Column("done_at", DateTime),
    CheckConstraint("status in ('released','done')", name="status"),
    CheckConstraint("route_length >= 0 and single_walk >= 0", name="lengths"),
    Index("ix_waves_warehouse_status", "warehouse_id", "status"),
)

pick_tasks = Table(  # one cart walk (a batch of orders, one tote each) or an exception to resolve
    "pick_tasks", metadata, pk(),
    Column("wave_id", Id, ForeignKey("waves.id"), index=True),
    Column("warehouse_id", Id, ForeignKey("warehouses.id"), nullable=False),
    Column("kind", String(20), nullable=False, server_default="pick"),
    Column("status", String(20), nullable=False, server_default="open"),
    Column("assignee", String(254)),
    Column("route_method", String(40), nullable=False, server_default=""),
    Column("route_length", Float, nullable=False, server_default="0"),
    Column("note", String(500), nullable=False, server_default=""),
    created(),
    Column("started_at", DateTime),
    Column("done_at", DateTime),
    CheckConstraint("kind in ('pick','exception')", name="kind"),
    CheckConstraint("status in ('open','in_progress','done','cancelled')", name="status"),
    CheckConstraint("route_length >= 0", name="route_length"),
    Index("ix_pick_tasks_warehouse_status", "warehouse_id", "status", "id"),
)

pick_task_lines = Table(  # one stop of a walk: this many units of an order line from a location into a tote
    "pick_task_lines", metadata, pk(),
    Column("task_id", Id, ForeignKey("pick_tasks.id"), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("shipment_id", Id, ForeignKey("shipments.id"), nullable=False),
    Column("order_line_id", Id, ForeignKey("order_lines.id"), nullable=False),
    Column("product_id", Id, ForeignKey("products.id"), nullable=False),
    Column("location_id", Id, ForeignKey("locations.id"), nullable=False),
    Column("tote", Integer, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("picked", Integer, nullable=False, server_default="0"),
    Column("short", Integer, nullable=False, server_default="0"),
    Column("at_location", Boolean, nullable=False, server_default="0"),  # the picker scanned the location
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("tote >= 1 and seq >= 1", name="tote_seq"),
    CheckConstraint("picked >= 0 and short >= 0 and picked + short <= quantity", name="picked_within_quantity"),
    UniqueConstraint("task_id", "seq", name="uq_pick_task_lines_task_seq"),
)

floor_scans = Table(  # every scan on the floor, accepted or refused, once per client operation id
    "floor_scans", metadata, pk(),
    Column("actor", String(254), nullable=False),
    Column("op_id", String(200), nullable=False),
    Column("stage", String(20), nullable=False),  # pick | pack | handover
    Column("kind", String(20), nullable=False),  # location | item | quantity | short | undo | tote | parcel
    Column("task_id", Id, ForeignKey("pick_tasks.id")),
    Column("line_id", Id, ForeignKey("pick_task_lines.id")),
    Column("order_id", Id, ForeignKey("orders.id")),
    Column("order_line_id", Id, ForeignKey("order_lines.id")),
    Column("raw", String(500), nullable=False, server_default=""),
    Column("quantity", Integer, nullable=False, server_default="0"),
    Column("accepted", Boolean, nullable=False),
    Column("code", String(60), nullable=False, server_default=""),  # why it was refused (floor.wrong_item ...)
    Column("undone", Boolean, nullable=False, server_default="0"),
    Column("response", JSON, nullable=False),
    created(),
    UniqueConstraint("actor", "op_id", name="uq_floor_scans_actor_op"),
    CheckConstraint("stage in ('pick','pack','handover')", name="stage"),
    CheckConstraint("quantity >= 0", name="quantity"),
    Index("ix_floor_scans_created_at", "created_at"),
    Index("ix_floor_scans_order", "order_id", "stage"),
)

marking_codes = Table(  # one code = one physical unit: a code seen twice, in any warehouse, is refused
    "marking_codes", metadata, pk(),
    Column("code", String(200), nullable=False, unique=True),  # canonical, GS as ASCII 29
    Column("gtin", String(14), nullable=False, server_default=""),
    Column("product_id", Id, ForeignKey("products.id"), nullable=False),
    Column("order_id", Id, ForeignKey("orders.id")),
    Column("scan_id", Id, ForeignKey("floor_scans.id")),
    Column("actor", String(254), nullable=False),
    created(),
)

box_sizes = Table(  # the cartons the packing station suggests from (floor/domain/boxes.py)
    "box_sizes", metadata, pk(),
    Column("code", String(20), nullable=False, unique=True),
    Column("length_mm", Integer, nullable=False),
    Column("width_mm", Integer, nullable=False),
    Column("height_mm", Integer, nullable=False),
    Column("max_weight_g", Integer, nullable=False),
    Column("active", Boolean, nullable=False, server_default="1"),
    CheckConstraint("length_mm > 0 and width_mm > 0 and height_mm > 0 and max_weight_g > 0", name="sizes"),
    CheckConstraint("length_mm <= 5000 and width_mm <= 5000 and height_mm <= 5000 and max_weight_g <= 1000000",
                    name="bounds"),
)

manifests = Table(  # parcels handed to one carrier at one pickup
    "manifests", metadata, pk(),
    Column("warehouse_id", Id, ForeignKey("warehouses.id"), nullable=False),
    Column("carrier", String(40), nullable=False),
    Column("status", String(10), nullable=False, server_default="open"),
    Column("actor", String(254), nullable=False),
    created(),
    Column("closed_at", DateTime),
    Column("missing", JSON),  # at closing: the parcels expected but not scanned
    CheckConstraint("status in ('open','closed')", name="status"),
    CheckConstraint("(status = 'closed') = (closed_at is not null)", name="closed_at"),
)

parcels = Table(  # what a packed shipment leaves in: one or several boxes, each with a label
    "parcels", metadata, pk(),
    Column("shipment_id", Id, ForeignKey("shipments.id"), nullable=False, index=True),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("parcel_no", Integer, nullable=False),
    Column("tracking", String(40), nullable=False, unique=True),
    Column("carrier", String(40), nullable=False),
    Column("box_code", String(20), nullable=False, server_default=""),
    Column("weight_g", Integer, nullable=False),
    Column("length_mm", Integer, nullable=False, server_default="0"),
    Column("width_mm", Integer, nullable=False, server_default="0"),
    Column("height_mm", Integer, nullable=False, server_default="0"),
    Column("manifest_id", Id, ForeignKey("manifests.id"), index=True),
    Column("handed_at", DateTime),
    created(),
    UniqueConstraint("shipment_id", "parcel_no", name="uq_parcels_shipment_no"),
    CheckConstraint("parcel_no >= 1", name="parcel_no"),
    CheckConstraint("weight_g > 0 and weight_g <= 1000000", name="weight"),
    CheckConstraint("length_mm >= 0 and width_mm >= 0 and height_mm >= 0", name="sizes"),
)
