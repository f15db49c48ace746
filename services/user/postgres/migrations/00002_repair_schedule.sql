-- +goose Up
-- The repair loop's schedule lives with each pending user, so a user whose
-- account can never be opened is pushed back (and in the end parked) rather
-- than taken again by every pass ahead of newer users.
ALTER TABLE users
    -- Failed repair attempts since the user was created or last released.
    ADD COLUMN repair_attempts   integer     NOT NULL DEFAULT 0 CHECK (repair_attempts >= 0),
    -- When the repair loop may try the user next. Existing pending users
    -- are due at once.
    ADD COLUMN next_attempt_time timestamptz NOT NULL DEFAULT now(),
    -- The error of the last failed attempt, for the operator listing parked
    -- users.
    ADD COLUMN last_error        text        NULL CHECK (char_length(last_error) <= 1000),
    -- Set when the loop gave up after the policy's last attempt; NULL while
    -- the user is still retried. RetryParked clears it.
    ADD COLUMN park_time         timestamptz NULL,
    ADD CONSTRAINT users_parked_has_attempts CHECK (park_time IS NULL OR repair_attempts > 0);

-- The old index ordered pending users by age, which is what let the oldest
-- unfinishable ones starve the rest.
DROP INDEX users_pending_idx;

-- A repair pass: live pending users not parked, the most overdue first.
CREATE INDEX users_repair_due_idx ON users (next_attempt_time, id)
    WHERE NOT account_ready AND delete_time IS NULL AND park_time IS NULL;

-- ListParked (most recently parked first) and the parked-items gauge.
CREATE INDEX users_parked_idx ON users (park_time DESC, id DESC)
    WHERE NOT account_ready AND delete_time IS NULL AND park_time IS NOT NULL;

-- +goose Down
DROP INDEX users_parked_idx;
DROP INDEX users_repair_due_idx;
CREATE INDEX users_pending_idx ON users (create_time) WHERE NOT account_ready AND delete_time IS NULL;
ALTER TABLE users
    DROP CONSTRAINT users_parked_has_attempts,
    DROP COLUMN park_time,
    DROP COLUMN last_error,
    DROP COLUMN next_attempt_time,
    DROP COLUMN repair_attempts;
