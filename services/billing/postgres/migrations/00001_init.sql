-- +goose Up
-- One money account per user. The balance is a cache of the ledger sum,
-- kept equal to it by changing both in one transaction under the account's
-- row lock (see postgres.Store.Move).
CREATE TABLE accounts (
    -- Not a foreign key: users live in the user service's database.
    user_id     uuid        PRIMARY KEY,
    balance     bigint      NOT NULL DEFAULT 0 CHECK (balance >= 0),
    currency    text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    -- NULL while open; a closed account keeps balance and ledger.
    close_time  timestamptz NULL CHECK (close_time >= create_time),
    -- Target of the ledger's (user_id, currency) foreign key.
    CONSTRAINT accounts_user_currency_key UNIQUE (user_id, currency)
);

-- The ledger: every change of a balance, never changed or deleted.
CREATE TABLE transactions (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid        NOT NULL REFERENCES accounts (user_id),
    kind          text        NOT NULL CHECK (kind IN ('deposit', 'withdrawal')),
    amount        bigint      NOT NULL CHECK (amount > 0),
    currency      text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    balance_after bigint      NOT NULL CHECK (balance_after >= 0),
    request_id    text        NOT NULL CHECK (char_length(request_id) BETWEEN 1 AND 128),
    -- Only withdrawals pay for orders.
    order_id      uuid        NULL CHECK (order_id IS NULL OR kind = 'withdrawal'),
    create_time   timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- Idempotency: one entry per request of a user, whatever its kind.
    CONSTRAINT transactions_user_request_key UNIQUE (user_id, request_id),
    -- An entry is always in its account's currency.
    CONSTRAINT transactions_account_currency_fkey FOREIGN KEY (user_id, currency)
        REFERENCES accounts (user_id, currency)
);

-- ListTransactions: one account's ledger, newest first, keyset paged.
CREATE INDEX transactions_user_time_idx ON transactions (user_id, create_time DESC, id DESC);

-- The ledger is append-only: history is corrected by new entries, never by
-- rewriting old ones. The triggers hold against any client, not only this
-- service's code.
-- +goose StatementBegin
CREATE FUNCTION transactions_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on transactions is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER transactions_no_update_delete
    BEFORE UPDATE OR DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION transactions_append_only();

CREATE TRIGGER transactions_no_truncate
    BEFORE TRUNCATE ON transactions
    FOR EACH STATEMENT EXECUTE FUNCTION transactions_append_only();

-- +goose Down
DROP TABLE transactions;
DROP FUNCTION transactions_append_only();
DROP TABLE accounts;
