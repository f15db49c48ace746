package preload

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/bench/ceiling"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

// A hash the user service's schema accepts; no login is tried here.
const hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"

// The four services' schemas in one database, as the ceiling has them: the
// statements run against the real constraints, foreign keys and triggers.
func newDBs(t *testing.T) DBs {
	t.Helper()
	db := pgtest.NewDB(t, nil).DB
	if err := ceiling.Migrate(context.Background(), db, filepath.Join("..", "..")); err != nil {
		t.Fatal(err)
	}
	return DBs{User: db, Billing: db, Order: db, Notification: db}
}

func TestLoadIsConsistent(t *testing.T) {
	ctx := context.Background()
	d := newDBs(t)
	size := Size{Users: 57, Heavy: 23}
	// Small chunks, so that every statement runs over several ranges.
	if _, err := Load(ctx, d, Options{Size: size, PasswordHash: hash, Chunk: 10, Parallel: 3}); err != nil {
		t.Fatal(err)
	}
	if err := Settle(ctx, d, 2); err != nil {
		t.Fatal(err)
	}
	if err := Check(ctx, d, size); err != nil {
		t.Fatal(err)
	}
	db := d.Billing
	// The heavy user's ledger, newest first: its running balance ends at
	// its account's balance, and each payment names one of its orders.
	var balance, after, n int64
	if err := db.QueryRow(`SELECT balance FROM accounts WHERE user_id = $1`, UserID(1)).Scan(&balance); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT balance_after FROM transactions WHERE user_id = $1 ORDER BY create_time DESC, id DESC LIMIT 1`, UserID(1)).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if want := Fund - 23*Price; balance != want || after != want {
		t.Errorf("heavy user: balance %d, last balance_after %d, want %d", balance, after, want)
	}
	if err := db.QueryRow(`SELECT count(*) FROM transactions t JOIN orders o ON o.id = t.order_id
		WHERE t.user_id = o.user_id AND t.amount = o.price AND t.request_id = 'order/' || o.id`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := size.Rows()["orders"]; n != want {
		t.Errorf("%d payments match their orders, want %d", n, want)
	}
	// Every order has its sent outbox row and one stored letter with the
	// same key, and a letter that says it is paid.
	if err := db.QueryRow(`SELECT count(*) FROM orders o
		JOIN order_letters l ON l.order_id = o.id AND l.sent_time IS NOT NULL
		JOIN notifications m ON m.order_id = o.id AND m.request_id = l.request_id AND m.user_id = o.user_id
		WHERE o.notified_at IS NOT NULL AND m.subject LIKE '% is paid' AND m.body LIKE '%5.00 USD was withdrawn%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := size.Rows()["orders"]; n != want {
		t.Errorf("%d orders with their outbox row and letter, want %d", n, want)
	}
	// Ids are the ones ID spells.
	var id string
	if err := db.QueryRow(`SELECT id FROM orders WHERE user_id = $1 ORDER BY create_time DESC LIMIT 1`, UserID(1)).Scan(&id); err != nil || id != OrderID(1, 22) {
		t.Errorf("newest heavy order %q (%v), want %s", id, err, OrderID(1, 22))
	}
}

func TestCheckFindsABrokenLoad(t *testing.T) {
	ctx := context.Background()
	d := newDBs(t)
	size := Size{Users: 5, Heavy: 3}
	if _, err := Load(ctx, d, Options{Size: size, PasswordHash: hash, Chunk: 100, Parallel: 1}); err != nil {
		t.Fatal(err)
	}
	// Not the ledger's sum any more (a balance no service would write).
	if _, err := d.Billing.Exec(`UPDATE accounts SET balance = balance + 1 WHERE user_id = $1`, UserID(3)); err != nil {
		t.Fatal(err)
	}
	if err := Check(ctx, d, size); err == nil || !strings.Contains(err.Error(), "1 of 5 accounts") {
		t.Errorf("Check = %v, want the wrong balance found", err)
	}
	if err := Check(ctx, d, Size{Users: 6, Heavy: 3}); err == nil || !strings.Contains(err.Error(), "users has 5 preloaded rows, want 6") {
		t.Errorf("Check with a larger size = %v, want the missing rows found", err)
	}
}

func TestBadOptions(t *testing.T) {
	d := DBs{}
	for _, o := range []Options{
		{Size: Size{Users: 1, Heavy: 1}, PasswordHash: hash},
		{Size: Size{Users: 10, Heavy: 0}, PasswordHash: hash},
		{Size: Size{Users: 10, Heavy: 3_000_000}, PasswordHash: hash},
		{Size: Size{Users: 10, Heavy: 3}, PasswordHash: "plain"},
	} {
		if _, err := Load(context.Background(), d, o); err == nil {
			t.Errorf("Load(%+v) accepted bad options", o)
		}
	}
}
