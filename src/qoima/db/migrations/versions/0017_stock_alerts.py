"""low-stock alerts per SKU

stock_alerts: per product (and warehouse, or all warehouses), a threshold of
available units or days of cover at the recent sales rate; `is_low` and
`last_notified_at` make the worker's `stock.low` event fire once per crossing.

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-03 17:45:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0017'
down_revision = '0015'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'stock_alerts',
        sa.Column('id', Id, autoincrement=True, nullable=False),
        sa.Column('seller_id', Id, nullable=False),
        sa.Column('product_id', Id, nullable=False),
        sa.Column('warehouse_id', Id, nullable=True),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('value', sa.Integer(), nullable=False),
        sa.Column('window_days', sa.Integer(), server_default='30', nullable=False),
        sa.Column('is_low', sa.Boolean(), server_default='0', nullable=False),
        sa.Column('last_notified_at', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind in ('threshold','days_of_cover')", name=op.f('ck_stock_alerts_kind')),
        sa.CheckConstraint("(kind = 'threshold' and value >= 0 and value <= 1000000000) or "
                           "(kind = 'days_of_cover' and value >= 1 and value <= 3650)",
                           name=op.f('ck_stock_alerts_value')),
        sa.CheckConstraint('window_days >= 1 and window_days <= 365', name=op.f('ck_stock_alerts_window_days')),
        sa.ForeignKeyConstraint(['seller_id'], ['sellers.id'], name=op.f('fk_stock_alerts_seller_id_sellers')),
        sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_stock_alerts_product_id_products')),
        sa.ForeignKeyConstraint(['warehouse_id'], ['warehouses.id'],
                                name=op.f('fk_stock_alerts_warehouse_id_warehouses')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_alerts')),
    )
    op.create_index(op.f('ix_stock_alerts_seller_id'), 'stock_alerts', ['seller_id'])
    op.create_index('uq_stock_alerts_scope', 'stock_alerts', ['product_id', sa.text('coalesce(warehouse_id, 0)')],
                    unique=True)


def downgrade() -> None:
    op.drop_index('uq_stock_alerts_scope', table_name='stock_alerts')
    op.drop_index(op.f('ix_stock_alerts_seller_id'), table_name='stock_alerts')
    op.drop_table('stock_alerts')
