"""The warehouse floor's tables (migration 0019; floor/services/*), on the shared metadata of db/tables.py."""

from __future__ import annotations

from sqlalchemy import (
    JSON, Boolean, CheckConstraint, Column, DateTime, Float, ForeignKey, Index, Integer, String, Table, UniqueConstraint,
)

from qoima.db.schema_base import Id, created, metadata, pk

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
    # an exception: the order it is about, and how the shift lead resolved it (migration 0020)
    Column("order_id", Id, ForeignKey("orders.id")),
    Column("resolved_by", String(254)),
    Column("resolved_at", DateTime),
    Column("resolution", String(20)),  # resource | cancel | close
    Column("resolution_note", String(500)),
    CheckConstraint("kind in ('pick','exception')", name="kind"),
    CheckConstraint("resolution is null or resolution in ('resource','cancel','close')", name="resolution"),
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
    Column("shipment_id", Id, ForeignKey("shipments.id")),  # pack scans: the shipment packed (one per warehouse)
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
