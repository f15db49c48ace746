-- +goose Up
-- The password of a user as an argon2id PHC string (the parameters travel
-- with the hash). NULL for users created without one, including every user
-- from before passwords existed: they cannot log in.
ALTER TABLE users
    ADD COLUMN password_hash text NULL
        CHECK (password_hash LIKE '$argon2id$%' AND char_length(password_hash) <= 256);

-- +goose Down
ALTER TABLE users DROP COLUMN password_hash;
