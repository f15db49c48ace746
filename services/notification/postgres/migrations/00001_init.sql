-- +goose Up
-- A stored letter. Letters are never changed or deleted.
CREATE TABLE notifications (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The recipient. Not a foreign key: users live in the user service's
    -- database, and this service does not check that the user exists.
    user_id     uuid        NOT NULL,
    email       text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    subject     text        NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 200),
    body        text        NOT NULL CHECK (char_length(body) BETWEEN 1 AND 10000),
    order_id    uuid        NULL,
    request_id  text        NULL CHECK (char_length(request_id) BETWEEN 1 AND 128),
    create_time timestamptz NOT NULL DEFAULT now(),
    -- Idempotency keys are scoped per recipient, so two callers cannot
    -- collide on keys meant for different users. NULL keys never conflict.
    CONSTRAINT notifications_user_request_key UNIQUE (user_id, request_id)
);

-- ListNotifications: one user's letters, newest first, keyset paged.
CREATE INDEX notifications_user_time_idx ON notifications (user_id, create_time DESC, id DESC);

-- +goose Down
DROP TABLE notifications;
