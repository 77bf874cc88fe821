"""search indexes

Case-insensitive look-ups of the search box (orders/services/search.py): lower() expression
indexes on orders.external_id, orders.city and order_lines.sku, and barcodes.code on its own
(the unique index leads with seller_id, and the staff search is across sellers).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 17:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_orders_external_id_lower', 'orders', [sa.text('lower(external_id)')])
    op.create_index('ix_orders_city_lower', 'orders', [sa.text('lower(city)')])
    op.create_index('ix_order_lines_sku_lower', 'order_lines', [sa.text('lower(sku)')])
    op.create_index('ix_barcodes_code', 'barcodes', ['code'])


def downgrade() -> None:
    op.drop_index('ix_barcodes_code', table_name='barcodes')
    op.drop_index('ix_order_lines_sku_lower', table_name='order_lines')
    op.drop_index('ix_orders_city_lower', table_name='orders')
    op.drop_index('ix_orders_external_id_lower', table_name='orders')
