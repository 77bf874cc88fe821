"""warehouses.receiving_mode and putaway_cells: what happens to goods received into the dock

'reserve' (the default): stock in a receiving location can be reserved by orders
(and is put away later, the reservations moving with it); 'auto_putaway': a
receipt into a receiving location is put away at once, in the same transaction,
into the warehouse's put-away cell (putaway_cells: one per warehouse, a location
of that same warehouse by the composite foreign key; the services refuse
'auto_putaway' without one and a cell that is not a storage location).

The cell is a table of its own rather than a warehouses column: a second foreign
key between warehouses and locations would make every join between the two
ambiguous. On SQLite receiving_mode is added with ALTER TABLE ADD COLUMN and a
column CHECK (a batch re-creation of warehouses would drop a table that other
tables reference, which the foreign keys refuse once there is data).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 17:20:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

MODES = "receiving_mode in ('reserve','auto_putaway')"


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("ALTER TABLE warehouses ADD COLUMN receiving_mode VARCHAR(20) DEFAULT 'reserve' NOT NULL "
                   f"CONSTRAINT ck_warehouses_receiving_mode CHECK ({MODES})")
    else:
        op.add_column('warehouses', sa.Column('receiving_mode', sa.String(length=20), server_default='reserve',
                                              nullable=False))
        op.create_check_constraint(op.f('ck_warehouses_receiving_mode'), 'warehouses', MODES)
    op.create_table('putaway_cells',
    sa.Column('warehouse_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('location_code', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouses.id'], name=op.f('fk_putaway_cells_warehouse_id_warehouses')),
    sa.ForeignKeyConstraint(['warehouse_id', 'location_code'], ['locations.warehouse_id', 'locations.code'],
                            name=op.f('fk_putaway_cells_warehouse_id_locations')),
    sa.PrimaryKeyConstraint('warehouse_id', name=op.f('pk_putaway_cells')))


def downgrade() -> None:
    op.drop_table('putaway_cells')
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table('warehouses') as batch:
            batch.drop_constraint(op.f('ck_warehouses_receiving_mode'), type_='check')
            batch.drop_column('receiving_mode')
        return
    op.drop_constraint(op.f('ck_warehouses_receiving_mode'), 'warehouses', type_='check')
    op.drop_column('warehouses', 'receiving_mode')
