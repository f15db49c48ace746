package ceiling

// UserID is the SQL expression of the id of bench user n (1-based) in the
// ceiling database: a fixed UUID per number, so a script can pick a user
// with \set alone.
const userIDExpr = `('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid`

// The scripts run, statement for statement and transaction for transaction,
// what kassa runs for one request (statements.go). A CreateOrder with an
// idempotency key makes five commits in four databases:
//
//	user          SELECT the live user                      GetUser (the e-mail)
//	order         INSERT ... ON CONFLICT DO NOTHING         Create           commit 1
//	              (the key's lookup too: a taken key
//	              inserts nothing)
//	billing       BEGIN; lock the account; one WITH         MoveOnce         commit 2
//	              statement; COMMIT. Paid: INSERT the
//	              ledger entry unless the order's key has
//	              an entry or a refusal, and UPDATE the
//	              balance. Rejected: read the key and
//	              record the refusal under it.
//	order         UPDATE the status and INSERT the letter   RecordOutcome    commit 3
//	              into the outbox, one WITH statement         (not waiting
//	                                                          for the disk)
//	notification  INSERT ... ON CONFLICT DO NOTHING         Send             commit 4
//	order         mark the outbox row sent and the order    MarkSent         commit 5
//	              notified, one WITH statement                (not waiting
//	                                                          for the disk)
//
// The order service holds no transaction or lock while billing answers,
// so one pgbench connection runs the steps in kassa's order. A refusal is
// committed like a payment: billing remembers it under the order's key. A
// deposit is billing's MoveOnce alone, keyed by the client's request_id.

// Values the scripts bind that kassa computes in Go. The ceiling's test
// holds the letters and payment keys a run leaves against the order
// service's own functions.
const (
	clientKey  = `'pgb-' || :client_id || '-' || :r`
	paymentKey = `'order/' || :o_id`              // order.PaymentRequestID
	letterKey  = `'order/' || :o_id || '/letter'` // order.LetterRequestID
	// The letter's amount as order.FormatAmount shows USD, from \set
	// units and cents.
	letterAmount = `:units || '.' || lpad(:cents::text, 2, '0') || ' USD'`
	// billing.ErrInsufficientFunds as Account.Apply words it; the order
	// service keeps it as the failure reason.
	insufficient = `'insufficient funds: the balance is ' || :a_balance || ' ' || :a_currency || ' minor units, the withdrawal needs ' || :price`
	// The seconds before the repair loop may take a payment, and the relay
	// a letter, that the request itself did not finish: the order
	// service's RepairMinAge with the default call timeout (3 × 5 s + 5 s).
	repairDelay = `20`
)

// orderHead finds, creates and begins to pay an order of :price.
var orderHead = `\set n random(1, :users)
\set r random(1, 9000000000000000000)
\set units :price / 100
\set cents :price % 100
-- user: GetUser
` + bind(getUser, userIDExpr) + ` \gset u_
-- order: Create (commit 1)
` + bind(createOrder, ":u_id", ":price", "'USD'", clientKey, ":u_email", repairDelay) + ` \gset o_
-- billing: MoveOnce, the withdrawal keyed by the order (commit 2)
BEGIN;
` + bind(lockAccount, ":u_id") + ` \gset a_
`

// orderTail settles the order with its outcome and hands the letter over.
func orderTail(status, reason, subject, body string) string {
	return `-- order: RecordOutcome, the status with its letter in the outbox (commit 3)
` + bind(recordOutcome, ":o_id", status, reason, letterKey, ":o_email", subject, body, repairDelay) + `;
-- notification: Send (commit 4)
` + bind(sendOrderLetter, ":o_user_id", ":o_email", subject, body, ":o_id", letterKey) + `;
-- order: MarkSent (commit 5)
` + bind(markSent, ":o_id", letterKey, "true") + `;
`
}

// PaidOrder is one affordable order.
var PaidOrder = `-- kassa ceiling: one paid order (see ceiling/scripts.go)
\set price random(100, 10000)
` + orderHead + `\set balance :a_balance - :price
` + bind(orderKeys.apply, ":u_id", paymentKey, ":o_id", "'withdrawal'", ":price", ":a_currency", ":balance") + `;
COMMIT;
` + orderTail(`'paid'`, `''`,
	`'Order ' || :o_id || ' is paid'`,
	`E'Hello,\n\nyour order ' || :o_id || ' is paid: ' || `+letterAmount+` || E' was withdrawn from your account.\n\nThank you for shopping with kassa.\n'`)

// RejectedOrder is one order that billing declines for insufficient funds:
// the rules refuse it before any insert, so billing reads the order's key
// and records the refusal in one statement, and commits it.
var RejectedOrder = `-- kassa ceiling: one rejected order (see ceiling/scripts.go)
\set price 10000000000000
` + orderHead + bind(orderKeys.key, ":u_id", paymentKey, ":o_id", "'withdrawal'", ":price", ":a_currency", "'INSUFFICIENT_FUNDS'", insufficient) + `;
COMMIT;
` + orderTail(`'rejected'`, insufficient,
	`'Order ' || :o_id || ' was declined'`,
	`E'Hello,\n\nyour order ' || :o_id || ' for ' || `+letterAmount+` || E' was declined and nothing was withdrawn from your account.\nReason: ' || `+insufficient+` || E'\n\nYou may place the order again once the problem is solved.\n'`)

// Deposit is one deposit through billing.
var Deposit = `-- kassa ceiling: one deposit (see ceiling/scripts.go)
\set n random(1, :users)
\set amount random(100, 5000)
\set r random(1, 9000000000000000000)
-- billing: MoveOnce, a deposit keyed by the client's request_id (commit 1)
BEGIN;
` + bind(lockAccount, userIDExpr) + ` \gset a_
\set balance :a_balance + :amount
` + bind(clientKeys.apply, ":a_user_id", `'pgb-dep-' || :client_id || '-' || :r`, "''", "'deposit'", ":amount", ":a_currency", ":balance") + `;
COMMIT;
`
