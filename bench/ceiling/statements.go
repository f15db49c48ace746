package ceiling

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The statements kassa's stores send for one request, copied from
// services/*/postgres with their $n parameters; the scripts bind them to
// pgbench variables and expressions (bind). Keeping the text as the
// services have it lets pgstmt.Compare pair each ceiling statement with
// the service's, and lets TestStatementsAreTheServices read each original
// from the store's source and fail when the two differ beyond white space.

// Column lists, exactly as the stores select and return them.
const (
	orderColumns = `id, user_id, price, currency, status, failure_reason, request_id, email,
	notified_at, create_time, update_time, pay_attempts,
	cancel_request_time, cancel_reason, cancel_time, refunded`
	userColumns    = `id, username, email, first_name, last_name, phone, account_ready, create_time, update_time, delete_time`
	accountColumns = `user_id, balance, currency, create_time, update_time, close_time`
	txColumns      = `id, user_id, kind, amount, currency, balance_after,
	coalesce(request_id, '') AS request_id, coalesce(order_id::text, '') AS order_id,
	coalesce(refund_of::text, '') AS refund_of, coalesce(refund_asked, 0) AS refund_asked,
	coalesce(refund_reason, '') AS refund_reason, create_time`
	refusalColumns = `id, user_id, kind, amount, currency, 0::bigint AS balance_after,
	coalesce(request_id, '') AS request_id, coalesce(order_id::text, '') AS order_id,
	coalesce(refund_of::text, '') AS refund_of, amount AS refund_asked, '' AS refund_reason,
	create_time, reason, message`
	letterColumns = `id, user_id, email, subject, body,
	coalesce(order_id::text, '') AS order_id, coalesce(request_id, '') AS request_id, create_time`
)

// user (postgres.Store.Get): $1 the user.
const getUser = `SELECT ` + userColumns + ` FROM users WHERE id = $1 AND delete_time IS NULL`

// order (postgres.Store): $1 the user, $2 the request_id, ... as each
// method binds them.
const (
	// Create: $1 user, $2 price, $3 currency, $4 request_id, $5 e-mail,
	// $6 the seconds before the repair loop may take the payment.
	createOrder = `INSERT INTO orders (user_id, price, currency, request_id, email, pay_next_attempt_time)
	VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
	ON CONFLICT (user_id, request_id) DO NOTHING
	RETURNING ` + orderColumns
	// The order service's two statements that record what a peer holds
	// durably commit without waiting for the disk, so the ceiling's do.
	replayable = `replayable AS (SELECT set_config('synchronous_commit', 'off', true) AS synchronous_commit)`
	// RecordOutcome: $1 order, $2 status, $3 failure reason, $4..$7 the
	// letter's request_id, e-mail, subject and body, $8 the seconds before
	// the relay may take it.
	recordOutcome = `WITH settled AS (
	UPDATE orders SET status = $2, failure_reason = $3, update_time = now(), pay_parked_time = NULL,
	    -- nothing was taken, so requested refunds have nothing to give back
	    cancel_request_time = CASE WHEN $2 = 'rejected' THEN NULL ELSE cancel_request_time END,
	    refund_reserved = CASE WHEN $2 = 'rejected' THEN 0 ELSE refund_reserved END
	WHERE id = $1 AND status = 'pending'
	RETURNING ` + orderColumns + `
), voided AS (
	DELETE FROM order_refunds WHERE order_id = (SELECT id FROM settled WHERE status = 'rejected')
), outbox AS (
	INSERT INTO order_letters (order_id, user_id, request_id, email, subject, body, next_attempt_time)
	SELECT id, user_id, $4, $5, $6, $7, now() + make_interval(secs => $8) FROM settled
), ` + replayable + `
SELECT ` + orderColumns + ` FROM settled, replayable`
	// MarkSent: $1 order, $2 the letter's request_id, $3 whether it is
	// the outcome letter (which marks the order notified).
	markSent = `WITH sent AS (
	UPDATE order_letters SET sent_time = coalesce(sent_time, now()), parked_time = NULL
	WHERE order_id = $1 AND request_id = $2
	RETURNING order_id
), ` + replayable + `
UPDATE orders
SET notified_at = CASE WHEN $3 THEN coalesce(notified_at, now()) ELSE notified_at END,
    update_time = CASE WHEN $3 AND notified_at IS NULL THEN now() ELSE update_time END
FROM replayable
WHERE id = (SELECT order_id FROM sent)
RETURNING ` + orderColumns
)

