-- +goose Up
-- The revocation list reads the users deleted in the last few minutes on
-- every request from every verifier; this keeps that a short index range
-- instead of a scan of all users, deleted ones included.
CREATE INDEX users_delete_time_idx ON users (delete_time) WHERE delete_time IS NOT NULL;

-- +goose Down
DROP INDEX users_delete_time_idx;
