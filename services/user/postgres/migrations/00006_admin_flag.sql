-- +goose Up
-- The admin role belongs to an account, not to a username: usernames can be
-- changed and registered by anyone, so a name list would hand the role to
-- whoever takes a configured name. Only the operator's grant-admin command
-- sets this; registration and UpdateUser never write it.
ALTER TABLE users ADD COLUMN is_admin boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE users DROP COLUMN is_admin;
