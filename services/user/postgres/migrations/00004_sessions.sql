-- +goose Up
-- Brute-force protection per account. The state is in the database so
-- every replica of the user service sees the same count and lock.
ALTER TABLE users
    -- Failed logins since the last successful one.
    ADD COLUMN failed_logins      integer     NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    -- Until when every login of the account is refused, the right password
    -- included; NULL when not locked.
    ADD COLUMN login_locked_until timestamptz NULL;

-- A login session: the chain of refresh tokens handed out since one
-- Login, each replacing the one before. Revoking the family ends the
-- session; a refresh token presented twice revokes it, because only a
-- stolen copy would be used again.
CREATE TABLE refresh_families (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid        NOT NULL REFERENCES users (id),
    create_time   timestamptz NOT NULL DEFAULT now(),
    revoke_time   timestamptz NULL,
    -- 'logout', 'reuse' or 'user_deleted'.
    revoke_reason text        NULL CHECK (revoke_reason IN ('logout', 'reuse', 'user_deleted')),
    CONSTRAINT refresh_families_revoked_has_reason CHECK ((revoke_time IS NULL) = (revoke_reason IS NULL))
);

CREATE INDEX refresh_families_user_idx ON refresh_families (user_id);

-- One refresh token. Only its SHA-256 is stored (the token is 32 random
-- bytes, so a plain hash cannot be reversed), so the table is useless to
-- someone who reads it.
CREATE TABLE refresh_tokens (
    token_hash  bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    family_id   uuid        NOT NULL REFERENCES refresh_families (id),
    create_time timestamptz NOT NULL DEFAULT now(),
    expire_time timestamptz NOT NULL,
    -- When the token was exchanged by Refresh; a used token is never valid
    -- again.
    use_time    timestamptz NULL,
    CONSTRAINT refresh_tokens_expiry_after_create CHECK (expire_time > create_time)
);

CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

-- +goose Down
DROP TABLE refresh_tokens;
DROP TABLE refresh_families;
ALTER TABLE users DROP COLUMN login_locked_until, DROP COLUMN failed_logins;
