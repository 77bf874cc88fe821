"""outbox: a short claim lease with heartbeats, and events handled in aggregate order

claimed_by / claimed_until record which worker holds a pending event and until
when (the worker renews it while handling; an expired lease is taken over by
another worker). ix_outbox_aggregate serves the look-up "is an earlier event of
this aggregate still open?" that keeps an order's events in the order written;
ix_outbox_pending (partial: pending only) walks the queue in written order
without reading the done history.

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-02 18:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_outbox_lease_only_while_pending'),
                                         "claimed_until is null or status = 'pending'")
        batch_op.create_index('ix_outbox_aggregate', ['aggregate_id', 'id'], unique=False)
        batch_op.create_index('ix_outbox_pending', ['id'], unique=False,
                              postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending')
        batch_op.drop_index('ix_outbox_aggregate')
        batch_op.drop_constraint(op.f('ck_outbox_lease_only_while_pending'), type_='check')
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('claimed_by')
