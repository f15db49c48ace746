package preload

import (
	"database/sql"
	"fmt"
	"time"
)

// idSQL is ID as SQL over the expressions n and k.
func idSQL(tag, n, k string) string {
	return fmt.Sprintf(`(lpad(to_hex(%s), 8, '0') || '-%s-4000-8000-' || lpad(to_hex(%s), 12, '0'))`, n, tag, k)
}

// The columns every statement derives from a user's number n and a row's
// index k.
var (
	userSQL  = idSQL(tagUser, "n", "0") + "::uuid"
	orderSQL = idSQL(tagOrder, "n", "k")
	emailSQL = `'pl' || n || '@example.com'`
)

// Orders as (n, k, t): the order k of user n, paid at t. Users from 2 on
// pay their one order an hour after they joined; the heavy user pays one
// a second. $1..$2 is the range of n, or of k for the heavy user; $3 is
// the base time.
const (
	normalOrders = `SELECT n, 0 AS k, $3::timestamptz + n * interval '1 millisecond' + interval '1 hour' AS t
	FROM generate_series($1::int, $2::int) n`
	heavyOrders = `SELECT 1 AS n, k, $3::timestamptz + (k + 1) * interval '1 second' AS t
	FROM generate_series($1::int, $2::int) k`
)

// The amount as the order service's letters write it.
var amountText = fmt.Sprintf("%d.%02d USD", Price/100, Price%100)

// Statements by table. $1, $2 and $3 are as for the order sources; the
// rest are bound by waves.
var (
	usersStmt = `INSERT INTO users (id, username, email, first_name, account_ready, password_hash, create_time, update_time)
	SELECT ` + userSQL + `, 'pl' || n, ` + emailSQL + `, 'Preload', true, $4,
	       $3::timestamptz + n * interval '1 millisecond', $3::timestamptz + n * interval '1 millisecond'
	FROM generate_series($1::int, $2::int) n`

	// $4 a user's balance, $5 the heavy user's.
	accountsStmt = `INSERT INTO accounts (user_id, balance, currency, create_time, update_time)
	SELECT ` + userSQL + `, CASE WHEN n = 1 THEN $5::bigint ELSE $4::bigint END, 'USD',
	       $3::timestamptz + n * interval '1 millisecond', $3::timestamptz + n * interval '1 millisecond'
	FROM generate_series($1::int, $2::int) n`

	// Entry k of user n: 0 the funding, 1 the order's payment, then small
	// deposits; balance_after is the running sum. $4 Fund, $5 Price, $6
	// Deposit.
	ledgerStmt = `INSERT INTO transactions (id, user_id, kind, amount, currency, balance_after, request_id, order_id, create_time)
	SELECT ` + idSQL(tagEntry, "n", "k") + `::uuid, ` + userSQL + `,
	       CASE WHEN k = 1 THEN 'withdrawal' ELSE 'deposit' END,
	       CASE k WHEN 0 THEN $4::bigint WHEN 1 THEN $5::bigint ELSE $6::bigint END, 'USD',
	       CASE k WHEN 0 THEN $4::bigint WHEN 1 THEN $4::bigint - $5::bigint ELSE $4::bigint - $5::bigint + (k - 1) * $6::bigint END,
	       CASE k WHEN 0 THEN 'pl-fund' WHEN 1 THEN 'order/' || ` + idSQL(tagOrder, "n", "0") + ` ELSE 'pl-deposit-' || k END,
	       CASE WHEN k = 1 THEN ` + idSQL(tagOrder, "n", "0") + `::uuid END,
	       $3::timestamptz + n * interval '1 millisecond' + k * interval '1 hour'
	FROM generate_series($1::int, $2::int) n CROSS JOIN LATERAL generate_series(0, ` + fmt.Sprint(EntriesPerUser-1) + `) k`

	// The heavy user's entries: k 0 the funding, k ≥ 1 the payment of its
	// order k-1, at the order's time. $4 Fund, $5 Price.
	heavyLedgerStmt = `INSERT INTO transactions (id, user_id, kind, amount, currency, balance_after, request_id, order_id, create_time)
	SELECT ` + idSQL(tagEntry, "1", "k") + `::uuid, ` + idSQL(tagUser, "1", "0") + `::uuid,
	       CASE WHEN k = 0 THEN 'deposit' ELSE 'withdrawal' END,
	       CASE WHEN k = 0 THEN $4::bigint ELSE $5::bigint END, 'USD', $4::bigint - k * $5::bigint,
	       CASE WHEN k = 0 THEN 'pl-fund' ELSE 'order/' || ` + idSQL(tagOrder, "1", "k - 1") + ` END,
	       CASE WHEN k > 0 THEN ` + idSQL(tagOrder, "1", "k - 1") + `::uuid END,
	       $3::timestamptz + k * interval '1 second'
	FROM generate_series($1::int, $2::int) k`

	// $4 the price.
	ordersStmt = `INSERT INTO orders (id, user_id, price, currency, status, request_id, email, notified_at, create_time, update_time)
	SELECT ` + orderSQL + `::uuid, ` + userSQL + `, $4::bigint, 'USD', 'paid', 'pl-order-' || k, ` + emailSQL + `,
	       t + interval '1 second', t - interval '500 milliseconds', t + interval '1 second'
	FROM (%s) o`

	subjectSQL = `'Order ' || ` + orderSQL + ` || ' is paid'`
	// The order service's outcome letter of a paid order (order.OutcomeLetter).
	bodySQL = `E'Hello,\n\nyour order ' || ` + orderSQL + ` || ' is paid: ` + amountText + `' || E' was withdrawn from your account.\n\nThank you for shopping with kassa.\n'`

	// The outbox row of each order's letter, sent.
	outboxStmt = `INSERT INTO order_letters (order_id, user_id, request_id, email, subject, body, next_attempt_time, sent_time, create_time)
	SELECT ` + orderSQL + `::uuid, ` + userSQL + `, 'order/' || ` + orderSQL + ` || '/letter', ` + emailSQL + `,
	       ` + subjectSQL + `, ` + bodySQL + `, t, t + interval '1 second', t
	FROM (%s) o`

	lettersStmt = `INSERT INTO notifications (id, user_id, email, subject, body, order_id, request_id, create_time)
	SELECT ` + idSQL(tagLetter, "n", "k") + `::uuid, ` + userSQL + `, ` + emailSQL + `,
	       ` + subjectSQL + `, ` + bodySQL + `, ` + orderSQL + `::uuid, 'order/' || ` + orderSQL + ` || '/letter', t + interval '1 second'
	FROM (%s) o`
)

