-- +goose Up
-- The repair loop's schedule of each pending order's payment: attempts
-- made, when the next one is due, and when it was parked (no more
-- automatic attempts, see OrderAdminService). The loop takes due orders
-- in the order they fall due, not by age, and pushes a failed one back
-- with exponential backoff, so orders billing never answers cannot starve
-- newer ones. Pending orders already stored are due at once.
ALTER TABLE orders
    ADD COLUMN pay_attempts          integer     NOT NULL DEFAULT 0 CHECK (pay_attempts >= 0),
    ADD COLUMN pay_next_attempt_time timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN pay_parked_time       timestamptz NULL,
    ADD COLUMN pay_last_error        text        NOT NULL DEFAULT '',
    -- Only a payment still to be made can be parked; recording the outcome
    -- (say, after a client's own retry) releases it.
    ADD CONSTRAINT orders_parked_only_pending CHECK (pay_parked_time IS NULL OR status = 'pending');

DROP INDEX orders_pending_idx;
CREATE INDEX orders_payment_due_idx ON orders (pay_next_attempt_time)
    WHERE status = 'pending' AND pay_parked_time IS NULL;

-- ListParked and the parked-items gauge.
CREATE INDEX orders_payment_parked_idx ON orders (pay_parked_time) WHERE pay_parked_time IS NOT NULL;
CREATE INDEX order_letters_parked_idx ON order_letters (parked_time) WHERE parked_time IS NOT NULL;

-- +goose Down
DROP INDEX order_letters_parked_idx;
DROP INDEX orders_payment_parked_idx;
DROP INDEX orders_payment_due_idx;
CREATE INDEX orders_pending_idx ON orders (update_time) WHERE status = 'pending';
ALTER TABLE orders
    DROP CONSTRAINT orders_parked_only_pending,
    DROP COLUMN pay_last_error,
    DROP COLUMN pay_parked_time,
    DROP COLUMN pay_next_attempt_time,
    DROP COLUMN pay_attempts;
