-- +goose Up
-- Two owners of idempotency keys, kept apart so that neither can block the
-- other. A client's key (request_id) is unique per user among movements
-- that pay no order. A withdrawal that pays an order is keyed by the order
-- alone: at most one per order, ever, whoever sends it; its request_id (the
-- order service sends "order/<id>") is recorded but takes no client key, so
-- a client deposit under "order/<id>" no longer collides with the payment.
--
-- Building transactions_order_key fails if an order was paid twice under
-- two request_ids, which only a client naming an order on its own
-- withdrawal could do before this migration. The ledger is append-only, so
-- such a pair needs a person; the migration stops rather than guess.
ALTER TABLE transactions DROP CONSTRAINT transactions_user_request_key;
CREATE UNIQUE INDEX transactions_user_request_key ON transactions (user_id, request_id)
    WHERE order_id IS NULL;
CREATE UNIQUE INDEX transactions_order_key ON transactions (order_id)
    WHERE order_id IS NOT NULL;
-- An order's payment is identified by its order; a request_id is optional.
ALTER TABLE transactions ALTER COLUMN request_id DROP NOT NULL;
ALTER TABLE transactions ADD CONSTRAINT transactions_key_check
    CHECK (request_id IS NOT NULL OR order_id IS NOT NULL);

-- Movements refused by a business rule, remembered under their key: a
-- retry with the same key and parameters gets the same refusal, even once
-- the rule would let it pass (a deposit made the withdrawal affordable), as
-- a client told "refused" must be able to rely on it. A key is taken by its
-- entry or by its refusal, not both: every insert into either table runs
-- under the account's row lock and first looks in both (see
-- postgres.Store.MoveOnce); the unique indexes below mirror the ledger's.
-- The lock is the user's, so for an order key it covers payments by one
-- user: two users paying one order at the same moment (a caller's bug; the
-- public API refuses order_id) can leave one's refusal beside the other's
-- entry, and lookups then answer with the entry.
CREATE TABLE refusals (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid        NOT NULL REFERENCES accounts (user_id),
    kind        text        NOT NULL CHECK (kind IN ('deposit', 'withdrawal')),
    amount      bigint      NOT NULL CHECK (amount > 0),
    -- The currency the request asked for, the account's when it named
    -- none. No foreign key to the account's currency: a CURRENCY_MISMATCH
    -- refusal is in another one.
    currency    text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    request_id  text        NULL CHECK (char_length(request_id) BETWEEN 1 AND 128),
    order_id    uuid        NULL CHECK (order_id IS NULL OR kind = 'withdrawal'),
    -- The ErrorInfo reason and the message the first answer carried; a
    -- replay answers exactly these.
    reason      text        NOT NULL
        CHECK (reason IN ('ACCOUNT_CLOSED', 'CURRENCY_MISMATCH', 'INSUFFICIENT_FUNDS', 'BALANCE_LIMIT')),
    message     text        NOT NULL CHECK (message <> ''),
    create_time timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT refusals_key_check CHECK (request_id IS NOT NULL OR order_id IS NOT NULL)
);
CREATE UNIQUE INDEX refusals_user_request_key ON refusals (user_id, request_id)
    WHERE order_id IS NULL;
CREATE UNIQUE INDEX refusals_order_key ON refusals (order_id)
    WHERE order_id IS NOT NULL;

-- A refusal is final for its key: removing or changing one would let a
-- later retry be applied although the client was told it was refused.
-- +goose StatementBegin
CREATE FUNCTION refusals_final() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'refusals are final: % on refusals is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER refusals_no_update_delete
    BEFORE UPDATE OR DELETE ON refusals
    FOR EACH ROW EXECUTE FUNCTION refusals_final();

CREATE TRIGGER refusals_no_truncate
    BEFORE TRUNCATE ON refusals
    FOR EACH STATEMENT EXECUTE FUNCTION refusals_final();

-- +goose Down
DROP TABLE refusals;
DROP FUNCTION refusals_final();
-- Fails while an order payment has no request_id or shares one with a
-- client movement of its user: the old schema cannot hold either.
ALTER TABLE transactions DROP CONSTRAINT transactions_key_check;
ALTER TABLE transactions ALTER COLUMN request_id SET NOT NULL;
DROP INDEX transactions_order_key;
DROP INDEX transactions_user_request_key;
ALTER TABLE transactions ADD CONSTRAINT transactions_user_request_key UNIQUE (user_id, request_id);
