"""analytics snapshots: customer analytics computed by the worker, read by the pages

One row per (seller, kind, run) with the data as JSON; the worker keeps the
newest two per seller and kind.

Revision ID: 0009
Revises: 0003
Create Date: 2026-12-02 18:50:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('analytics_snapshots',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('seller_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('source_version', sa.String(length=100), nullable=False),
    sa.Column('computed_at', sa.DateTime(), nullable=False),
    sa.Column('compute_seconds', sa.Float(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.CheckConstraint("kind in ('overview','clv','customers','loyalty')", name=op.f('ck_analytics_snapshots_kind')),
    sa.CheckConstraint('compute_seconds >= 0',
                       name=op.f('ck_analytics_snapshots_compute_seconds_not_negative')),
    sa.ForeignKeyConstraint(['seller_id'], ['sellers.id'], name=op.f('fk_analytics_snapshots_seller_id_sellers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_snapshots')),
    sa.UniqueConstraint('seller_id', 'kind', 'source_version', name='uq_analytics_snapshots_version')
    )
    with op.batch_alter_table('analytics_snapshots', schema=None) as batch_op:
        batch_op.create_index('ix_analytics_snapshots_latest', ['seller_id', 'kind', 'computed_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('analytics_snapshots', schema=None) as batch_op:
        batch_op.drop_index('ix_analytics_snapshots_latest')
    op.drop_table('analytics_snapshots')
