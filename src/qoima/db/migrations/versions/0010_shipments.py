"""shipments: what each warehouse ships of an order, replacing orders.warehouses;
orders.request_hash: the fingerprint of a request taken with an Idempotency-Key

An order sourced from two warehouses has two shipments (order, warehouse, seq,
status); the floor, carriers and returns hang parcels, waybills and tracking on
them. The comma-joined `orders.warehouses` is copied into shipments and dropped.
On PostgreSQL express intake books with book_order_v3 (it writes the shipments);
book_order() (0002) and book_order_v2() (0004) wrote the dropped column, so they
are dropped too (an old process still calling them gets UndefinedFunction and
takes its careful path, which fails cleanly until it is replaced).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 13:20:00
"""
from alembic import op
import sqlalchemy as sa

from qoima.db import functions

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
STATUSES = ("'new','backordered','allocated','picking','picked','packed','shipped','in_transit',"
            "'out_for_delivery','delivered','cancelled','returned'")
HELD = ('on_hold', 'exception')  # a held order's shipments keep the status they had: the last one before the hold
BEFORE_HOLD = ("(SELECT e.from_status FROM order_events e WHERE e.order_id = o.id AND e.to_status = o.status "
               "ORDER BY e.id DESC LIMIT 1)")


def upgrade() -> None:
    op.create_table('shipments',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('order_id', Id, nullable=False),
    sa.Column('warehouse_id', Id, nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('seq >= 1', name=op.f('ck_shipments_seq_positive')),
    sa.CheckConstraint(f'status in ({STATUSES})', name=op.f('ck_shipments_status')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_shipments_order_id_orders')),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouses.id'], name=op.f('fk_shipments_warehouse_id_warehouses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipments')),
    sa.UniqueConstraint('order_id', 'warehouse_id', name='uq_shipments_order_warehouse'),
    sa.UniqueConstraint('order_id', 'seq', name='uq_shipments_order_seq'),
    )
    op.create_index('ix_shipments_warehouse_status', 'shipments', ['warehouse_id', 'status'], unique=False)
    _copy_in()
    op.add_column('orders', sa.Column('request_hash', sa.String(length=64), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute("DROP FUNCTION IF EXISTS book_order_v2(jsonb)")
        _drop_book_order_overloads()
        op.execute(functions.source("book_order_v3"))
    # a plain ALTER on both (SQLite >= 3.35 drops a column in place; a batch copy of `orders` would
    # have to drop the table that order_lines, reservations, ... refer to)
    op.drop_column('orders', 'warehouses')


def _drop_book_order_overloads() -> None:
    """book_order() of 0002, whatever its argument list: drop every overload by its oid."""
    rows = op.get_bind().execute(sa.text(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE p.proname = 'book_order' AND n.nspname = current_schema()")).scalars().all()
    for signature in rows:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")


def _copy_in() -> None:
    """orders.warehouses ('ALA,AST') -> one shipment per code, seq in the written order."""
    bind = op.get_bind()
    held = "', '".join(HELD)
    status = (f"CASE WHEN o.status NOT IN ('{held}') THEN o.status "
              f"WHEN coalesce({BEFORE_HOLD}, 'on_hold') IN ('{held}') THEN 'allocated' ELSE {BEFORE_HOLD} END")
    if bind.dialect.name == 'postgresql':
        op.execute(f"""
            INSERT INTO shipments (order_id, warehouse_id, seq, status, created_at, updated_at)
            SELECT o.id, w.id, c.n, {status}, o.received_at, o.updated_at
              FROM orders o
              CROSS JOIN LATERAL unnest(string_to_array(o.warehouses, ',')) WITH ORDINALITY AS c(code, n)
              JOIN warehouses w ON w.code = c.code
             WHERE o.warehouses <> ''""")
        return
    codes = dict(bind.execute(sa.text("SELECT code, id FROM warehouses")).all())
    rows = []
    for oid, whs, st, received, updated in bind.execute(sa.text(
            f"SELECT o.id, o.warehouses, {status}, o.received_at, o.updated_at FROM orders o "
            "WHERE o.warehouses <> ''")):
        for n, code in enumerate((c for c in whs.split(',') if c in codes), start=1):
            rows.append({"o": oid, "w": codes[code], "n": n, "s": st, "c": received, "u": updated})
    if rows:
        bind.execute(sa.text("INSERT INTO shipments (order_id, warehouse_id, seq, status, created_at, updated_at) "
                             "VALUES (:o, :w, :n, :s, :c, :u)"), rows)


def _previous(name: str):
    """An earlier migration module of this folder (their names start with digits: no plain import)."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"qoima_migration_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade() -> None:
    op.add_column('orders', sa.Column('warehouses', sa.String(length=200), server_default='', nullable=False))
    op.drop_column('orders', 'request_hash')
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute("UPDATE orders o SET warehouses = s.codes FROM (SELECT sh.order_id, string_agg(w.code, ',' "
                   "ORDER BY sh.seq) AS codes FROM shipments sh JOIN warehouses w ON w.id = sh.warehouse_id "
                   "GROUP BY sh.order_id) s WHERE s.order_id = o.id")
        op.execute("DROP FUNCTION IF EXISTS book_order_v3(jsonb)")
        op.execute(functions.source("book_order_v2"))
        _previous("0002_book_order_function").upgrade()  # book_order() as 0002 made it (stock fillfactor is set already)
    else:
        op.execute("UPDATE orders SET warehouses = coalesce((SELECT group_concat(code, ',') FROM (SELECT w.code "
                   "FROM shipments sh JOIN warehouses w ON w.id = sh.warehouse_id WHERE sh.order_id = orders.id "
                   "ORDER BY sh.seq)), '')")
    op.drop_index('ix_shipments_warehouse_status', table_name='shipments')
    op.drop_table('shipments')