// ranges cuts lo..hi (inclusive) into ranges of at most size.
func ranges(lo, hi, size int) [][2]int {
	var out [][2]int
	for a := lo; a <= hi; a += size {
		out = append(out, [2]int{a, min(hi, a+size-1)})
	}
	return out
}

// waves returns the statements in two waves: the rows that others refer
// to (users, accounts, orders, letters), then the ledger and the outbox.
// Within a wave the tables alternate, so that parallel statements work in
// different databases.
func (o Options) waves(d DBs, base time.Time) [][]job {
	chunk := max(1, o.Chunk)
	s := o.Size
	users := ranges(1, s.Users, chunk)
	normal := ranges(2, s.Users, chunk)
	// The heavy user's rows, as many per statement as a chunk of users makes.
	heavy := ranges(0, s.Heavy-1, chunk*EntriesPerUser)
	var first, second [][]job
	add := func(wave *[][]job, db *sql.DB, table, stmt string, rs [][2]int, shift int, extra ...any) {
		var js []job
		for _, r := range rs {
			js = append(js, job{db: db, table: table, stmt: stmt, args: append([]any{r[0] + shift, r[1] + shift, base}, extra...)})
		}
		*wave = append(*wave, js)
	}
	add(&first, d.User, "users", usersStmt, users, 0, o.PasswordHash)
	add(&first, d.Billing, "accounts", accountsStmt, users, 0, Fund-Price+(EntriesPerUser-2)*Deposit, Fund-int64(s.Heavy)*Price)
	for _, src := range []struct {
		rows string
		rs   [][2]int
	}{{normalOrders, normal}, {heavyOrders, heavy}} {
		add(&first, d.Order, "orders", fmt.Sprintf(ordersStmt, src.rows), src.rs, 0, Price)
		add(&first, d.Notification, "notifications", fmt.Sprintf(lettersStmt, src.rows), src.rs, 0)
		add(&second, d.Order, "order_letters", fmt.Sprintf(outboxStmt, src.rows), src.rs, 0)
	}
	add(&second, d.Billing, "transactions", ledgerStmt, normal, 0, Fund, Price, Deposit)
	// Heavy entry k+1 pays heavy order k, and entry 0 is the funding.
	add(&second, d.Billing, "transactions", heavyLedgerStmt, append([][2]int{{-1, -1}}, heavy...), 1, Fund, Price)
	return [][]job{interleave(first), interleave(second)}
}

// interleave takes one job of each list in turn.
func interleave(lists [][]job) []job {
	var out []job
	for i := 0; ; i++ {
		added := false
		for _, l := range lists {
			if i < len(l) {
				out = append(out, l[i])
				added = true
			}
		}
		if !added {
			return out
		}
	}
}
