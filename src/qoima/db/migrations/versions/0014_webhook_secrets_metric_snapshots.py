"""webhook secrets and metric snapshots

sellers.webhook_secret: the per-seller key webhooks are signed with (sealed with
QOIMA_SECRET_KEY); metric_snapshots: the gauges /metrics shows, refreshed by the
worker so that a scrape counts no table.

Revision ID: 0014
Revises: 0009
Create Date: 2026-12-03 13:10:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sellers') as batch:
        batch.add_column(sa.Column('webhook_secret', sa.Text(), nullable=True))
    op.create_table('metric_snapshots',
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('label', sa.String(length=60), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('taken_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', 'label', name=op.f('pk_metric_snapshots')))


def downgrade() -> None:
    op.drop_table('metric_snapshots')
    with op.batch_alter_table('sellers') as batch:
        batch.drop_column('webhook_secret')
