package pgstmt

import (
	"strings"
	"testing"
)

// Texts as pg_stat_statements shows them: kassa's statements bind
// parameters, the ceiling's pgbench scripts compute some of them, and the
// view replaces the scripts' constants by $n.
const (
	kassaFind   = "SELECT id, user_id, price, currency, status, failure_reason, request_id, email,\n\tnotified_at, create_time, update_time FROM orders WHERE user_id = $1 AND request_id = $2"
	ceilingFind = "-- order: FindByRequest\nSELECT id, user_id, price, currency, status, failure_reason, request_id, email,\n\tnotified_at, create_time, update_time FROM orders WHERE user_id = ($4 || lpad($1::text, $5, $6))::uuid AND request_id = $7 || $2 || $8 || $3"

	kassaLetter   = "INSERT INTO notifications (user_id, email, subject, body, order_id, request_id) VALUES ($1, $2, $3, $4, NULLIF($5, $7)::uuid, NULLIF($6, $8)) ON CONFLICT (user_id, request_id) DO NOTHING RETURNING id, user_id, email, subject, body, coalesce(order_id::text, $9) AS order_id, coalesce(request_id, $10) AS request_id, create_time"
	ceilingLetter = "INSERT INTO notifications (user_id, email, subject, body, order_id, request_id)\n\tVALUES ($1, $2, $8 || $3 || $9, $10 || $4 || $11 || $5 || $12, NULLIF($6, $13)::uuid, NULLIF($14 || $7 || $15, $16))\n\tON CONFLICT (user_id, request_id) DO NOTHING\n\tRETURNING id, user_id, email, subject, body, coalesce(order_id::text, $17) AS order_id, coalesce(request_id, $18) AS request_id, create_time"

	settle         = "UPDATE orders SET status = $2, failure_reason = $3, update_time = now() WHERE id = $1 RETURNING id, user_id, price"
	ceilingReject  = "UPDATE orders SET status = $4,\n\tfailure_reason = $5 || $1 || $6 || $2,\n\tupdate_time = now()\n\tWHERE id = $3 RETURNING id, user_id, price"
	markNotified   = "UPDATE orders SET notified_at = coalesce(notified_at, now()) WHERE id = $1 RETURNING id, user_id, price"
	lockAccount    = "SELECT user_id, balance, currency FROM accounts WHERE user_id = $1 FOR UPDATE"
	ceilingDeposit = "SELECT user_id, balance, currency FROM accounts WHERE user_id = ($2 || lpad($1::text, $3, $4))::uuid FOR UPDATE"
	moveCTE        = "WITH entry AS (\n\tINSERT INTO transactions (user_id, kind, amount) VALUES ($1, $2, $3)\n\tON CONFLICT (user_id, request_id) DO NOTHING\n\tRETURNING id, user_id, kind\n), upd AS (\n\tUPDATE accounts a SET balance = e.balance_after FROM entry e WHERE a.user_id = e.user_id RETURNING $4\n)\nSELECT entry.*, (SELECT count(*) FROM upd) AS updated FROM entry"
)

func TestShapeMatchesTheSameStatementFromBothClients(t *testing.T) {
	for _, c := range []struct {
		name  string
		a, b  string
		match bool
	}{
		{"a computed user id and request id", kassaFind, ceilingFind, true},
		{"concatenated values and NULLIF of parameters", kassaLetter, ceilingLetter, true},
		{"a computed failure reason", settle, ceilingReject, true},
		{"the deposit's computed user id", lockAccount, ceilingDeposit, true},
		{"parameter numbers and white space", "SELECT a FROM t WHERE b = $1", "select  a\nFROM t where b = $7", true},
		{"a different table", lockAccount, strings.Replace(lockAccount, "accounts", "users", 1), false},
		{"a different statement on the same table", settle, markNotified, false},
		{"FOR UPDATE or not", lockAccount, strings.TrimSuffix(lockAccount, " FOR UPDATE"), false},
		{"a column is not a parameter", "SELECT a FROM t WHERE b = coalesce(c, $1)", "SELECT a FROM t WHERE b = $1", false},
		{"IN lists stay lists", "SELECT a FROM t WHERE b IN ($1, $2)", "SELECT a FROM t WHERE b = $1", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			sa, sb := Shape(c.a), Shape(c.b)
			if (sa == sb) != c.match {
				t.Errorf("match %v, want %v:\n  %s\n  %s", sa == sb, c.match, sa, sb)
			}
		})
	}
}

