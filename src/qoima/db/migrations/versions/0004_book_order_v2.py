"""book_order_v2(jsonb): express intake's booking from db/sql/book_order_v2.sql

The function takes the booking as one JSON document with named keys (instead of
book_order's 31 positional arguments) and its source lives in a versioned file.
book_order() of migration 0002 stays installed: during a rolling deploy the old
code keeps calling it; a later migration drops it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 19:00:00
"""
from alembic import op

from qoima.db import functions

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(functions.source("book_order_v2"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS book_order_v2(jsonb)")
