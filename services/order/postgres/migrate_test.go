package postgres_test

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"testing"
	"testing/fstest"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/postgres"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
)

// Final orders that were never notified before the outbox existed get
// their letter into the outbox when the schema is migrated, with the very
// text order.OutcomeLetter writes; notified and pending orders get none.
func TestMigration_UnnotifiedFinalOrdersMoveIntoTheOutbox(t *testing.T) {
	first, err := fs.ReadFile(postgres.Migrations, "00001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	db := pgtest.NewDB(t, fstest.MapFS{"00001_init.sql": {Data: first}})
	user := uuid.NewString()
	insert := func(price int64, currency, status, reason string, notified bool) order.Order {
		t.Helper()
		o := order.Order{ID: uuid.NewString(), UserID: user, Price: price, Currency: currency,
			Status: order.Status(status), FailureReason: reason, Email: "ada@example.com"}
		_, err := db.Exec(`INSERT INTO orders (id, user_id, price, currency, status, failure_reason, request_id, email, notified_at)
			VALUES ($1::uuid, $2, $3, $4, $5, $6, $1::text, $7, CASE WHEN $8 THEN now() END)`,
			o.ID, o.UserID, o.Price, o.Currency, status, reason, o.Email, notified)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	want := []order.Order{
		insert(1205, "USD", "paid", "", false),
		insert(7, "EUR", "rejected", "insufficient funds: balance 5, withdrawal needs 7", false),
		insert(1500, "JPY", "paid", "", false),
		insert(1234567, "KWD", "rejected", "account is closed", false),
	}
	insert(100, "USD", "paid", "", true)
	insert(100, "USD", "pending", "", false)

	if err := pgdb.Migrate(context.Background(), db.DB, postgres.Migrations, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM order_letters`); err != nil || n != len(want) {
		t.Fatalf("outbox rows = %d, %v; want %d", n, err, len(want))
	}
	for _, o := range want {
		var got struct {
			UserID    string `db:"user_id"`
			RequestID string `db:"request_id"`
			Email     string `db:"email"`
			Subject   string `db:"subject"`
			Body      string `db:"body"`
			Due       bool   `db:"due"`
		}
		if err := db.Get(&got, `SELECT user_id, request_id, email, subject, body, next_attempt_time <= now() AS due
			FROM order_letters WHERE order_id = $1`, o.ID); err != nil {
			t.Fatalf("letter of %s %s: %v", o.Currency, o.Status, err)
		}
		l := order.OutcomeLetter(o)
		if got.UserID != l.UserID || got.RequestID != l.RequestID || got.Email != l.Email ||
			got.Subject != l.Subject || got.Body != l.Body || !got.Due {
			t.Errorf("%d %s %s: outbox has\n%+v\nwant\n%+v", o.Price, o.Currency, o.Status, got, l)
		}
	}
}
