"""inbound deliveries (ASN)

inbound_deliveries and inbound_delivery_lines: what a seller announced (supplier,
expected date, warehouse, SKU and expected quantity per line) and what arrived so
far; receipts.asn_id links each receipt to the delivery it was booked against and
receipts.actor says who booked it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 17:20:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'inbound_deliveries',
        sa.Column('id', Id, primary_key=True, autoincrement=True),
        sa.Column('seller_id', Id, sa.ForeignKey('sellers.id', name='fk_inbound_deliveries_seller_id_sellers'),
                  nullable=False),
        sa.Column('warehouse_id', Id, sa.ForeignKey('warehouses.id',
                                                    name='fk_inbound_deliveries_warehouse_id_warehouses'),
                  nullable=False),
        sa.Column('supplier', sa.String(200), nullable=False, server_default=''),
        sa.Column('reference', sa.String(100), nullable=False, server_default=''),
        sa.Column('expected_at', sa.Date()),
        sa.Column('status', sa.String(30), nullable=False, server_default='announced'),
        sa.Column('created_by', sa.String(254), nullable=False, server_default=''),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('closed_at', sa.DateTime()),
        sa.Column('closed_by', sa.String(254), nullable=False, server_default=''),
        sa.CheckConstraint("status in ('announced','partially_received','received','closed_with_discrepancies',"
                           "'cancelled')", name=op.f('ck_inbound_deliveries_status')),
        sa.CheckConstraint("(closed_at is null) = (status in ('announced','partially_received'))",
                           name=op.f('ck_inbound_deliveries_closed_when_final')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_deliveries')),
    )
    op.create_index('ix_inbound_deliveries_seller_id', 'inbound_deliveries', ['seller_id'])
    op.create_table(
        'inbound_delivery_lines',
        sa.Column('id', Id, primary_key=True, autoincrement=True),
        sa.Column('delivery_id', Id, sa.ForeignKey(
            'inbound_deliveries.id', name='fk_inbound_delivery_lines_delivery_id_inbound_deliveries'), nullable=False),
        sa.Column('product_id', Id, sa.ForeignKey('products.id', name='fk_inbound_delivery_lines_product_id_products'),
                  nullable=False),
        sa.Column('expected_qty', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('received_qty', sa.Integer(), nullable=False, server_default='0'),
        sa.UniqueConstraint('delivery_id', 'product_id', name='uq_inbound_delivery_lines_delivery_product'),
        sa.CheckConstraint('expected_qty >= 0 and expected_qty <= 1000000',
                           name=op.f('ck_inbound_delivery_lines_expected_bounds')),
        sa.CheckConstraint('received_qty >= 0', name=op.f('ck_inbound_delivery_lines_received_not_negative')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_delivery_lines')),
    )
    op.create_index('ix_inbound_delivery_lines_delivery_id', 'inbound_delivery_lines', ['delivery_id'])
    with op.batch_alter_table('receipts') as batch:
        batch.add_column(sa.Column('asn_id', Id, nullable=True))
        batch.add_column(sa.Column('actor', sa.String(254), nullable=False, server_default=''))
        batch.create_foreign_key('fk_receipts_asn_id_inbound_deliveries', 'inbound_deliveries', ['asn_id'], ['id'])
        batch.create_index('ix_receipts_asn_id', ['asn_id'])


def downgrade() -> None:
    with op.batch_alter_table('receipts') as batch:
        batch.drop_index('ix_receipts_asn_id')
        batch.drop_constraint('fk_receipts_asn_id_inbound_deliveries', type_='foreignkey')
        batch.drop_column('actor')
        batch.drop_column('asn_id')
    op.drop_index('ix_inbound_delivery_lines_delivery_id', table_name='inbound_delivery_lines')
    op.drop_table('inbound_delivery_lines')
    op.drop_index('ix_inbound_deliveries_seller_id', table_name='inbound_deliveries')
    op.drop_table('inbound_deliveries')
