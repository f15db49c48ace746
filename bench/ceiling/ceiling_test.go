package ceiling

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/bench/workload"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

func TestWeights(t *testing.T) {
	for _, c := range []struct {
		dep, rej          float64
		paid, rejd, depos int
	}{
		{0.1, 0.1, 810, 90, 100},
		{0, 0, 1000, 0, 0},
		{0.2, 0.5, 400, 400, 200},
		{1, 0.3, 0, 0, 1000},
	} {
		p, r, d := Weights(c.dep, c.rej)
		if p != c.paid || r != c.rejd || d != c.depos || p+r+d != 1000 {
			t.Errorf("Weights(%v, %v) = %d %d %d, want %d %d %d", c.dep, c.rej, p, r, d, c.paid, c.rejd, c.depos)
		}
	}
}

func TestUpSection(t *testing.T) {
	up, err := UpSection("-- +goose Up\nCREATE TABLE a (x int);\n-- +goose Down\nDROP TABLE a;\n")
	if err != nil || strings.TrimSpace(up) != "CREATE TABLE a (x int);" {
		t.Errorf("UpSection = %q, %v", up, err)
	}
	if _, err := UpSection("CREATE TABLE a (x int);"); err == nil {
		t.Error("a file without the Up marker must be refused")
	}
}

// Output of pgbench 15 with the three scripts (numbers shortened).
const sample = `pgbench (15.14 (Debian 15.14-0+deb12u1))
transaction type: multiple scripts
scaling factor: 1
query mode: prepared
number of clients: 16
number of threads: 2
maximum number of tries: 1
duration: 15 s
number of transactions actually processed: 10000
number of failed transactions: 0 (0.000%)
latency average = 24.000 ms
initial connection time = 20.123 ms
tps = 666.666667 (without initial connection time)
SQL script 1: /tmp/x/order_paid.sql
 - weight: 810 (targets 81.0% of total)
 - 8100 transactions (81.0% of total, tps = 540.000000)
 - number of failed transactions: 0 (0.000%)
 - latency average = 26.000 ms
 - latency stddev = 9.000 ms
SQL script 2: /tmp/x/order_rejected.sql
 - weight: 90 (targets 9.0% of total)
 - 900 transactions (9.0% of total, tps = 60.000000)
 - number of failed transactions: 0 (0.000%)
 - latency average = 20.000 ms
 - latency stddev = 8.000 ms
SQL script 3: /tmp/x/deposit.sql
 - weight: 100 (targets 10.0% of total)
 - 1000 transactions (10.0% of total, tps = 66.666667)
 - number of failed transactions: 0 (0.000%)
 - latency average = 6.000 ms
 - latency stddev = 2.000 ms
`

func TestParse(t *testing.T) {
	r, err := Parse(sample)
	if err != nil {
		t.Fatal(err)
	}
	if r.Transactions != 10000 || r.Failed != 0 || r.TPS != 666.666667 || r.LatencyMs != 24 {
		t.Errorf("totals: %+v", r)
	}
	if len(r.Scripts) != 3 {
		t.Fatalf("scripts: %+v", r.Scripts)
	}
	want := ScriptResult{Name: "order_rejected.sql", Weight: 90, Transactions: 900, TPS: 60, LatencyMs: 20}
	if r.Scripts[1] != want {
		t.Errorf("script 2 = %+v, want %+v", r.Scripts[1], want)
	}
	if r.OrdersPerSecond != 600 {
		t.Errorf("orders/s = %v, want paid + rejected = 600", r.OrdersPerSecond)
	}
	if _, err := Parse("pgbench: error: connection refused\n"); err == nil {
		t.Error("Parse accepted output without results")
	}
}

