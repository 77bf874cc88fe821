"""jobs: long work off the request (file imports), run by the worker

Revision ID: 0008
Revises: 0003
Create Date: 2026-12-02 19:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('jobs',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('seller_id', ID, nullable=True),
    sa.Column('user_id', ID, nullable=True),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='queued', nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('input', sa.LargeBinary(), nullable=True),
    sa.Column('input_bytes', sa.Integer(), server_default='0', nullable=False),
    sa.Column('stage', sa.String(length=20), server_default='', nullable=False),
    sa.Column('progress_done', sa.Integer(), server_default='0', nullable=False),
    sa.Column('progress_total', sa.Integer(), server_default='0', nullable=False),
    sa.Column('report', sa.JSON(), nullable=True),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status in ('queued','running','done','failed')", name=op.f('ck_jobs_status')),
    sa.CheckConstraint('progress_done >= 0 and progress_total >= 0 and input_bytes >= 0',
                       name=op.f('ck_jobs_counters')),
    sa.ForeignKeyConstraint(['seller_id'], ['sellers.id'], name=op.f('fk_jobs_seller_id_sellers')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_jobs_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_status_id', ['status', 'id'], unique=False)
        batch_op.create_index('ix_jobs_seller_id', ['seller_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_seller_id')
        batch_op.drop_index('ix_jobs_status_id')
    op.drop_table('jobs')
