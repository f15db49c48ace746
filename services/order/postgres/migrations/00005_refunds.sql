-- +goose Up
-- An order's refunds, one row per refund asked for, as the payment and the
-- letters are steps of their own: the cancellation (seq 0, all that
-- remained when it was asked) and the partial refunds (seq 1, 2, ...).
-- Each is recorded, with its exact amount and billing key, before money
-- moves; the repair loop resumes the ones whose request did not finish.
--
-- The amounts are reserved on the order (refund_reserved) in the
-- transaction that records the row, under the order's row lock, so the
-- refunds of an order never add up to more than its price and billing is
-- never asked for a refund it must refuse; refunded is what billing
-- confirmed of them.
CREATE TABLE order_refunds (
    order_id          uuid        NOT NULL REFERENCES orders (id),
    seq               integer     NOT NULL CHECK (seq >= 0),
    user_id           uuid        NOT NULL,
    -- The client's idempotency key; a partial refund always has one.
    request_id        text        NULL CHECK (char_length(request_id) BETWEEN 1 AND 128),
    amount            bigint      NOT NULL CHECK (amount > 0),
    -- What billing is asked for: the amount, or 0 ("all that remains") for
    -- a cancellation carried over from before this table, whose key billing
    -- may already hold with 0.
    asked             bigint      NOT NULL,
    billing_key       text        NOT NULL,
    reason            text        NOT NULL DEFAULT '' CHECK (char_length(reason) <= 200),
    attempts          integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_time timestamptz NOT NULL DEFAULT now(),
    parked_time       timestamptz NULL,
    last_error        text        NOT NULL DEFAULT '',
    refund_time       timestamptz NULL,
    create_time       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, seq),
    CONSTRAINT order_refunds_asked CHECK (asked = amount OR (asked = 0 AND seq = 0)),
    CONSTRAINT order_refunds_partial_keyed CHECK (seq = 0 OR request_id IS NOT NULL),
    CONSTRAINT order_refunds_done_not_parked CHECK (refund_time IS NULL OR parked_time IS NULL)
);

-- A key names one refund of one order of its user.
CREATE UNIQUE INDEX order_refunds_user_request_key ON order_refunds (user_id, request_id)
    WHERE request_id IS NOT NULL;
-- The repair loop's list of refunds to make, and the parked ones.
CREATE INDEX order_refunds_due_idx ON order_refunds (next_attempt_time)
    WHERE refund_time IS NULL AND parked_time IS NULL;
CREATE INDEX order_refunds_parked_idx ON order_refunds (parked_time)
    WHERE parked_time IS NOT NULL;

ALTER TABLE orders ADD COLUMN refund_reserved bigint NOT NULL DEFAULT 0;

-- Cancellations recorded under 00004 become refunds of their own: in
-- flight ones keep their key, their reason, their schedule and their
-- attempts and ask billing for "all that remains", as they did; finished
-- ones are kept as done. The schedule columns of 00004 stay for replicas
-- of the previous release during an upgrade, which claim a cancellation
-- by cancel_next_attempt_time; 'infinity' keeps them off every
-- cancellation this table owns.
INSERT INTO order_refunds (order_id, seq, user_id, request_id, amount, asked, billing_key, reason,
                           attempts, next_attempt_time, last_error, refund_time, create_time)
SELECT id, 0, user_id, cancel_request_id, CASE WHEN status = 'cancelled' THEN refunded ELSE price END, 0,
       'order/' || id || '/refund', cancel_reason, cancel_attempts, cancel_next_attempt_time,
       cancel_last_error, cancel_time, cancel_request_time
FROM orders
WHERE cancel_request_time IS NOT NULL;

UPDATE orders
SET refund_reserved = CASE WHEN status = 'cancelled' THEN refunded ELSE price END,
    cancel_next_attempt_time = 'infinity'
WHERE cancel_request_time IS NOT NULL;

-- Checked once the reservations of the cancellations above are in place.
ALTER TABLE orders
    ADD CONSTRAINT orders_refunds_within_price CHECK (refunded <= refund_reserved AND refund_reserved <= price);

-- +goose Down
-- Partial refunds have no place in 00004: a paid order with refunds but no
-- cancellation loses their record (billing keeps the ledger entries), and
-- a requested cancellation goes back to 00004's schedule, which asks
-- billing for all that remains.
UPDATE orders o
SET cancel_next_attempt_time = r.next_attempt_time, cancel_attempts = r.attempts, cancel_last_error = r.last_error,
    cancel_request_id = r.request_id
FROM order_refunds r
WHERE r.order_id = o.id AND r.seq = 0 AND o.cancel_request_time IS NOT NULL;
UPDATE orders SET cancel_next_attempt_time = now() WHERE cancel_next_attempt_time = 'infinity';
UPDATE orders SET refunded = 0 WHERE status <> 'cancelled';
ALTER TABLE orders
    DROP CONSTRAINT orders_refunds_within_price,
    DROP COLUMN refund_reserved;
DROP TABLE order_refunds;
