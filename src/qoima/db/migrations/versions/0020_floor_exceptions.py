"""floor exceptions are resolved: the order an exception task is about, who resolved it, when, how
(re-source, cancel the order, close) and the note

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 13:40:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

RESOLUTION = "resolution is null or resolution in ('resource','cancel','close')"


def upgrade() -> None:
    with op.batch_alter_table('pick_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('resolved_by', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('resolved_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('resolution', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('resolution_note', sa.String(length=500), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_pick_tasks_order_id_orders'), 'orders', ['order_id'], ['id'])
        batch_op.create_check_constraint(batch_op.f('ck_pick_tasks_resolution'), RESOLUTION)


def downgrade() -> None:
    with op.batch_alter_table('pick_tasks', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_pick_tasks_resolution'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_pick_tasks_order_id_orders'), type_='foreignkey')
        batch_op.drop_column('resolution_note')
        batch_op.drop_column('resolution')
        batch_op.drop_column('resolved_at')
        batch_op.drop_column('resolved_by')
        batch_op.drop_column('order_id')
