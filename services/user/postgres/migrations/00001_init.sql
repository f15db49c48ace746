-- +goose Up
-- A customer. Users are soft-deleted (delete_time set) and never removed,
-- because billing ledgers and orders keep referring to them.
CREATE TABLE users (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    username      text        NOT NULL CHECK (username ~ '^[a-z0-9][a-z0-9._-]{2,31}$'),
    email         text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    first_name    text        NOT NULL DEFAULT '' CHECK (char_length(first_name) <= 100),
    last_name     text        NOT NULL DEFAULT '' CHECK (char_length(last_name) <= 100),
    phone         text        NOT NULL DEFAULT '' CHECK (phone = '' OR phone ~ '^\+[1-9][0-9]{6,14}$'),
    -- Idempotency key of the CreateUser call that made the user.
    request_id    text        NULL CHECK (char_length(request_id) BETWEEN 1 AND 128),
    -- False from the insert until billing confirmed the account is open.
    -- CreateUser retries and the repair loop turn it true.
    account_ready boolean     NOT NULL DEFAULT false,
    create_time   timestamptz NOT NULL DEFAULT now(),
    update_time   timestamptz NOT NULL DEFAULT now(),
    delete_time   timestamptz NULL,
    CONSTRAINT users_request_id_key UNIQUE (request_id)
);

-- Usernames and emails are unique among live users only, so deleting a user
-- frees them. Emails compare without case (Ada@x.io is ada@x.io).
CREATE UNIQUE INDEX users_username_live_key ON users (username) WHERE delete_time IS NULL;
CREATE UNIQUE INDEX users_email_live_key ON users (lower(email)) WHERE delete_time IS NULL;

-- ListUsers: live users oldest first, keyset paged.
CREATE INDEX users_live_create_time_idx ON users (create_time, id) WHERE delete_time IS NULL;

-- The repair loop: live users whose account is not confirmed yet.
CREATE INDEX users_pending_idx ON users (create_time) WHERE NOT account_ready AND delete_time IS NULL;

-- +goose Down
DROP TABLE users;
