"""book_order(): express intake's booking as one PostgreSQL function; stock pages half free

The express intake (services/express_intake.py) decides an order in Python and
books it with one call of this function, so that PostgreSQL parses and plans
its statements once per connection (PL/pgSQL caches the plans) instead of on
every order. It only writes what it is given: the customer lock, the stock
counters in id order, a first-time customer unless one appeared meanwhile, the
order, lines, reservations, timeline and outbox. A stock row that no longer has
the units fails the CHECK (reserved <= on_hand); a customer created by a
concurrent order raises serialization_failure; either rolls the call back.
SQLite has no such function and never takes the express path.

Stock rows are counters that every order updates: the table keeps half of each
page free (fillfactor 50) so that an update stays on its page (a HOT update, no
new index entries) and dead versions are pruned early instead of piling up in
the few pages that hold the busiest SKUs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 20:30:00
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

SIGNATURE = (
    "p_order_id bigint, p_seller_id bigint, p_channel text, p_external_id text, p_idempotency_key text, "
    "p_customer_id bigint, p_new_customer boolean, p_c_name text, p_c_phone text, p_c_email text, "
    "p_c_language text, p_c_channel text, p_lock_keys text[], p_status text, p_delivery_type text, "
    "p_address text, p_city text, p_lat double precision, p_lon double precision, p_total numeric, "
    "p_warehouses text, p_reason text, p_ship_by timestamp, p_received_at timestamp, p_now timestamp, "
    "p_stamp timestamp, p_stock json, p_lines json, p_reservations json, p_timeline json, p_outbox json"
)
ARG_TYPES = ", ".join(part.split(" ", 1)[1] for part in SIGNATURE.split(", "))

BODY = """
DECLARE
    v_customer_id bigint := p_customer_id;
    e json;
BEGIN
    IF p_lock_keys IS NOT NULL AND cardinality(p_lock_keys) > 0 THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(k, 0))
           FROM unnest(p_lock_keys) WITH ORDINALITY AS u(k, n) ORDER BY n;
    END IF;
    FOR e IN SELECT value FROM json_array_elements(p_stock) LOOP  -- [stock id, units], in id order
        UPDATE stock SET reserved = reserved + (e->>1)::integer WHERE id = (e->>0)::bigint;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'stock row % is gone', e->>0 USING ERRCODE = 'serialization_failure';
        END IF;
    END LOOP;
    IF p_new_customer THEN
        IF (p_c_phone IS NOT NULL AND EXISTS (SELECT 1 FROM customers
                                              WHERE phone = p_c_phone AND seller_id = p_seller_id))
           OR (p_c_email IS NOT NULL AND EXISTS (SELECT 1 FROM customers
                                                 WHERE email = p_c_email AND seller_id = p_seller_id)) THEN
            RAISE EXCEPTION 'the customer was created by a concurrent order' USING ERRCODE = 'serialization_failure';
        END IF;
        INSERT INTO customers (seller_id, name, phone, email, language, preferred_channel, created_at)
        VALUES (p_seller_id, p_c_name, p_c_phone, p_c_email, p_c_language, p_c_channel, p_received_at)
        RETURNING id INTO v_customer_id;
    END IF;
    INSERT INTO orders (id, seller_id, channel, external_id, idempotency_key, customer_id, status, delivery_type,
                        address, city, lat, lon, total, warehouses, sourcing_reason, ship_by, received_at,
                        updated_at)
    VALUES (p_order_id, p_seller_id, p_channel, p_external_id, p_idempotency_key, v_customer_id, p_status,
            p_delivery_type, p_address, p_city, p_lat, p_lon, p_total, p_warehouses, p_reason, p_ship_by,
            p_received_at, p_now);
    -- each row an array, in the order given: [id, product id, sku, quantity, unit price]
    INSERT INTO order_lines (id, order_id, product_id, sku, quantity, unit_price, backordered)
    SELECT (x->>0)::bigint, p_order_id, (x->>1)::bigint, x->>2, (x->>3)::integer, (x->>4)::numeric, 0
      FROM json_array_elements(p_lines) WITH ORDINALITY AS r(x, n) ORDER BY n;
    -- [line id, stock id, warehouse id, units]
    INSERT INTO reservations (order_id, order_line_id, stock_id, warehouse_id, quantity, created_at)
    SELECT p_order_id, (x->>0)::bigint, (x->>1)::bigint, (x->>2)::bigint, (x->>3)::integer, p_stamp
      FROM json_array_elements(p_reservations) WITH ORDINALITY AS r(x, n) ORDER BY n;
    -- [from, to, actor, reason]
    INSERT INTO order_events (order_id, from_status, to_status, actor, reason, created_at)
    SELECT p_order_id, x->>0, x->>1, x->>2, x->>3, p_stamp
      FROM json_array_elements(p_timeline) WITH ORDINALITY AS r(x, n) ORDER BY n;
    -- [topic, payload]
    INSERT INTO outbox (topic, aggregate_id, seller_id, payload, status, attempts, next_attempt_at, created_at)
    SELECT x->>0, p_order_id, p_seller_id, x->1, 'pending', 0, p_stamp, p_stamp
      FROM json_array_elements(p_outbox) WITH ORDINALITY AS r(x, n) ORDER BY n;
    RETURN v_customer_id;
END
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"CREATE OR REPLACE FUNCTION book_order({SIGNATURE}) RETURNS bigint "
               f"LANGUAGE plpgsql VOLATILE AS $fn${BODY}$fn$")
    op.execute("ALTER TABLE stock SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE stock RESET (fillfactor)")
    op.execute(f"DROP FUNCTION IF EXISTS book_order({ARG_TYPES})")
