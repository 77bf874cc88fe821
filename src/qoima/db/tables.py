"""Database schema (SQLAlchemy Core). Invariants live here too, as constraints:
stock never goes negative and never reserves more than is on hand, one channel
order is one order, ledger quantities are positive."""

from __future__ import annotations

from sqlalchemy import (
    JSON, Boolean, CheckConstraint, Column, Date, DateTime, Float, ForeignKey, ForeignKeyConstraint, Index, Integer,
    LargeBinary, MetaData, Numeric, PrimaryKeyConstraint, String, Table, Text, UniqueConstraint, BigInteger, text,
)

from qoima.db.schema_base import NAMING, Id, created, metadata, pk  # noqa: F401  (re-exported)


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
    # migration 0013: goods received into the dock are reservable there ('reserve') or put away at once into
    # the warehouse's putaway_cells row ('auto_putaway'); stock/services/reservable.py and putaway.py read it
    Column("receiving_mode", String(20), nullable=False, server_default="reserve"),
    CheckConstraint("receiving_mode in ('reserve','auto_putaway')", name="receiving_mode"),
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
    # migration 0014: the delivery (ASN) a receipt was booked against, and who booked it
    Column("asn_id", Id, ForeignKey("inbound_deliveries.id"), index=True),
    Column("actor", String(254), nullable=False, server_default=""),
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

# low-stock alerts per SKU (orders/services/low_stock.py; the rule: stock/domain/low_stock.py): a threshold of
# available units, or days of cover at the sales rate of the last `window_days`; `is_low` is the state of the
# last check, so `stock.low` is sent once per crossing and re-armed when the SKU recovers
stock_alerts = Table(
    "stock_alerts", metadata, pk(),
    Column("seller_id", Id, ForeignKey("sellers.id"), nullable=False, index=True),
    Column("product_id", Id, ForeignKey("products.id"), nullable=False),
    Column("warehouse_id", Id, ForeignKey("warehouses.id")),  # null: all warehouses together
    Column("kind", String(20), nullable=False),
    Column("value", Integer, nullable=False),
    Column("window_days", Integer, nullable=False, server_default="30"),
    Column("is_low", Boolean, nullable=False, server_default="0"),
    Column("last_notified_at", DateTime),
    created(),
    Column("updated_at", DateTime, nullable=False),
    CheckConstraint("kind in ('threshold','days_of_cover')", name="kind"),
    CheckConstraint("(kind = 'threshold' and value >= 0 and value <= 1000000000) or "
                    "(kind = 'days_of_cover' and value >= 1 and value <= 3650)", name="value"),
    CheckConstraint("window_days >= 1 and window_days <= 365", name="window_days"),
)
Index("uq_stock_alerts_scope", stock_alerts.c.product_id, text("coalesce(warehouse_id, 0)"), unique=True)

putaway_cells = Table(  # migration 0013: the cell an 'auto_putaway' warehouse puts received goods into
    "putaway_cells", metadata,
    Column("warehouse_id", Id, ForeignKey("warehouses.id"), primary_key=True),
    Column("location_code", String(40), nullable=False),
    # a location of this same warehouse (its kind, storage, is checked by stock/services/putaway.py)
    ForeignKeyConstraint(["warehouse_id", "location_code"], ["locations.warehouse_id", "locations.code"],
                         name="fk_putaway_cells_warehouse_id_locations"),
)
# search (orders/services/search.py, migration 0015): case-insensitive look-ups by external id, city and a
# line's SKU use these lower() expression indexes; a barcode is looked up across sellers by its code
from sqlalchemy import func  # noqa: E402  (here, with the indexes that need it)

Index("ix_orders_external_id_lower", func.lower(orders.c.external_id))
Index("ix_orders_city_lower", func.lower(orders.c.city))
Index("ix_order_lines_sku_lower", func.lower(order_lines.c.sku))
Index("ix_barcodes_code", barcodes.c.code)
# inbound deliveries (ASN, stock/services/asn.py): a seller announces what is coming; the warehouse receives
# against it in one or more receipts (receipts.asn_id); received_qty is the sum of those receipts' lines
inbound_deliveries = Table(
    "inbound_deliveries", metadata, pk(),
    Column("seller_id", Id, ForeignKey("sellers.id"), nullable=False, index=True),
    Column("warehouse_id", Id, ForeignKey("warehouses.id"), nullable=False),
    Column("supplier", String(200), nullable=False, server_default=""),
    Column("reference", String(100), nullable=False, server_default=""),
    Column("expected_at", Date),
    Column("status", String(30), nullable=False, server_default="announced"),
    Column("created_by", String(254), nullable=False, server_default=""),
    created(),
    Column("closed_at", DateTime),
    Column("closed_by", String(254), nullable=False, server_default=""),
    CheckConstraint("status in ('announced','partially_received','received','closed_with_discrepancies',"
                    "'cancelled')", name="status"),
    CheckConstraint("(closed_at is null) = (status in ('announced','partially_received'))", name="closed_when_final"),
)

inbound_delivery_lines = Table(
    "inbound_delivery_lines", metadata, pk(),
    Column("delivery_id", Id, ForeignKey("inbound_deliveries.id"), nullable=False, index=True),
    Column("product_id", Id, ForeignKey("products.id"), nullable=False),
    Column("expected_qty", Integer, nullable=False, server_default="0"),
    Column("received_qty", Integer, nullable=False, server_default="0"),
    UniqueConstraint("delivery_id", "product_id", name="uq_inbound_delivery_lines_delivery_product"),
    CheckConstraint("expected_qty >= 0 and expected_qty <= 1000000", name="expected_bounds"),
    CheckConstraint("received_qty >= 0", name="received_not_negative"),
)

# the days a warehouse does not work although its working days say it would (migration 0018): the ship-by
# calendar skips them (catalog/domain/calendar.py), every booking writer reads them with the warehouse
warehouse_holidays = Table(
    "warehouse_holidays", metadata, pk(),
    Column("warehouse_id", Id, ForeignKey("warehouses.id"), nullable=False),
    Column("day", Date, nullable=False),
    Column("name", String(100), nullable=False, server_default=""),
    UniqueConstraint("warehouse_id", "day", name="uq_warehouse_holidays_warehouse_day"),
)

# the warehouse floor's tables live in their own module (this one would pass 600 lines); same metadata
from qoima.db.tables_floor import (  # noqa: E402,F401
    box_sizes, floor_scans, manifests, marking_codes, parcels, pick_task_lines, pick_tasks, waves,
)