func TestShorten(t *testing.T) {
	for _, c := range []struct {
		name, query string
		width       int
		want        string
	}{
		{"select list", kassaFind, 0, "SELECT … FROM orders WHERE user_id = $1 AND request_id = $2"},
		{"comment and white space", ceilingFind, 0, "SELECT … FROM orders WHERE user_id = ($4 || lpad($1::text, $5, $6))::uuid AND request_id = $7 || $2 || $8 || $3"},
		{"insert: columns, values, returned columns", kassaLetter, 0, "INSERT INTO notifications (…) VALUES (…) ON CONFLICT (user_id, request_id) DO NOTHING RETURNING …"},
		{"one item stays", "SELECT count(*) FROM t RETURNING 1", 0, "SELECT count(*) FROM t RETURNING 1"},
		{"lists inside parentheses", moveCTE, 0, "WITH entry AS (INSERT INTO transactions (…) VALUES (…) ON CONFLICT (user_id, request_id) DO NOTHING RETURNING …), upd AS (UPDATE accounts a SET balance = e.balance_after FROM entry e WHERE a.user_id = e.user_id RETURNING $4) SELECT … FROM entry"},
		{"a string with a comma", "SELECT 'a, b' FROM t", 0, "SELECT 'a, b' FROM t"},
		{"width", kassaFind, 30, "SELECT … FROM orders WHERE us…"},
		{"short enough", "COMMIT", 30, "COMMIT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Shorten(c.query, c.width)
			if got != c.want {
				t.Errorf("Shorten =\n  %q\nwant\n  %q", got, c.want)
			}
			if c.width > 0 && len([]rune(got)) > c.width {
				t.Errorf("%d characters, more than %d", len([]rune(got)), c.width)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	kassa := NewWindow([]Stmt{
		{DB: "kassa_order", QueryID: 1, Query: kassaFind, Counters: Counters{Calls: 90, ExecMs: 9}},
		{DB: "kassa_order", QueryID: 2, Query: settle, Counters: Counters{Calls: 90, ExecMs: 18}},
		{DB: "kassa_order", QueryID: 3, Query: "COMMIT", Counters: Counters{Calls: 90, ExecMs: 0.1}},
		{DB: "kassa_billing", QueryID: 4, Query: lockAccount, Counters: Counters{Calls: 100, ExecMs: 5}},
		{DB: "kassa_billing", QueryID: 5, Query: moveCTE, Counters: Counters{Calls: 90, ExecMs: 40}},
		{DB: "kassa_billing", QueryID: 6, Query: "COMMIT", Counters: Counters{Calls: 90, ExecMs: 0.1}},
		{DB: "kassa_user", QueryID: 7, Query: "SELECT id FROM users WHERE id = $1", Counters: Counters{Calls: 90, ExecMs: 3}},
	}, 1, 100)
	ceiling := NewWindow([]Stmt{
		{DB: "kassa_bench", QueryID: 11, Query: ceilingFind, Counters: Counters{Calls: 900, ExecMs: 45}},
		{DB: "kassa_bench", QueryID: 12, Query: settle, Counters: Counters{Calls: 810, ExecMs: 81}},
		{DB: "kassa_bench", QueryID: 13, Query: ceilingReject, Counters: Counters{Calls: 90, ExecMs: 9}},
		{DB: "kassa_bench", QueryID: 14, Query: lockAccount, Counters: Counters{Calls: 900, ExecMs: 30}},
		{DB: "kassa_bench", QueryID: 15, Query: ceilingDeposit, Counters: Counters{Calls: 100, ExecMs: 5}},
		{DB: "kassa_bench", QueryID: 16, Query: "UPDATE accounts SET balance = $1 WHERE user_id = $2", Counters: Counters{Calls: 910, ExecMs: 20}},
		{DB: "kassa_bench", QueryID: 17, Query: "COMMIT", Counters: Counters{Calls: 4, ExecMs: 0.01}},
	}, 1, 1000)
	rows := Compare(kassa, ceiling)

	type line struct {
		db, query string
		aCalls    float64 // per request; -1 without a side
		bCalls    float64
		bStmts    int
	}
	calls := func(s *Side) float64 {
		if s == nil {
			return -1
		}
		return s.CallsPerRequest
	}
	var got []line
	for _, r := range rows {
		l := line{db: r.DB, query: r.Query, aCalls: calls(r.A), bCalls: calls(r.B)}
		if r.B != nil {
			l.bStmts = r.B.Statements
		}
		got = append(got, l)
	}
	want := []line{
		// kassa_billing first: 45 ms against kassa_order's 27.
		{"kassa_billing", moveCTE, 0.9, -1, 0},
		// The order and the deposit lock the account; the ceiling's deposit
		// computes the id: the same statement, added up.
		{"kassa_billing", lockAccount, 1, 1, 2},
		{"kassa_billing", "COMMIT", 0.9, -1, 0},
		// Paid and rejected orders' Settle, one statement in kassa.
		{"kassa_order", settle, 0.9, 0.9, 2},
		{"kassa_order", kassaFind, 0.9, 0.9, 1},
		{"kassa_order", "COMMIT", 0.9, -1, 0},
		{"kassa_user", "SELECT id FROM users WHERE id = $1", 0.9, -1, 0},
		{"", "UPDATE accounts SET balance = $1 WHERE user_id = $2", -1, 0.91, 1},
		// COMMIT is in two of kassa's databases, and never matched.
		{"", "COMMIT", -1, 0.004, 1},
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d:\n%+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.db != w.db || g.query != w.query || !near(g.aCalls, w.aCalls) || !near(g.bCalls, w.bCalls) || g.bStmts != w.bStmts {
			t.Errorf("row %d = %+v\nwant      %+v", i, g, w)
		}
	}
	// The ceiling's Settle: 90 ms of its 190.01, 100 µs per call.
	if s := rows[3].B; !near(s.MeanExecUs, 100) || !near(s.Share, 90/190.01) {
		t.Errorf("ceiling Settle %+v", s)
	}
}
