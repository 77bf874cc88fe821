"""packing is per shipment: a pack scan names the shipment it was packed into (an order shipped from
two warehouses is packed in each of them)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 19:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('floor_scans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shipment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_floor_scans_shipment_id_shipments'), 'shipments',
                                    ['shipment_id'], ['id'])
    # pack scans made before: the order's first shipment (orders were packed whole)
    op.execute("update floor_scans set shipment_id = (select s.id from shipments s where s.order_id = "
               "floor_scans.order_id order by s.seq limit 1) where stage = 'pack' and order_id is not null")


def downgrade() -> None:
    with op.batch_alter_table('floor_scans', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_floor_scans_shipment_id_shipments'), type_='foreignkey')
        batch_op.drop_column('shipment_id')
