"""customer look-ups by contact: indexes led by the phone / e-mail

(seller_id, phone) and (seller_id, email) become (phone, seller_id) and
(email, seller_id): with the contact first, an e-mail look-up cannot be served
by the phone index (and the other way round), so a plan made while the table
was small or unanalysed cannot end up reading every customer of a seller.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 20:50:00
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_seller_phone')
        batch_op.drop_index('ix_customers_seller_email')
        batch_op.create_index('ix_customers_phone_seller', ['phone', 'seller_id'], unique=False)
        batch_op.create_index('ix_customers_email_seller', ['email', 'seller_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_email_seller')
        batch_op.drop_index('ix_customers_phone_seller')
        batch_op.create_index('ix_customers_seller_email', ['seller_id', 'email'], unique=False)
        batch_op.create_index('ix_customers_seller_phone', ['seller_id', 'phone'], unique=False)
