"""warehouse holidays

warehouse_holidays: the local dates a warehouse does not work although its
working days say it would; the ship-by calendar skips them.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 17:20:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('warehouse_holidays',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('warehouse_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('name', sa.String(length=100), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouses.id'],
                            name=op.f('fk_warehouse_holidays_warehouse_id_warehouses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_warehouse_holidays')),
    sa.UniqueConstraint('warehouse_id', 'day', name='uq_warehouse_holidays_warehouse_day'))


def downgrade() -> None:
    op.drop_table('warehouse_holidays')
