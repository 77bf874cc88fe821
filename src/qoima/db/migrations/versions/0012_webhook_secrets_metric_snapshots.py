"""webhook secrets and metric snapshots

sellers.webhook_secret: the per-seller key webhooks are signed with (sealed with
QOIMA_SECRET_KEY); metric_snapshots: the gauges /metrics shows, refreshed by the
worker so that a scrape counts no table.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 13:10:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0012'
down_revision = '0011'
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
    _forget_response_bodies()


def _forget_response_bodies() -> None:
    """Refusals recorded before 0012 kept up to 200 characters of the receiver's body after the status
    code ('... refused the event: 400 <body>'); keep the status code only."""
    conn = op.get_bind()
    outbox = sa.table('outbox', sa.column('id', sa.BigInteger), sa.column('last_error', sa.Text))
    marker = 'refused the event: '
    rows = conn.execute(sa.select(outbox.c.id, outbox.c.last_error)
                        .where(outbox.c.last_error.like(f'%{marker}%'))).all()
    for event_id, error in rows:
        head, _, rest = error.partition(marker)
        conn.execute(outbox.update().where(outbox.c.id == event_id)
                     .values(last_error=head + marker + rest[:3] + ' (response body not kept)'))


def downgrade() -> None:
    op.drop_table('metric_snapshots')
    with op.batch_alter_table('sellers') as batch:
        batch.drop_column('webhook_secret')
