"""customer_contacts: one customer per (seller, phone) and per (seller, e-mail), by the database

A `customer_contacts(seller_id, kind, value, customer_id)` row per contact, its
primary key (seller_id, kind, value) the unique key. Values are the normalized
ones every writer stores in customers (platform/contacts.py: E.164 phones,
lower-case e-mails). The rows are kept from `customers` by triggers, on SQLite
and PostgreSQL alike, so that every writer of customers (the careful path, the
PL/pgSQL booking function, the bulk import's COPY, the history loader) is held
to it without knowing about it:

- a new customer (INSERT) adds its phone and e-mail; one whose contact another
  customer of the seller already has is refused by the unique key
  (PostgreSQL: one statement-level trigger per INSERT or COPY, over its
  transition table, so a bulk COPY pays one INSERT ... SELECT, not one per row);
- a contact filled in or changed on a stored customer (UPDATE) goes to the
  oldest customer of the seller that has it (the same rule by which every
  writer matches a buyer: phone first, then e-mail, the lowest id wins); a
  younger customer that had it keeps the value in its column and is left for
  the audited merge (customers.services.merge_duplicates), as is any customer
  with a contact and no row here;
- a merge (merged_into_id set) moves the merged customer's rows to the survivor:
  `customer_id` is always the surviving customer (merged_into_id, else id);
- a deleted customer's rows go to the next-oldest customer with the contact, or away.

Backfill: one row per distinct (seller, kind, value) of the existing customers,
for the oldest customer that has it (its survivor when it was merged). Existing
duplicates keep their columns: they show among the merge candidates (same phone
/ same e-mail) and `qoima` merges them with an audit row, as before.

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02 18:45:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

KINDS = (("phone", "phone"), ("email", "email"))  # (kind, customers column)


def _owner_select(kind: str, column: str, where: str) -> str:
    """The oldest customer with that contact, as a customer_contacts row."""
    return (f"SELECT c.seller_id, '{kind}', c.{column}, COALESCE(c.merged_into_id, c.id) FROM customers c "
            f"WHERE {where} ORDER BY c.id LIMIT 1")


# ------------------------------------------------------------------ PostgreSQL

PG_REFRESH = """
CREATE FUNCTION customer_contacts_refresh(p_seller bigint, p_kind text, p_value text, p_except bigint)
RETURNS void LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    v_owner bigint;
BEGIN
    IF p_kind = 'phone' THEN
        SELECT COALESCE(merged_into_id, id) INTO v_owner FROM customers
         WHERE phone = p_value AND seller_id = p_seller AND id IS DISTINCT FROM p_except ORDER BY id LIMIT 1;
    ELSE
        SELECT COALESCE(merged_into_id, id) INTO v_owner FROM customers
         WHERE email = p_value AND seller_id = p_seller AND id IS DISTINCT FROM p_except ORDER BY id LIMIT 1;
    END IF;
    IF v_owner IS NULL THEN
        DELETE FROM customer_contacts WHERE seller_id = p_seller AND kind = p_kind AND value = p_value;
    ELSE
        INSERT INTO customer_contacts (seller_id, kind, value, customer_id)
        VALUES (p_seller, p_kind, p_value, v_owner)
        ON CONFLICT (seller_id, kind, value) DO UPDATE SET customer_id = EXCLUDED.customer_id
         WHERE customer_contacts.customer_id <> EXCLUDED.customer_id;
    END IF;
END
$fn$
"""

PG_INSERT = """
CREATE FUNCTION customer_contacts_on_insert() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    -- a contact some customer of the seller has already: the primary key refuses the new customer
    INSERT INTO customer_contacts (seller_id, kind, value, customer_id)
    SELECT seller_id, 'phone', phone, COALESCE(merged_into_id, id) FROM new_customers WHERE phone IS NOT NULL
    UNION ALL
    SELECT seller_id, 'email', email, COALESCE(merged_into_id, id) FROM new_customers WHERE email IS NOT NULL;
    RETURN NULL;