// notification (postgres.Store.Send), a letter about an order, keyed by
// (order_id, request_id): $1 user, $2 e-mail, $3 subject, $4 body, $5
// order, $6 request_id.
const sendOrderLetter = `INSERT INTO notifications (user_id, email, subject, body, order_id, request_id)
	VALUES ($1, $2, $3, $4, NULLIF($5, '')::uuid, NULLIF($6, ''))
	ON CONFLICT (order_id, request_id) WHERE order_id IS NOT NULL DO NOTHING
	RETURNING ` + letterColumns

// billing (postgres.Store.MoveOnce): the account lock, $1 the user.
const lockAccount = `SELECT ` + accountColumns + ` FROM accounts WHERE user_id = $1 FOR UPDATE`

// billingKeys are the statements of one key space of billing's movements
// (postgres.newKeyspace): $1 user, $2 request_id, $3 order, $4 kind, $5
// amount, $6 currency; $7 the balance after (apply) or the refusal's
// reason (key), $8 its message.
type billingKeys struct{ apply, key string }

func newBillingKeys(match, conflict string) billingKeys {
	return billingKeys{
		apply: `WITH entry AS (
	INSERT INTO transactions (user_id, kind, amount, currency, balance_after, request_id, order_id)
	SELECT $1::uuid, $4::text, $5::bigint, $6::text, $7::bigint, NULLIF($2::text, ''), NULLIF($3::text, '')::uuid
	WHERE NOT EXISTS (SELECT 1 FROM refusals WHERE ` + match + `)
	ON CONFLICT ` + conflict + ` DO NOTHING
	RETURNING ` + txColumns + `
), upd AS (
	UPDATE accounts a SET balance = e.balance_after, update_time = e.create_time
	FROM entry e WHERE a.user_id = e.user_id
	RETURNING 1
)
SELECT entry.*, (SELECT count(*) FROM upd) AS updated FROM entry`,
		key: `WITH prev AS (
	SELECT 'applied' AS outcome, ` + txColumns + `, '' AS reason, '' AS message
	FROM transactions WHERE ` + match + `
	UNION ALL
	SELECT 'refused', ` + refusalColumns + `
	FROM refusals WHERE ` + match + `
), recorded AS (
	INSERT INTO refusals (user_id, kind, amount, currency, request_id, order_id, reason, message)
	SELECT $1::uuid, $4::text, $5::bigint, $6::text, NULLIF($2::text, ''), NULLIF($3::text, '')::uuid, $7::text, $8::text
	WHERE $7::text <> '' AND NOT EXISTS (SELECT 1 FROM prev)
	ON CONFLICT ` + conflict + ` DO NOTHING
	RETURNING 'recorded' AS outcome, ` + refusalColumns + `
)
SELECT * FROM prev UNION ALL SELECT * FROM recorded`,
	}
}

// A client's movement is keyed by (user, request_id), an order's payment
// by the order alone; each has a partial unique index in both tables.
var (
	clientKeys = newBillingKeys(`user_id = $1::uuid AND request_id = $2::text AND order_id IS NULL AND refund_of IS NULL`,
		`(user_id, request_id) WHERE order_id IS NULL AND refund_of IS NULL`)
	orderKeys = newBillingKeys(`order_id = NULLIF($3::text, '')::uuid`,
		`(order_id) WHERE order_id IS NOT NULL`)
)

var (
	reBindParam = regexp.MustCompile(`\$(\d+)`)
	reBindPlain = regexp.MustCompile(`^(:[a-z_]+|'[^']*'|\d+)$`)
	reBindCast  = regexp.MustCompile(`^::[a-z]+$`)
)

// bind puts args[n-1] in place of each $n of stmt, as pgbench text: a
// variable (:o_id), a literal or an expression. An expression is put in
// parentheses, so that a cast after the parameter ($2::text) applies to
// all of it. A statement with a parameter that has no argument panics: the
// scripts are package variables, so that is a bug seen at the first test.
func bind(stmt string, args ...string) string {
	return reBindParam.ReplaceAllStringFunc(stmt, func(p string) string {
		n, _ := strconv.Atoi(p[1:])
		if n < 1 || n > len(args) {
			panic(fmt.Sprintf("ceiling: %s has no argument in %.60q", p, stmt))
		}
		if a := args[n-1]; !reBindPlain.MatchString(a) && !enclosed(a) {
			return "(" + a + ")"
		}
		return args[n-1]
	})
}

// enclosed reports whether expression a is one parenthesised group,
// optionally cast: "(x || y)::uuid" but not "(x) || (y)". Quotes are not
// looked into; the scripts' literals hold no parentheses.
func enclosed(a string) bool {
	if !strings.HasPrefix(a, "(") {
		return false
	}
	depth := 0
	for i, c := range a {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				rest := a[i+1:]
				return rest == "" || reBindCast.MatchString(rest)
			}
		}
	}
	return false
}
