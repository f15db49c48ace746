-- +goose Up
-- An order: a user buys something for a price. The row is written as
-- 'pending' before any money moves, then becomes 'paid' or 'rejected' with
-- billing's answer, and notified_at is set once the outcome letter is
-- stored. Orders are never deleted.
CREATE TABLE orders (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The buyer. Not a foreign key: users live in the user service's
    -- database; the user is checked through the user service instead.
    user_id        uuid        NOT NULL,
    price          bigint      NOT NULL CHECK (price > 0 AND price <= 1000000000000000),
    currency       text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status         text        NOT NULL DEFAULT 'pending'
                               CHECK (status IN ('pending', 'paid', 'rejected')),
    failure_reason text        NOT NULL DEFAULT '',
    request_id     text        NOT NULL CHECK (char_length(request_id) BETWEEN 1 AND 128),
    -- Where the outcome letter goes; copied from the user when the order was
    -- recorded so a resumed order needs no user lookup and sends the same
    -- letter.
    email          text        NOT NULL CHECK (email <> ''),
    notified_at    timestamptz NULL,
    create_time    timestamptz NOT NULL DEFAULT now(),
    update_time    timestamptz NOT NULL DEFAULT now(),
    -- Idempotency keys are scoped per buyer.
    CONSTRAINT orders_user_request_key UNIQUE (user_id, request_id),
    -- A reason exactly for rejected orders.
    CONSTRAINT orders_reason_iff_rejected CHECK ((status = 'rejected') = (failure_reason <> '')),
    -- The letter announces the outcome, so it cannot precede it.
    CONSTRAINT orders_notified_only_final CHECK (notified_at IS NULL OR status <> 'pending')
);

-- ListOrders: one user's orders, newest first, keyset paged.
CREATE INDEX orders_user_time_idx ON orders (user_id, create_time DESC, id DESC);

-- The repair loop's work list: orders with a step left to do. Small,
-- because almost every order finishes within its CreateOrder call.
CREATE INDEX orders_unfinished_idx ON orders (update_time)
    WHERE status = 'pending' OR notified_at IS NULL;

-- +goose Down
DROP TABLE orders;