END
$fn$
"""

PG_UPDATE = """
CREATE FUNCTION customer_contacts_on_update() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF NEW.merged_into_id IS NOT NULL AND NEW.merged_into_id IS DISTINCT FROM OLD.merged_into_id THEN
        UPDATE customer_contacts SET customer_id = NEW.merged_into_id WHERE customer_id = NEW.id;
    END IF;
    IF NEW.seller_id <> OLD.seller_id OR NEW.phone IS DISTINCT FROM OLD.phone THEN
        IF OLD.phone IS NOT NULL THEN
            PERFORM customer_contacts_refresh(OLD.seller_id, 'phone', OLD.phone, NULL);
        END IF;
        IF NEW.phone IS NOT NULL THEN
            PERFORM customer_contacts_refresh(NEW.seller_id, 'phone', NEW.phone, NULL);
        END IF;
    END IF;
    IF NEW.seller_id <> OLD.seller_id OR NEW.email IS DISTINCT FROM OLD.email THEN
        IF OLD.email IS NOT NULL THEN
            PERFORM customer_contacts_refresh(OLD.seller_id, 'email', OLD.email, NULL);
        END IF;
        IF NEW.email IS NOT NULL THEN
            PERFORM customer_contacts_refresh(NEW.seller_id, 'email', NEW.email, NULL);
        END IF;
    END IF;
    RETURN NULL;
END
$fn$
"""

PG_DELETE = """
CREATE FUNCTION customer_contacts_on_delete() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    DELETE FROM customer_contacts WHERE customer_id = OLD.id;
    IF OLD.phone IS NOT NULL THEN
        PERFORM customer_contacts_refresh(OLD.seller_id, 'phone', OLD.phone, OLD.id);
    END IF;
    IF OLD.email IS NOT NULL THEN
        PERFORM customer_contacts_refresh(OLD.seller_id, 'email', OLD.email, OLD.id);
    END IF;
    RETURN OLD;
