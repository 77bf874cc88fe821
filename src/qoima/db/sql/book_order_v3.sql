-- book_order_v3(booking jsonb) -> the order's customer id
--
-- Express intake (orders/services/express_intake.py) decides an order in Python
-- (orders/domain/booking.py) and books it with one call of this function, so that
-- PostgreSQL plans its statements once per connection (PL/pgSQL caches the plans).
-- It only writes what it is given, in one document with named keys:
--
--   {"order": {orders columns, "id" included; "customer_id" null for a new customer},
--    "new_customer": null | {customers columns},
--    "lock_keys": [advisory lock keys of the new customer's contacts, in order],
--    "stock": [{"id": stock id, "units": n}, ...]  (id order),
--    "lines": [{order_lines columns, "id" included}, ...],
--    "reservations": [{"order_line_id", "stock_id", "warehouse_id", "quantity"}, ...],
--    "shipments": [{"warehouse_id", "seq", "status"}, ...],
--    "timeline": [{"from_status", "to_status", "actor", "reason"}, ...],
--    "outbox": [{"topic", "payload"}, ...],
--    "stamp": when the rows are written}
--
-- A stock row that no longer has the units fails the CHECK (reserved <= on_hand);
-- a customer created by a concurrent order raises serialization_failure; either
-- rolls the call back and the careful path decides again.
--
-- v3 (migration 0010): the order's shipments (one per warehouse) instead of the
-- comma-joined orders.warehouses, and the request's fingerprint (request_hash) of
-- an order taken with an Idempotency-Key.
--
-- Installed by migration 0010 from this file; a test checks that the installed
-- function equals it. A change of the document or of what is written is a new
-- file and a new name (book_order_v4): during a rolling deploy the old code keeps
-- calling the old function until a later migration drops it.
CREATE OR REPLACE FUNCTION book_order_v3(p_booking jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    v_order jsonb := p_booking->'order';
    v_new jsonb := p_booking->'new_customer';
    v_stamp timestamp := (p_booking->>'stamp')::timestamp;
    v_order_id bigint := (v_order->>'id')::bigint;
    v_seller_id bigint := (v_order->>'seller_id')::bigint;
    v_customer_id bigint := (v_order->>'customer_id')::bigint;
    v_phone text;
    v_email text;
    e jsonb;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(k, 0))
       FROM jsonb_array_elements_text(coalesce(p_booking->'lock_keys', '[]'::jsonb)) WITH ORDINALITY AS u(k, n)
      ORDER BY n;
    FOR e IN SELECT value FROM jsonb_array_elements(p_booking->'stock') LOOP  -- in id order
        UPDATE stock SET reserved = reserved + (e->>'units')::integer WHERE id = (e->>'id')::bigint;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'stock row % is gone', e->>'id' USING ERRCODE = 'serialization_failure';
        END IF;
    END LOOP;
    IF jsonb_typeof(v_new) = 'object' THEN
        v_phone := v_new->>'phone';
        v_email := v_new->>'email';
        IF (v_phone IS NOT NULL AND EXISTS (SELECT 1 FROM customers WHERE phone = v_phone AND seller_id = v_seller_id))
           OR (v_email IS NOT NULL AND EXISTS (SELECT 1 FROM customers
                                               WHERE email = v_email AND seller_id = v_seller_id)) THEN
            RAISE EXCEPTION 'the customer was created by a concurrent order' USING ERRCODE = 'serialization_failure';
        END IF;
        INSERT INTO customers (seller_id, name, phone, email, language, preferred_channel, created_at)
        SELECT r.seller_id, r.name, r.phone, r.email, r.language, r.preferred_channel, r.created_at
          FROM jsonb_populate_record(NULL::customers, v_new) AS r
        RETURNING id INTO v_customer_id;
    END IF;
    INSERT INTO orders (id, seller_id, channel, external_id, idempotency_key, request_hash, customer_id, status,
                        delivery_type, address, city, lat, lon, total, sourcing_reason, ship_by, received_at,
                        updated_at)
    SELECT v_order_id, v_seller_id, r.channel, r.external_id, r.idempotency_key, r.request_hash, v_customer_id,
           r.status, r.delivery_type, r.address, r.city, r.lat, r.lon, r.total, r.sourcing_reason, r.ship_by,
           r.received_at, r.updated_at
      FROM jsonb_populate_record(NULL::orders, v_order) AS r;
    INSERT INTO order_lines (id, order_id, product_id, sku, quantity, unit_price, backordered)
    SELECT r.id, v_order_id, r.product_id, r.sku, r.quantity, r.unit_price, r.backordered
      FROM jsonb_array_elements(p_booking->'lines') WITH ORDINALITY AS x(v, n),
           jsonb_populate_record(NULL::order_lines, x.v) AS r
     ORDER BY x.n;
    INSERT INTO reservations (order_id, order_line_id, stock_id, warehouse_id, quantity, created_at)
    SELECT v_order_id, r.order_line_id, r.stock_id, r.warehouse_id, r.quantity, v_stamp
      FROM jsonb_array_elements(p_booking->'reservations') WITH ORDINALITY AS x(v, n),
           jsonb_populate_record(NULL::reservations, x.v) AS r
     ORDER BY x.n;
    INSERT INTO shipments (order_id, warehouse_id, seq, status, created_at, updated_at)
    SELECT v_order_id, r.warehouse_id, r.seq, r.status, v_stamp, v_stamp
      FROM jsonb_array_elements(coalesce(p_booking->'shipments', '[]'::jsonb)) WITH ORDINALITY AS x(v, n),
           jsonb_populate_record(NULL::shipments, x.v) AS r
     ORDER BY x.n;
    INSERT INTO order_events (order_id, from_status, to_status, actor, reason, created_at)
    SELECT v_order_id, r.from_status, r.to_status, r.actor, r.reason, v_stamp
      FROM jsonb_array_elements(p_booking->'timeline') WITH ORDINALITY AS x(v, n),
           jsonb_populate_record(NULL::order_events, x.v) AS r
     ORDER BY x.n;
    INSERT INTO outbox (topic, aggregate_id, seller_id, payload, status, attempts, next_attempt_at, created_at)
    SELECT x.v->>'topic', v_order_id, v_seller_id, (x.v->'payload')::json, 'pending', 0, v_stamp, v_stamp
      FROM jsonb_array_elements(p_booking->'outbox') WITH ORDINALITY AS x(v, n)
     ORDER BY x.n;
    RETURN v_customer_id;
END
$fn$;
