package ceiling

import "strings"

// Column lists, exactly as the services' stores select and return them
// (services/*/postgres/store.go).
const (
	orderColumns = `id, user_id, price, currency, status, failure_reason, request_id, email,
	notified_at, create_time, update_time`
	userColumns    = `id, username, email, first_name, last_name, phone, account_ready, create_time, update_time, delete_time`
	accountColumns = `user_id, balance, currency, create_time, update_time, close_time`
	txColumns      = `id, user_id, kind, amount, currency, balance_after, request_id,
	coalesce(order_id::text, '') AS order_id, create_time`
	letterColumns = `id, user_id, email, subject, body,
	coalesce(order_id::text, '') AS order_id, coalesce(request_id, '') AS request_id, create_time`
)

// UserID is the SQL expression of the id of bench user n (1-based) in the
// ceiling database: a fixed UUID per number, so a script can pick a user
// with \set alone.
const userIDExpr = `('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid`

// The scripts run, statement for statement and transaction for transaction,
// what kassa runs for one request. A CreateOrder with an idempotency key
// makes five commits in four databases:
//
//	order         SELECT by (user_id, request_id)          FindByRequest
//	user          SELECT the live user                      GetUser (the e-mail)
//	order         INSERT ... ON CONFLICT DO NOTHING         Create           commit 1
//	billing       BEGIN; lock the account; one WITH         Move (Withdraw)  commit 2
//	              statement: INSERT the ledger entry ON
//	              CONFLICT DO NOTHING and UPDATE the
//	              balance; COMMIT
//	order         BEGIN; lock the order; UPDATE status;     Settle           commit 3
//	              COMMIT
//	notification  INSERT ... ON CONFLICT DO NOTHING         Send             commit 4
//	order         UPDATE notified_at                        MarkNotified     commit 5
//
// In kassa the billing transaction runs while the order's Settle
// transaction holds the order row (billing is called from inside it); one
// pgbench connection cannot nest transactions, so here billing commits
// just before Settle's transaction. The statements and the number of
// commits (the WAL flushes that bound a durable system) are the same. A
// rejected order's billing transaction locks, looks the request_id up in
// the ledger and rolls back, as Move does when the funds check fails. A
// deposit is billing's Move alone.

const orderHead = `\set n random(1, :users)
\set r random(1, 9000000000000000000)
-- order: FindByRequest
SELECT ` + orderColumns + ` FROM orders WHERE user_id = ` + userIDExpr + ` AND request_id = 'pgb-' || :client_id || '-' || :r;
-- user: GetUser
SELECT ` + userColumns + ` FROM users WHERE id = ` + userIDExpr + ` AND delete_time IS NULL \gset u_
-- order: Create (commit 1)
INSERT INTO orders (user_id, price, currency, request_id, email)
	VALUES (:u_id, :price, 'USD', 'pgb-' || :client_id || '-' || :r, :u_email)
	ON CONFLICT (user_id, request_id) DO NOTHING
	RETURNING ` + orderColumns + ` \gset o_
-- billing: Move, a withdrawal keyed by the order (commit 2, or a rollback)
BEGIN;
SELECT ` + accountColumns + ` FROM accounts WHERE user_id = :u_id FOR UPDATE \gset a_
`

const orderTail = `-- notification: Send (commit 4)
INSERT INTO notifications (user_id, email, subject, body, order_id, request_id)
	VALUES (:u_id, :u_email, {{SUBJECT}}, {{BODY}}, NULLIF(:o_id, '')::uuid, NULLIF('order/' || :o_id || '/letter', ''))
	ON CONFLICT (user_id, request_id) DO NOTHING
	RETURNING ` + letterColumns + `;
-- order: MarkNotified (commit 5)
UPDATE orders
	SET notified_at = coalesce(notified_at, now()),
	    update_time = CASE WHEN notified_at IS NULL THEN now() ELSE update_time END
	WHERE id = :o_id RETURNING ` + orderColumns + `;
`

// PaidOrder is one affordable order.
var PaidOrder = `-- kassa ceiling: one paid order (see ceiling/scripts.go)
\set price random(100, 10000)
` + orderHead + `\set balance :a_balance - :price
` + moveEntry(`:u_id, 'withdrawal', :price, 'USD', :balance, 'order/' || :o_id, NULLIF(:o_id, '')::uuid`) + `
COMMIT;
-- order: Settle (commit 3)
BEGIN;
SELECT ` + orderColumns + ` FROM orders WHERE id = :o_id FOR UPDATE;
UPDATE orders SET status = 'paid', failure_reason = '', update_time = now()
	WHERE id = :o_id RETURNING ` + orderColumns + `;
COMMIT;
` + letter(orderTail,
	`'Order ' || :o_id || ' is paid'`,
	`E'Hello,\n\nyour order ' || :o_id || ' is paid: ' || :price || E' USD minor units were withdrawn from your account.\n\nThank you for shopping with kassa.\n'`)

// RejectedOrder is one order that billing declines for insufficient funds.
var RejectedOrder = `-- kassa ceiling: one rejected order (see ceiling/scripts.go)
\set price 10000000000000
` + orderHead + `SELECT ` + txColumns + ` FROM transactions WHERE user_id = :u_id AND request_id = 'order/' || :o_id;
ROLLBACK;
-- order: Settle (commit 3)
BEGIN;
SELECT ` + orderColumns + ` FROM orders WHERE id = :o_id FOR UPDATE;
UPDATE orders SET status = 'rejected',
	failure_reason = 'insufficient funds: the balance is ' || :a_balance || ' USD minor units, the withdrawal needs ' || :price,
	update_time = now()
	WHERE id = :o_id RETURNING ` + orderColumns + `;
COMMIT;
` + letter(orderTail,
	`'Order ' || :o_id || ' was declined'`,
	`E'Hello,\n\nyour order ' || :o_id || ' for ' || :price || E' USD minor units was declined and nothing was withdrawn from your account.\nReason: insufficient funds\n\nYou may place the order again once the problem is solved.\n'`)

// Deposit is one deposit through billing.
var Deposit = `-- kassa ceiling: one deposit (see ceiling/scripts.go)
\set n random(1, :users)
\set amount random(100, 5000)
\set r random(1, 9000000000000000000)
-- billing: Move, a deposit (commit 1)
BEGIN;
SELECT ` + accountColumns + ` FROM accounts WHERE user_id = ` + userIDExpr + ` FOR UPDATE \gset a_
\set balance :a_balance + :amount
` + moveEntry(`:a_user_id, 'deposit', :amount, 'USD', :balance, 'pgb-dep-' || :client_id || '-' || :r, NULLIF('', '')::uuid`) + `
COMMIT;
`

func letter(tail, subject, body string) string {
	return strings.NewReplacer("{{SUBJECT}}", subject, "{{BODY}}", body).Replace(tail)
}

// moveEntry is billing's statement for an applied movement
// (postgres.Store.MoveOnce): the ledger entry with the given VALUES and the
// balance it records, in one statement.
func moveEntry(values string) string {
	return `WITH entry AS (
	INSERT INTO transactions (user_id, kind, amount, currency, balance_after, request_id, order_id)
	VALUES (` + values + `)
	ON CONFLICT (user_id, request_id) DO NOTHING
	RETURNING ` + txColumns + `
), upd AS (
	UPDATE accounts a SET balance = e.balance_after, update_time = e.create_time
	FROM entry e WHERE a.user_id = e.user_id
	RETURNING 1
)
SELECT entry.*, (SELECT count(*) FROM upd) AS updated FROM entry;`
}
