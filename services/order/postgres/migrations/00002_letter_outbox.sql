-- +goose Up
-- The outbox of outcome letters. A letter row is written in the same
-- transaction as the payment outcome it announces, so a recorded outcome
-- always has its letter waiting, whatever happens to the notification
-- service or to this process afterwards. The request hands the letter over
-- right after its commit; the relay loop delivers the rows that hand-over
-- missed. A letter is delivered at least once and stored once: the
-- notification service deduplicates it by (order_id, request_id).
CREATE TABLE order_letters (
    -- One letter per order.
    order_id          uuid        PRIMARY KEY REFERENCES orders (id),
    user_id           uuid        NOT NULL,
    request_id        text        NOT NULL CHECK (request_id <> ''),
    email             text        NOT NULL CHECK (email <> ''),
    subject           text        NOT NULL CHECK (subject <> ''),
    body              text        NOT NULL CHECK (body <> ''),
    -- Delivery attempts the relay made; the request's own hand-over is not
    -- counted.
    attempts          integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- When the relay may take the row next. A relay that takes it moves
    -- this forward by a lease, so no other relay sends it meanwhile and no
    -- lock is held while the notification service answers.
    next_attempt_time timestamptz NOT NULL DEFAULT now(),
    -- Set when the relay gave up on the row; it then waits for an operator
    -- (OrderAdminService.RetryParked).
    parked_time       timestamptz NULL,
    last_error        text        NOT NULL DEFAULT '',
    -- When the notification service confirmed it stored the letter.
    sent_time         timestamptz NULL,
    create_time       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT order_letters_sent_not_parked CHECK (sent_time IS NULL OR parked_time IS NULL)
);

-- The relay's work list, in the order it takes it. Small: almost every
-- letter is handed over by its request.
CREATE INDEX order_letters_due_idx ON order_letters (next_attempt_time)
    WHERE sent_time IS NULL AND parked_time IS NULL;

-- Final orders whose letter was never confirmed (the notification service
-- failed before this release) go into the outbox, so the relay delivers
-- them. The text is the one order.OutcomeLetter writes for these fields
-- (postgres/migrate_test.go compares the two). If an earlier attempt did
-- store the letter, the notification service answers the key as already
-- used, which counts as delivered.
INSERT INTO order_letters (order_id, user_id, request_id, email, subject, body)
SELECT o.id, o.user_id, 'order/' || o.id || '/letter', o.email,
       CASE o.status WHEN 'paid' THEN 'Order ' || o.id || ' is paid'
                     ELSE 'Order ' || o.id || ' was declined' END,
       CASE o.status
           WHEN 'paid' THEN E'Hello,\n\nyour order ' || o.id || ' is paid: ' || a.amount
                            || E' was withdrawn from your account.\n\nThank you for shopping with kassa.\n'
           ELSE E'Hello,\n\nyour order ' || o.id || ' for ' || a.amount
                || E' was declined and nothing was withdrawn from your account.\nReason: '
                || o.failure_reason
                || E'\n\nYou may place the order again once the problem is solved.\n'
       END
FROM orders o
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN d.digits = 0 THEN o.price::text || ' ' || o.currency
        ELSE (o.price / (10 ^ d.digits)::bigint)::text || '.'
             || lpad((o.price % (10 ^ d.digits)::bigint)::text, d.digits, '0') || ' ' || o.currency
    END AS amount
    FROM (SELECT CASE
        WHEN o.currency IN ('BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW',
                            'PYG', 'RWF', 'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF') THEN 0
        WHEN o.currency IN ('BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND') THEN 3
        ELSE 2 END AS digits) d
) a
WHERE o.status <> 'pending' AND o.notified_at IS NULL;

-- The repair loop now only settles pending orders; letters are the relay's.
DROP INDEX orders_unfinished_idx;
CREATE INDEX orders_pending_idx ON orders (update_time) WHERE status = 'pending';

-- +goose Down
DROP INDEX orders_pending_idx;
CREATE INDEX orders_unfinished_idx ON orders (update_time)
    WHERE status = 'pending' OR notified_at IS NULL;
DROP TABLE order_letters;
