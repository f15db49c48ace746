package postgres_test

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/postgres"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/pressly/goose/v3"
)

// Cancellations recorded under 00004 become refunds of their own in 00005:
// in flight ones keep their billing key, its "all that remains", their
// key, reason, attempts and schedule, and the repair loop makes them; a
// finished one is kept as made; the previous release's repair loop no
// longer sees any of them.
func TestMigration_CancellationsInFlightBecomeRefunds(t *testing.T) {
	upTo4 := fstest.MapFS{}
	for _, name := range []string{"00001_init.sql", "00002_letter_outbox.sql", "00003_payment_attempts.sql", "00004_cancellation.sql"} {
		data, err := fs.ReadFile(postgres.Migrations, name)
		if err != nil {
			t.Fatal(err)
		}
		upTo4[name] = &fstest.MapFile{Data: data}
	}
	db := pgtest.NewDB(t, upTo4)
	user := uuid.NewString()
	insert := func(status string, cancel bool, extra string) string {
		t.Helper()
		var id string
		err := db.Get(&id, `INSERT INTO orders (user_id, price, currency, request_id, email, status,
				cancel_request_time, cancel_reason, cancel_request_id, cancel_attempts, cancel_next_attempt_time, cancel_last_error)
			VALUES ($1, 500, 'USD', gen_random_uuid()::text, 'ada@example.com', $2,
				CASE WHEN $3 THEN now() - interval '1 hour' END, CASE WHEN $3 THEN 'why' ELSE '' END,
				CASE WHEN $3 AND $4 <> '' THEN $4 END, CASE WHEN $3 THEN 3 ELSE 0 END,
				now() - interval '1 minute', CASE WHEN $3 THEN 'billing is down' ELSE '' END)
			RETURNING id`, user, status, cancel, extra)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	inFlight := insert("paid", true, "cancel-1")
	pending := insert("pending", true, "")
	plain := insert("paid", false, "")
	done := insert("paid", true, "cancel-2")
	if _, err := db.Exec(`UPDATE orders SET status = 'cancelled', refunded = price, cancel_time = now() WHERE id = $1`, done); err != nil {
		t.Fatal(err)
	}

	if err := pgdb.Migrate(context.Background(), db.DB, postgres.Migrations, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	s := postgres.New(db)
	ctx := context.Background()
	for _, tt := range []struct {
		name, id string
		want     order.Refund
	}{
		{"in flight", inFlight, order.Refund{OrderID: inFlight, UserID: user, RequestID: "cancel-1", Amount: 500, Asked: 0,
			BillingKey: order.RefundRequestID(inFlight), Reason: "why", Attempts: 3}},
		{"pending", pending, order.Refund{OrderID: pending, UserID: user, Amount: 500, Asked: 0,
			BillingKey: order.RefundRequestID(pending), Reason: "why", Attempts: 3}},
		{"cancelled", done, order.Refund{OrderID: done, UserID: user, RequestID: "cancel-2", Amount: 500, Asked: 0,
			BillingKey: order.RefundRequestID(done), Reason: "why", Attempts: 3, Done: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Refunds(ctx, tt.id)
			if err != nil || len(got) != 1 || got[0] != tt.want {
				t.Errorf("refunds = %+v, %v; want %+v", got, err, tt.want)
			}
			var reserved int64
			var old bool
			if err := db.QueryRow(`SELECT refund_reserved, cancel_next_attempt_time = 'infinity' FROM orders WHERE id = $1`, tt.id).Scan(&reserved, &old); err != nil {
				t.Fatal(err)
			}
			if reserved != 500 || !old {
				t.Errorf("order after the migration: reserved %d, old schedule %v; want 500 and never", reserved, old)
			}
		})
	}
	if got, err := s.Refunds(ctx, plain); err != nil || len(got) != 0 {
		t.Errorf("refunds of an order nobody cancelled = %+v, %v; want none", got, err)
	}
	// The carried-over refund is due (its schedule passed) and asks billing
	// for the rest under the old key; its key still names its order.
	claimed, err := s.ClaimRefunds(ctx, time.Minute, 10, time.Now())
	if err != nil || len(claimed) != 1 || claimed[0].OrderID != inFlight || claimed[0].Attempts != 4 {
		t.Fatalf("ClaimRefunds = %+v, %v; want the paid order's cancellation, its fourth attempt", claimed, err)
	}
	if _, _, err := s.RequestRefund(ctx, user, plain, 0, "", "cancel-1", 0); err == nil {
		t.Error("the carried-over key cancelled another order")
	}
	got, recorded, err := s.RecordRefund(ctx, claimed[0], 500, 0)
	if err != nil || !recorded || got.Status != order.Cancelled || got.Refunded != 500 {
		t.Errorf("RecordRefund = %+v, %v, %v; want cancelled with 500 refunded", got, recorded, err)
	}
}

// 00005 goes down to 00004 and up again: a cancellation in flight is back
// on 00004's schedule in between, asking for all that remains, and comes
// back as the same refund.
func TestMigration_RefundsDownAndUpKeepACancellationInFlight(t *testing.T) {
	db := pgtest.NewDB(t, postgres.Migrations)
	s := postgres.New(db)
	ctx := context.Background()
	user := uuid.NewString()
	o := paid(t, s, newOrder(t, s, user, "k"))
	if _, _, err := s.RequestRefund(ctx, user, o.ID, 0, "why", "cancel-1", time.Hour); err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db.DB, postgres.Migrations)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 4); err != nil {
		t.Fatalf("down to 00004: %v", err)
	}
	var requested, due bool
	if err := db.QueryRow(`SELECT cancel_request_time IS NOT NULL, cancel_next_attempt_time < 'infinity' FROM orders WHERE id = $1`, o.ID).Scan(&requested, &due); err != nil {
		t.Fatal(err)
	}
	if !requested || !due {
		t.Errorf("under 00004: cancellation requested %v, on its schedule %v; want both", requested, due)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	got, err := s.Refunds(ctx, o.ID)
	want := order.Refund{OrderID: o.ID, UserID: user, RequestID: "cancel-1", Amount: 100, Asked: 0,
		BillingKey: order.RefundRequestID(o.ID), Reason: "why"}
	if err != nil || len(got) != 1 || got[0] != want {
		t.Errorf("refunds after down and up = %+v, %v; want %+v", got, err, want)
	}
}
