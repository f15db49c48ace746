-- +goose Up
-- Cancelling a paid order: the request is recorded first
-- (cancel_request_time, with the reason it gave), then billing refunds the
-- price and the order becomes 'cancelled' with what was refunded, in one
-- statement with the letter announcing it. A cancellation recorded but not
-- refunded (billing silent, the process gone) is due for the repair loop at
-- cancel_next_attempt_time, so the refund is never lost; billing applies it
-- once, by the key the order id gives it.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders
    ADD CONSTRAINT orders_status_check CHECK (status IN ('pending', 'paid', 'rejected', 'cancelled')),
    ADD COLUMN cancel_request_time      timestamptz NULL,
    ADD COLUMN cancel_reason            text        NOT NULL DEFAULT ''
                                        CHECK (char_length(cancel_reason) <= 200),
    ADD COLUMN cancel_time              timestamptz NULL,
    ADD COLUMN refunded                 bigint      NOT NULL DEFAULT 0 CHECK (refunded >= 0),
    ADD COLUMN cancel_attempts          integer     NOT NULL DEFAULT 0 CHECK (cancel_attempts >= 0),
    ADD COLUMN cancel_next_attempt_time timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN cancel_last_error        text        NOT NULL DEFAULT '',
    -- The idempotency key of the request that recorded the cancellation,
    -- if it sent one: the key names that cancellation, so it may not
    -- cancel another order of the buyer.
    ADD COLUMN cancel_request_id        text        NULL
                                        CHECK (char_length(cancel_request_id) BETWEEN 1 AND 128),
    -- Only a requested cancellation completes, and a cancelled order has
    -- its refund time.
    ADD CONSTRAINT orders_cancelled_requested CHECK (cancel_time IS NULL OR cancel_request_time IS NOT NULL),
    ADD CONSTRAINT orders_cancelled_iff_time CHECK ((status = 'cancelled') = (cancel_time IS NOT NULL)),
    -- A rejected order took no money, so there is nothing to cancel.
    ADD CONSTRAINT orders_rejected_not_cancelling CHECK (status <> 'rejected' OR cancel_request_time IS NULL);

CREATE UNIQUE INDEX orders_user_cancel_request_key ON orders (user_id, cancel_request_id)
    WHERE cancel_request_id IS NOT NULL;

-- The repair loop's list of refunds to make.
CREATE INDEX orders_cancel_due_idx ON orders (cancel_next_attempt_time)
    WHERE cancel_request_time IS NOT NULL AND status = 'paid';

-- An order now has up to two letters, its outcome and its cancellation,
-- each stored once under its own key.
ALTER TABLE order_letters DROP CONSTRAINT order_letters_pkey;
ALTER TABLE order_letters ADD PRIMARY KEY (order_id, request_id);

-- +goose Down
ALTER TABLE order_letters DROP CONSTRAINT order_letters_pkey;
DELETE FROM order_letters WHERE request_id <> 'order/' || order_id || '/letter';
ALTER TABLE order_letters ADD PRIMARY KEY (order_id);
DROP INDEX orders_cancel_due_idx;
DROP INDEX orders_user_cancel_request_key;
UPDATE orders SET status = 'paid' WHERE status = 'cancelled';
ALTER TABLE orders
    DROP CONSTRAINT orders_rejected_not_cancelling,
    DROP CONSTRAINT orders_cancelled_iff_time,
    DROP CONSTRAINT orders_cancelled_requested,
    DROP COLUMN cancel_request_id,
    DROP COLUMN cancel_last_error,
    DROP COLUMN cancel_next_attempt_time,
    DROP COLUMN cancel_attempts,
    DROP COLUMN refunded,
    DROP COLUMN cancel_time,
    DROP COLUMN cancel_reason,
    DROP COLUMN cancel_request_time,
    DROP CONSTRAINT orders_status_check,
    ADD CONSTRAINT orders_status_check CHECK (status IN ('pending', 'paid', 'rejected'));