END
$fn$
"""

PG_TRIGGERS = (
    "CREATE TRIGGER customer_contacts_insert AFTER INSERT ON customers REFERENCING NEW TABLE AS new_customers "
    "FOR EACH STATEMENT EXECUTE FUNCTION customer_contacts_on_insert()",
    "CREATE TRIGGER customer_contacts_update AFTER UPDATE OF seller_id, phone, email, merged_into_id ON customers "
    "FOR EACH ROW EXECUTE FUNCTION customer_contacts_on_update()",
    "CREATE TRIGGER customer_contacts_delete BEFORE DELETE ON customers "
    "FOR EACH ROW EXECUTE FUNCTION customer_contacts_on_delete()",
)
PG_FUNCTIONS = ("customer_contacts_on_insert()", "customer_contacts_on_update()", "customer_contacts_on_delete()",
                "customer_contacts_refresh(bigint, text, text, bigint)")


# ------------------------------------------------------------------ SQLite

def _sqlite_refresh(kind: str, column: str, side: str, changed: str, except_self: bool = False) -> list[str]:
    """Statements of a trigger body: the row of OLD's / NEW's contact goes to its oldest customer (or away)."""
    value = f"{side}.{column}"
    guard = f"{value} IS NOT NULL AND ({changed})"
    where = f"{guard} AND c.seller_id = {side}.seller_id AND c.{column} = {value}"
    if except_self:
        where += " AND c.id <> OLD.id"
    return [
        f"DELETE FROM customer_contacts WHERE {guard} AND seller_id = {side}.seller_id AND kind = '{kind}' "
        f"AND value = {value};",
        f"INSERT INTO customer_contacts (seller_id, kind, value, customer_id) {_owner_select(kind, column, where)};",
    ]


def _sqlite_triggers() -> list[str]:
    insert = [f"INSERT INTO customer_contacts (seller_id, kind, value, customer_id) "
              f"SELECT NEW.seller_id, '{kind}', NEW.{col}, COALESCE(NEW.merged_into_id, NEW.id) "
              f"WHERE NEW.{col} IS NOT NULL;" for kind, col in KINDS]
    update = ["UPDATE customer_contacts SET customer_id = NEW.merged_into_id WHERE NEW.merged_into_id IS NOT NULL "
              "AND NEW.merged_into_id IS NOT OLD.merged_into_id AND customer_id = NEW.id;"]
    for kind, col in KINDS:
        changed = f"NEW.seller_id <> OLD.seller_id OR NEW.{col} IS NOT OLD.{col}"
        update += _sqlite_refresh(kind, col, "OLD", changed) + _sqlite_refresh(kind, col, "NEW", changed)
    delete = ["DELETE FROM customer_contacts WHERE customer_id = OLD.id;"]
    for kind, col in KINDS:
        delete += _sqlite_refresh(kind, col, "OLD", "1", except_self=True)
    return [
        "CREATE TRIGGER customer_contacts_insert AFTER INSERT ON customers FOR EACH ROW BEGIN\n"
        + "\n".join(insert) + "\nEND",
        "CREATE TRIGGER customer_contacts_update AFTER UPDATE OF seller_id, phone, email, merged_into_id "
        "ON customers FOR EACH ROW BEGIN\n" + "\n".join(update) + "\nEND",
        "CREATE TRIGGER customer_contacts_delete BEFORE DELETE ON customers FOR EACH ROW BEGIN\n"
        + "\n".join(delete) + "\nEND",
    ]


# ------------------------------------------------------------------ both

def _backfill() -> str:
    """One row per (seller, kind, value): the oldest customer with it (its survivor when merged)."""
    parts = []
    for kind, col in KINDS:
        parts.append(
            f"SELECT c.seller_id, '{kind}', c.{col}, COALESCE(c.merged_into_id, c.id) FROM customers c "
            f"JOIN (SELECT MIN(id) AS id FROM customers WHERE {col} IS NOT NULL GROUP BY seller_id, {col}) o "
            f"ON o.id = c.id")
    return "INSERT INTO customer_contacts (seller_id, kind, value, customer_id) " + " UNION ALL ".join(parts)


def upgrade() -> None:
    op.create_table(
        'customer_contacts',
        sa.Column('seller_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('value', sa.String(length=254), nullable=False),
        sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.CheckConstraint("kind in ('phone','email')", name=op.f('ck_customer_contacts_kind')),
        sa.CheckConstraint("(kind = 'phone' and value like '+%') or (kind = 'email' and value like '%@%')",
                           name=op.f('ck_customer_contacts_normalized')),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_customer_contacts_customer_id_customers')),
        sa.ForeignKeyConstraint(['seller_id'], ['sellers.id'], name=op.f('fk_customer_contacts_seller_id_sellers')),
        sa.PrimaryKeyConstraint('seller_id', 'kind', 'value', name='pk_customer_contacts'),
    )
    with op.batch_alter_table('customer_contacts', schema=None) as batch_op:
        batch_op.create_index('ix_customer_contacts_customer_id', ['customer_id'], unique=False)
    op.execute(_backfill())
    if op.get_bind().dialect.name == "postgresql":
        for statement in (PG_REFRESH, PG_INSERT, PG_UPDATE, PG_DELETE, *PG_TRIGGERS):
            op.execute(statement)
    else:
        for statement in _sqlite_triggers():
            op.execute(statement)


def downgrade() -> None:
    for name in ("customer_contacts_insert", "customer_contacts_update", "customer_contacts_delete"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON customers")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if op.get_bind().dialect.name == "postgresql":
        for fn in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    with op.batch_alter_table('customer_contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_contacts_customer_id')
    op.drop_table('customer_contacts')