// The scripts must do to the ceiling database what kassa does to its four:
// after a run every order is final with exactly one letter, rejected
// orders moved no money, and each balance is its ledger's sum.
func TestScriptsRunAndLeaveKassaInvariants(t *testing.T) {
	pgbench, err := FindPGBench()
	if err != nil {
		t.Fatal(err)
	}
	db := pgtest.NewDB(t, nil)
	ctx := context.Background()
	const users = 20
	if err := Setup(ctx, db.DB, filepath.Join("..", ".."), users); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(pgtest.URL(t, db))
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	res, err := Run(ctx, Config{
		PGBench: pgbench, Host: u.Hostname(), Port: port, User: u.User.Username(),
		Database: strings.TrimPrefix(u.Path, "/"), Clients: 4, Threads: 2, Duration: time.Second,
		Users: users, DepositShare: 0.2, RejectShare: 0.25, Mode: "prepared", Dir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Scripts) != 3 || res.Transactions < 20 || res.OrdersPerSecond <= 0 {
		t.Fatalf("pgbench result %+v", res)
	}

	one := func(q string) int64 {
		t.Helper()
		var n sql.NullInt64
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n.Int64
	}
	byName := map[string]int64{}
	for _, s := range res.Scripts {
		byName[s.Name] = s.Transactions
	}
	// pgbench's count stops at the end of the run; a transaction or two per
	// client may have committed while it was being stopped.
	near := func(got, want int64) bool { return got >= want && got <= want+4 }
	if paid := one(`SELECT count(*) FROM orders WHERE status = 'paid'`); !near(paid, byName["order_paid.sql"]) {
		t.Errorf("%d paid orders, pgbench ran %d paid-order scripts", paid, byName["order_paid.sql"])
	}
	if rej := one(`SELECT count(*) FROM orders WHERE status = 'rejected'`); !near(rej, byName["order_rejected.sql"]) {
		t.Errorf("%d rejected orders, pgbench ran %d rejected-order scripts", rej, byName["order_rejected.sql"])
	}
	for q, want := range map[string]int64{
		`SELECT count(*) FROM orders WHERE status = 'pending' OR notified_at IS NULL`:                                                                                                  0,
		`SELECT count(*) FROM orders o WHERE (SELECT count(*) FROM notifications n WHERE n.order_id = o.id) <> 1`:                                                                      0,
		`SELECT count(*) FROM notifications WHERE order_id IS NULL OR order_id NOT IN (SELECT id FROM orders)`:                                                                         0,
		`SELECT count(*) FROM transactions t WHERE t.kind = 'withdrawal' AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = t.order_id AND o.status = 'paid' AND o.price = t.amount)`: 0,
		`SELECT count(*) FROM orders o WHERE o.status = 'paid' AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.order_id = o.id)`:                                                  0,
		`SELECT count(*) FROM orders WHERE (status = 'rejected') <> (price = ` + strconv.FormatInt(workload.RejectPrice, 10) + `)`:                                                     0,
		`SELECT count(*) FROM accounts a WHERE a.balance <> (SELECT sum(CASE kind WHEN 'withdrawal' THEN -amount ELSE amount END) FROM transactions t WHERE t.user_id = a.user_id)`:    0,
	} {
		if got := one(q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	if deps := one(`SELECT count(*) FROM transactions WHERE kind = 'deposit' AND request_id <> 'fund'`); !near(deps, byName["deposit.sql"]) {
		t.Errorf("%d deposits, pgbench ran %d deposit scripts", deps, byName["deposit.sql"])
	}
	// What billing and the order service keep besides: a refusal under the
	// key of each rejected order and none else, payments keyed by their
	// order, every order's letter in the outbox, sent, and no payment or
	// letter left to the background loops or parked.
	for q, want := range map[string]int64{
		`SELECT count(*) FROM orders WHERE pay_attempts <> 0 OR pay_parked_time IS NOT NULL OR pay_next_attempt_time <= create_time`: 0,
		`SELECT count(*) FROM order_letters WHERE attempts <> 0 OR parked_time IS NOT NULL`:                                          0,
		`SELECT count(*) FROM orders o WHERE o.status = 'rejected' AND (SELECT count(*) FROM refusals r WHERE r.order_id = o.id AND r.user_id = o.user_id AND r.amount = o.price AND r.reason = 'INSUFFICIENT_FUNDS' AND r.message = o.failure_reason AND r.request_id = 'order/' || o.id) <> 1`: 0,
		`SELECT count(*) FROM refusals r WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = r.order_id AND o.status = 'rejected')`:                                                                                                                                                            0,
		`SELECT count(*) FROM transactions WHERE kind = 'withdrawal' AND request_id IS DISTINCT FROM 'order/' || order_id`:                                                                                                                                                                       0,
		`SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_letters l JOIN notifications n USING (order_id, request_id, subject, body) WHERE l.order_id = o.id AND l.sent_time IS NOT NULL AND l.request_id = 'order/' || o.id || '/letter')`:                                   0,
	} {
		if got := one(q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	checkLetters(t, db.DB)
}

// checkLetters compares each letter's text and key, and each payment's
// key, with what the order service writes (order.OutcomeLetter,
// order.PaymentRequestID): the scripts compute them in SQL, so this is
// where a change of the service's wording or keys shows.
func checkLetters(t *testing.T, db *sql.DB) {
	t.Helper()
	rows, err := db.Query(`SELECT o.id, o.status, o.price, o.currency, o.failure_reason, n.subject, n.body, n.request_id,
			coalesce((SELECT request_id FROM transactions WHERE order_id = o.id), (SELECT request_id FROM refusals WHERE order_id = o.id), '')
		FROM orders o JOIN notifications n ON n.order_id = o.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	// Each kind of difference is shown once, with its count: a wrong
	// script gets every order wrong the same way.
	wrong := map[string]int{}
	report := func(kind, format string, args ...any) {
		t.Helper()
		if wrong[kind]++; wrong[kind] == 1 {
			t.Errorf(format, args...)
		}
	}
	for rows.Next() {
		var o order.Order
		var status, subject, body, letterKey, paymentKey string
		if err := rows.Scan(&o.ID, &status, &o.Price, &o.Currency, &o.FailureReason, &subject, &body, &letterKey, &paymentKey); err != nil {
			t.Fatal(err)
		}
		o.Status = order.Status(status)
		want := order.OutcomeLetter(o)
		if subject != want.Subject || body != want.Body || letterKey != want.RequestID {
			report("letter of a "+status+" order", "letter of %s order %s:\n%q %q %q\nwant\n%q %q %q", status, o.ID, subject, body, letterKey, want.Subject, want.Body, want.RequestID)
		}
		if want := order.PaymentRequestID(o.ID); paymentKey != want {
			report("payment key", "payment of %s order %s keyed %q, want %q", status, o.ID, paymentKey, want)
		}
		seen[status] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for kind, n := range wrong {
		t.Errorf("%s: %d orders wrong", kind, n)
	}
	if !seen[string(order.Paid)] || !seen[string(order.Rejected)] {
		t.Errorf("letters of paid and rejected orders expected, saw %v", seen)
	}
}

func TestBind(t *testing.T) {
	for _, c := range []struct {
		name, stmt string
		args       []string
		want       string
	}{
		{"a variable stays bare", "WHERE id = $1::uuid", []string{":o_id"}, "WHERE id = :o_id::uuid"},
		{"a literal stays bare", "VALUES ($1, $2)", []string{"'USD'", "20"}, "VALUES ('USD', 20)"},
		{"an expression is enclosed so a cast covers it", "NULLIF($1::text, '')", []string{"'order/' || :o_id"}, "NULLIF(('order/' || :o_id)::text, '')"},
		{"an enclosed expression is not enclosed twice", "= $1", []string{"(:a || :b)::uuid"}, "= (:a || :b)::uuid"},
		{"two groups are one expression", "= $1", []string{"(:a) || (:b)"}, "= ((:a) || (:b))"},
		{"$10 is not $1", "$1 $10", []string{"a1", "2", "3", "4", "5", "6", "7", "8", "9", ":ten"}, "(a1) :ten"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := bind(c.stmt, c.args...); got != c.want {
				t.Errorf("bind(%q) = %q, want %q", c.stmt, got, c.want)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Error("a parameter without an argument must panic")
		}
	}()
	bind("$1 $2", ":a")
}
