"""the warehouse floor: waves, pick tasks and their lines (with the tote), scans with client operation
ids, marking codes (unique: one code is one unit), box sizes, parcels and courier manifests; the
warehouse's aisle layout, auto-release lead time and cart capacity

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 17:20:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

# the cartons a new installation starts with (editable on the floor settings page)
DEFAULT_BOXES = [("S", 250, 180, 100, 5000), ("M", 350, 250, 150, 10000), ("L", 500, 350, 250, 20000),
                 ("XL", 600, 400, 400, 30000)]

AUTO_RELEASE = 'auto_release_minutes is null or (auto_release_minutes >= 0 and auto_release_minutes <= 1440)'
CART = 'cart_capacity >= 1 and cart_capacity <= 50'


def upgrade() -> None:
    op.create_table('box_sizes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('length_mm', sa.Integer(), nullable=False),
    sa.Column('width_mm', sa.Integer(), nullable=False),
    sa.Column('height_mm', sa.Integer(), nullable=False),
    sa.Column('max_weight_g', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), server_default='1', nullable=False),
    sa.CheckConstraint('length_mm <= 5000 and width_mm <= 5000 and height_mm <= 5000 and max_weight_g <= 1000000', name=op.f('ck_box_sizes_bounds')),
    sa.CheckConstraint('length_mm > 0 and width_mm > 0 and height_mm > 0 and max_weight_g > 0', name=op.f('ck_box_sizes_sizes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_box_sizes')),
    sa.UniqueConstraint('code', name=op.f('uq_box_sizes_code'))
    )
    op.create_table('manifests',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('warehouse_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('carrier', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='open', nullable=False),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('missing', sa.JSON(), nullable=True),
    sa.CheckConstraint("(status = 'closed') = (closed_at is not null)", name=op.f('ck_manifests_closed_at')),
    sa.CheckConstraint("status in ('open','closed')", name=op.f('ck_manifests_status')),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouses.id'], name=op.f('fk_manifests_warehouse_id_warehouses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_manifests'))
    )
    op.create_table('waves',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('warehouse_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('carrier', sa.String(length=40), nullable=False),
    sa.Column('ship_by', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=20), server_default='released', nullable=False),
    sa.Column('released_by', sa.String(length=254), nullable=False),
    sa.Column('automatic', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('route_length', sa.Float(), server_default='0', nullable=False),
    sa.Column('single_walk', sa.Float(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status in ('released','done')", name=op.f('ck_waves_status')),
    sa.CheckConstraint('route_length >= 0 and single_walk >= 0', name=op.f('ck_waves_lengths')),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouses.id'], name=op.f('fk_waves_warehouse_id_warehouses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waves'))
    )
    with op.batch_alter_table('waves', schema=None) as batch_op:
        batch_op.create_index('ix_waves_warehouse_status', ['warehouse_id', 'status'], unique=False)

    op.create_table('pick_tasks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('wave_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('warehouse_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=20), server_default='pick', nullable=False),
    sa.Column('status', sa.String(length=20), server_default='open', nullable=False),
    sa.Column('assignee', sa.String(length=254), nullable=True),
    sa.Column('route_method', sa.String(length=40), server_default='', nullable=False),
    sa.Column('route_length', sa.Float(), server_default='0', nullable=False),
    sa.Column('note', sa.String(length=500), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("kind in ('pick','exception')", name=op.f('ck_pick_tasks_kind')),
    sa.CheckConstraint("status in ('open','in_progress','done','cancelled')", name=op.f('ck_pick_tasks_status')),
    sa.CheckConstraint('route_length >= 0', name=op.f('ck_pick_tasks_route_length')),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouses.id'], name=op.f('fk_pick_tasks_warehouse_id_warehouses')),
    sa.ForeignKeyConstraint(['wave_id'], ['waves.id'], name=op.f('fk_pick_tasks_wave_id_waves')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pick_tasks'))
    )
    with op.batch_alter_table('pick_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_pick_tasks_warehouse_status', ['warehouse_id', 'status', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pick_tasks_wave_id'), ['wave_id'], unique=False)

    op.create_table('parcels',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('shipment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('parcel_no', sa.Integer(), nullable=False),
    sa.Column('tracking', sa.String(length=40), nullable=False),
    sa.Column('carrier', sa.String(length=40), nullable=False),
    sa.Column('box_code', sa.String(length=20), server_default='', nullable=False),
    sa.Column('weight_g', sa.Integer(), nullable=False),
    sa.Column('length_mm', sa.Integer(), server_default='0', nullable=False),
    sa.Column('width_mm', sa.Integer(), server_default='0', nullable=False),
    sa.Column('height_mm', sa.Integer(), server_default='0', nullable=False),
    sa.Column('manifest_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('handed_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('length_mm >= 0 and width_mm >= 0 and height_mm >= 0', name=op.f('ck_parcels_sizes')),
    sa.CheckConstraint('parcel_no >= 1', name=op.f('ck_parcels_parcel_no')),
    sa.CheckConstraint('weight_g > 0 and weight_g <= 1000000', name=op.f('ck_parcels_weight')),
    sa.ForeignKeyConstraint(['manifest_id'], ['manifests.id'], name=op.f('fk_parcels_manifest_id_manifests')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_parcels_order_id_orders')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_parcels_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_parcels')),
    sa.UniqueConstraint('shipment_id', 'parcel_no', name='uq_parcels_shipment_no'),
    sa.UniqueConstraint('tracking', name=op.f('uq_parcels_tracking'))
    )
    with op.batch_alter_table('parcels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_parcels_manifest_id'), ['manifest_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_parcels_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_parcels_shipment_id'), ['shipment_id'], unique=False)

    op.create_table('pick_task_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shipment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('location_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tote', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('picked', sa.Integer(), server_default='0', nullable=False),
    sa.Column('short', sa.Integer(), server_default='0', nullable=False),
    sa.Column('at_location', sa.Boolean(), server_default='0', nullable=False),
    sa.CheckConstraint('picked >= 0 and short >= 0 and picked + short <= quantity', name=op.f('ck_pick_task_lines_picked_within_quantity')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_pick_task_lines_quantity_positive')),
    sa.CheckConstraint('tote >= 1 and seq >= 1', name=op.f('ck_pick_task_lines_tote_seq')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_pick_task_lines_location_id_locations')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_pick_task_lines_order_id_orders')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_pick_task_lines_order_line_id_order_lines')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_pick_task_lines_product_id_products')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_pick_task_lines_shipment_id_shipments')),
    sa.ForeignKeyConstraint(['task_id'], ['pick_tasks.id'], name=op.f('fk_pick_task_lines_task_id_pick_tasks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pick_task_lines')),
    sa.UniqueConstraint('task_id', 'seq', name='uq_pick_task_lines_task_seq')
    )
    with op.batch_alter_table('pick_task_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pick_task_lines_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pick_task_lines_task_id'), ['task_id'], unique=False)

    op.create_table('floor_scans',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('op_id', sa.String(length=200), nullable=False),
    sa.Column('stage', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('task_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('raw', sa.String(length=500), server_default='', nullable=False),
    sa.Column('quantity', sa.Integer(), server_default='0', nullable=False),
    sa.Column('accepted', sa.Boolean(), nullable=False),
    sa.Column('code', sa.String(length=60), server_default='', nullable=False),
    sa.Column('undone', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("stage in ('pick','pack','handover')", name=op.f('ck_floor_scans_stage')),
    sa.CheckConstraint('quantity >= 0', name=op.f('ck_floor_scans_quantity')),
    sa.ForeignKeyConstraint(['line_id'], ['pick_task_lines.id'], name=op.f('fk_floor_scans_line_id_pick_task_lines')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_floor_scans_order_id_orders')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_floor_scans_order_line_id_order_lines')),
    sa.ForeignKeyConstraint(['task_id'], ['pick_tasks.id'], name=op.f('fk_floor_scans_task_id_pick_tasks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_floor_scans')),
    sa.UniqueConstraint('actor', 'op_id', name='uq_floor_scans_actor_op')
    )
    with op.batch_alter_table('floor_scans', schema=None) as batch_op:
        batch_op.create_index('ix_floor_scans_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_floor_scans_order', ['order_id', 'stage'], unique=False)

    op.create_table('marking_codes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=200), nullable=False),
    sa.Column('gtin', sa.String(length=14), server_default='', nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('scan_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_marking_codes_order_id_orders')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_marking_codes_product_id_products')),
    sa.ForeignKeyConstraint(['scan_id'], ['floor_scans.id'], name=op.f('fk_marking_codes_scan_id_floor_scans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marking_codes')),
    sa.UniqueConstraint('code', name=op.f('uq_marking_codes_code'))
    )
    if op.get_bind().dialect.name == 'sqlite':
        # ADD COLUMN with a column CHECK: a batch re-creation of warehouses would drop a table other tables
        # reference, which SQLite refuses once there is data (as in 0013)
        op.execute("ALTER TABLE warehouses ADD COLUMN layout TEXT")
        op.execute(f"ALTER TABLE warehouses ADD COLUMN auto_release_minutes INTEGER "
                   f"CONSTRAINT ck_warehouses_auto_release_minutes CHECK ({AUTO_RELEASE})")
        op.execute(f"ALTER TABLE warehouses ADD COLUMN cart_capacity INTEGER DEFAULT 6 NOT NULL "
                   f"CONSTRAINT ck_warehouses_cart_capacity CHECK ({CART})")
    else:
        op.add_column('warehouses', sa.Column('layout', sa.Text(), nullable=True))
        op.add_column('warehouses', sa.Column('auto_release_minutes', sa.Integer(), nullable=True))
        op.add_column('warehouses', sa.Column('cart_capacity', sa.Integer(), server_default='6', nullable=False))
        op.create_check_constraint(op.f('ck_warehouses_auto_release_minutes'), 'warehouses', AUTO_RELEASE)
        op.create_check_constraint(op.f('ck_warehouses_cart_capacity'), 'warehouses', CART)

    boxes = sa.table('box_sizes', sa.column('code', sa.String), sa.column('length_mm', sa.Integer),
                     sa.column('width_mm', sa.Integer), sa.column('height_mm', sa.Integer),
                     sa.column('max_weight_g', sa.Integer), sa.column('active', sa.Boolean))
    op.bulk_insert(boxes, [{"code": c, "length_mm": l, "width_mm": w, "height_mm": h, "max_weight_g": g,
                            "active": True} for c, l, w, h, g in DEFAULT_BOXES])


def downgrade() -> None:
    with op.batch_alter_table('warehouses', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_warehouses_cart_capacity'), type_='check')
        batch_op.drop_constraint(op.f('ck_warehouses_auto_release_minutes'), type_='check')
        batch_op.drop_column('cart_capacity')
        batch_op.drop_column('auto_release_minutes')
        batch_op.drop_column('layout')

    op.drop_table('marking_codes')
    with op.batch_alter_table('floor_scans', schema=None) as batch_op:
        batch_op.drop_index('ix_floor_scans_order')
        batch_op.drop_index('ix_floor_scans_created_at')

    op.drop_table('floor_scans')
    with op.batch_alter_table('pick_task_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pick_task_lines_task_id'))
        batch_op.drop_index(batch_op.f('ix_pick_task_lines_order_id'))

    op.drop_table('pick_task_lines')
    with op.batch_alter_table('parcels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_parcels_shipment_id'))
        batch_op.drop_index(batch_op.f('ix_parcels_order_id'))
        batch_op.drop_index(batch_op.f('ix_parcels_manifest_id'))

    op.drop_table('parcels')
    with op.batch_alter_table('pick_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pick_tasks_wave_id'))
        batch_op.drop_index('ix_pick_tasks_warehouse_status')

    op.drop_table('pick_tasks')
    with op.batch_alter_table('waves', schema=None) as batch_op:
        batch_op.drop_index('ix_waves_warehouse_status')

    op.drop_table('waves')
    op.drop_table('manifests')
    op.drop_table('box_sizes')
