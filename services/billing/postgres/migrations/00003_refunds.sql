-- +goose Up
-- Refunds: money a withdrawal took, given back as a new ledger entry of
-- kind 'refund' that names the withdrawal (refund_of). The withdrawal is
-- never touched; what has been refunded of it is a running total kept in
-- refund_totals, which the schema keeps at or below the withdrawal's amount
-- whoever inserts the refunds.
ALTER TABLE transactions DROP CONSTRAINT transactions_kind_check;
ALTER TABLE transactions ADD CONSTRAINT transactions_kind_check
    CHECK (kind IN ('deposit', 'withdrawal', 'refund'));
ALTER TABLE transactions
    ADD COLUMN refund_of uuid NULL REFERENCES transactions (id),
    -- The amount the refund's request asked for, 0 for all that remained:
    -- a retry is compared with what it asked, not with what the rest came
    -- to (which is 0 once the first one applied).
    ADD COLUMN refund_asked bigint NULL CHECK (refund_asked >= 0),
    ADD COLUMN refund_reason text NULL CHECK (char_length(refund_reason) <= 200),
    ADD CONSTRAINT transactions_refund_check CHECK (
        (kind = 'refund') = (refund_of IS NOT NULL)
        AND (kind = 'refund') = (refund_asked IS NOT NULL)
        AND (refund_reason IS NULL OR kind = 'refund'));

-- A refund's key is (user, request_id) among refunds only. The refunder
-- is the order service, so its keys live apart from the customer's own:
-- a customer's deposit under some key cannot block or pre-empt a refund.
-- The client keys' indexes leave refunds out accordingly.
DROP INDEX transactions_user_request_key;
CREATE UNIQUE INDEX transactions_user_request_key ON transactions (user_id, request_id)
    WHERE order_id IS NULL AND refund_of IS NULL;
CREATE UNIQUE INDEX transactions_refund_key ON transactions (user_id, request_id)
    WHERE refund_of IS NOT NULL;
-- The refunds of one withdrawal, for audits.
CREATE INDEX transactions_refund_of_idx ON transactions (refund_of) WHERE refund_of IS NOT NULL;

-- Refusals of refunds mirror the ledger: the same key, the withdrawal the
-- refused request named, and its asked amount (0 for "all that remains",
-- which is what a refusal of "nothing remains" records).
ALTER TABLE refusals DROP CONSTRAINT refusals_kind_check;
ALTER TABLE refusals ADD CONSTRAINT refusals_kind_check
    CHECK (kind IN ('deposit', 'withdrawal', 'refund'));
ALTER TABLE refusals DROP CONSTRAINT refusals_amount_check;
ALTER TABLE refusals ADD CONSTRAINT refusals_amount_check
    CHECK (amount > 0 OR (kind = 'refund' AND amount = 0));
ALTER TABLE refusals DROP CONSTRAINT refusals_reason_check;
ALTER TABLE refusals ADD CONSTRAINT refusals_reason_check
    CHECK (reason IN ('ACCOUNT_CLOSED', 'CURRENCY_MISMATCH', 'INSUFFICIENT_FUNDS', 'BALANCE_LIMIT',
                      'NOT_REFUNDABLE', 'REFUND_EXCEEDS_REMAINING'));
ALTER TABLE refusals
    ADD COLUMN refund_of uuid NULL REFERENCES transactions (id),
    ADD CONSTRAINT refusals_refund_check CHECK ((kind = 'refund') = (refund_of IS NOT NULL));
DROP INDEX refusals_user_request_key;
CREATE UNIQUE INDEX refusals_user_request_key ON refusals (user_id, request_id)
    WHERE order_id IS NULL AND refund_of IS NULL;
CREATE UNIQUE INDEX refusals_refund_key ON refusals (user_id, request_id)
    WHERE refund_of IS NOT NULL;

-- What has been refunded of each withdrawal that has refunds. Rows are
-- written by the trigger below only, in the statement that inserts the
-- refund: the UPDATE of the running total takes the row's lock, so two
-- refunds of one withdrawal add up one after the other even without the
-- account's lock, and the CHECK refuses the one that would pass the
-- withdrawn amount. The service decides under the account's lock and
-- never reaches the CHECK; it is the backstop against any other writer.
CREATE TABLE refund_totals (
    withdrawal_id uuid   PRIMARY KEY REFERENCES transactions (id),
    withdrawn     bigint NOT NULL CHECK (withdrawn > 0),
    refunded      bigint NOT NULL CHECK (refunded > 0),
    CONSTRAINT refund_totals_within_withdrawal CHECK (refunded <= withdrawn)
);

-- A refund names a withdrawal of its own account in its currency, and
-- adds its amount to that withdrawal's total.
-- +goose StatementBegin
CREATE FUNCTION transactions_count_refund() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO refund_totals AS r (withdrawal_id, withdrawn, refunded)
    SELECT w.id, w.amount, NEW.amount FROM transactions w
    WHERE w.id = NEW.refund_of AND w.kind = 'withdrawal'
      AND w.user_id = NEW.user_id AND w.currency = NEW.currency
    ON CONFLICT (withdrawal_id) DO UPDATE SET refunded = r.refunded + EXCLUDED.refunded;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'refund % names %, which is no withdrawal of user % in %',
            NEW.id, NEW.refund_of, NEW.user_id, NEW.currency
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER transactions_refund_total
    AFTER INSERT ON transactions
    FOR EACH ROW WHEN (NEW.kind = 'refund') EXECUTE FUNCTION transactions_count_refund();

-- +goose Down
-- Fails while refunds exist: the old schema cannot hold them.
DROP TRIGGER transactions_refund_total ON transactions;
DROP FUNCTION transactions_count_refund();
DROP TABLE refund_totals;
DROP INDEX refusals_refund_key;
DROP INDEX refusals_user_request_key;
CREATE UNIQUE INDEX refusals_user_request_key ON refusals (user_id, request_id)
    WHERE order_id IS NULL;
ALTER TABLE refusals DROP CONSTRAINT refusals_refund_check;
ALTER TABLE refusals DROP COLUMN refund_of;
ALTER TABLE refusals DROP CONSTRAINT refusals_reason_check;
ALTER TABLE refusals ADD CONSTRAINT refusals_reason_check
    CHECK (reason IN ('ACCOUNT_CLOSED', 'CURRENCY_MISMATCH', 'INSUFFICIENT_FUNDS', 'BALANCE_LIMIT'));
ALTER TABLE refusals DROP CONSTRAINT refusals_amount_check;
ALTER TABLE refusals ADD CONSTRAINT refusals_amount_check CHECK (amount > 0);
ALTER TABLE refusals DROP CONSTRAINT refusals_kind_check;
ALTER TABLE refusals ADD CONSTRAINT refusals_kind_check CHECK (kind IN ('deposit', 'withdrawal'));
DROP INDEX transactions_refund_of_idx;
DROP INDEX transactions_refund_key;
DROP INDEX transactions_user_request_key;
CREATE UNIQUE INDEX transactions_user_request_key ON transactions (user_id, request_id)
    WHERE order_id IS NULL;
ALTER TABLE transactions DROP CONSTRAINT transactions_refund_check;
ALTER TABLE transactions DROP COLUMN refund_reason;
ALTER TABLE transactions DROP COLUMN refund_asked;
ALTER TABLE transactions DROP COLUMN refund_of;
ALTER TABLE transactions DROP CONSTRAINT transactions_kind_check;
ALTER TABLE transactions ADD CONSTRAINT transactions_kind_check CHECK (kind IN ('deposit', 'withdrawal'));
