package postgres_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/postgres"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func newStore(t *testing.T) (*postgres.Store, *sqlx.DB) {
	t.Helper()
	db := pgtest.NewDB(t, postgres.Migrations)
	return postgres.New(db), db
}

func newOrder(t *testing.T, s *postgres.Store, userID, key string) order.Order {
	t.Helper()
	o, created, err := s.Create(context.Background(), order.Order{UserID: userID, Price: 100, Currency: "USD", RequestID: key, Email: "a@example.com"})
	if err != nil || !created {
		t.Fatalf("Create = %v, %v", created, err)
	}
	return o
}

func TestCreate_RecordsPendingAndDuplicateKeyReturnsFirst(t *testing.T) {
	s, _ := newStore(t)
	user := uuid.NewString()
	first := newOrder(t, s, user, "k")
	if first.Status != order.Pending || first.Notified() || first.Email != "a@example.com" || first.CreateTime.IsZero() {
		t.Errorf("new order = %+v, want pending, not notified, with email and time", first)
	}
	dup, created, err := s.Create(context.Background(), order.Order{UserID: user, Price: 999, Currency: "EUR", RequestID: "k", Email: "b@example.com"})
	if err != nil || created || dup.ID != first.ID || dup.Price != 100 {
		t.Errorf("duplicate = %+v, created %v, %v; want the first order untouched", dup, created, err)
	}
}

func TestSchema_RefusesInconsistentRows(t *testing.T) {
	_, db := newStore(t)
	user := uuid.NewString()
	tests := []struct {
		name string
		sql  string
	}{
		{"zero price", `INSERT INTO orders (user_id, price, currency, request_id, email) VALUES ($1, 0, 'USD', 'k', 'e')`},
		{"lower-case currency", `INSERT INTO orders (user_id, price, currency, request_id, email) VALUES ($1, 1, 'usd', 'k', 'e')`},
		{"unknown status", `INSERT INTO orders (user_id, price, currency, request_id, email, status) VALUES ($1, 1, 'USD', 'k', 'e', 'lost')`},
		{"rejected without reason", `INSERT INTO orders (user_id, price, currency, request_id, email, status) VALUES ($1, 1, 'USD', 'k', 'e', 'rejected')`},
		{"paid with reason", `INSERT INTO orders (user_id, price, currency, request_id, email, status, failure_reason) VALUES ($1, 1, 'USD', 'k', 'e', 'paid', 'why')`},
		{"pending but notified", `INSERT INTO orders (user_id, price, currency, request_id, email, notified_at) VALUES ($1, 1, 'USD', 'k', 'e', now())`},
		{"empty request_id", `INSERT INTO orders (user_id, price, currency, request_id, email) VALUES ($1, 1, 'USD', '', 'e')`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := db.Exec(tt.sql, user); err == nil {
				t.Error("the schema accepted the row")
			}
		})
	}
}

func TestSettle_RecordsOutcomeOnce(t *testing.T) {
	s, _ := newStore(t)
	o := newOrder(t, s, uuid.NewString(), "k")
	ctx := context.Background()

	boom := errors.New("billing silent")
	if _, err := s.Settle(ctx, o.ID, func(order.Order) (order.Outcome, error) { return order.Outcome{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("Settle = %v, want the pay error", err)
	}
	if got, _ := s.Get(ctx, o.UserID, o.ID); got.Status != order.Pending {
		t.Fatalf("after a pay error status = %s, want pending", got.Status)
	}

	got, err := s.Settle(ctx, o.ID, func(order.Order) (order.Outcome, error) { return order.Declined("no money"), nil })
	if err != nil || got.Status != order.Rejected || got.FailureReason != "no money" {
		t.Fatalf("Settle = %+v, %v; want rejected", got, err)
	}
	called := false
	again, err := s.Settle(ctx, o.ID, func(order.Order) (order.Outcome, error) { called = true; return order.Outcome{Status: order.Paid}, nil })
	if err != nil || called || again.Status != order.Rejected {
		t.Errorf("Settle of a final order: %+v, %v, pay called %v; want it untouched", again, err, called)
	}
}

// Concurrent workers of one order take turns: only the first pays. The
// first pay holds on until every other worker is queued on the row lock,
// so without the lock they would all be paying at the same time.
func TestSettle_Concurrent_PaysOnce(t *testing.T) {
	s, db := newStore(t)
	o := newOrder(t, s, uuid.NewString(), "k")
	const workers = 8
	var pays atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			got, err := s.Settle(context.Background(), o.ID, func(order.Order) (order.Outcome, error) {
				if pays.Add(1) == 1 {
					awaitLockWaiters(t, db, workers-1)
				}
				return order.Outcome{Status: order.Paid}, nil
			})
			if err != nil || got.Status != order.Paid {
				t.Errorf("Settle = %+v, %v", got, err)
			}
		})
	}
	wg.Wait()
	if pays.Load() != 1 {
		t.Errorf("pay ran %d times, want 1", pays.Load())
	}
}

// awaitLockWaiters returns once n sessions of this test's database wait on
// a lock, or after a few seconds (then the test's own assertions decide).
func awaitLockWaiters(t *testing.T, db *sqlx.DB, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var waiting int
		err := db.Get(&waiting, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`)
		if err != nil {
			t.Error(err)
			return
		}
		if waiting >= n {
			return
		}
	}
	t.Logf("only some workers queued on the lock within 5s")
}

func TestSettle_UnknownOrder_NotFound(t *testing.T) {
	s, _ := newStore(t)
	_, err := s.Settle(context.Background(), uuid.NewString(), func(order.Order) (order.Outcome, error) {
		t.Error("pay called for a missing order")
		return order.Outcome{}, nil
	})
	if apperr.KindOf(err) != apperr.KindNotFound {
		t.Errorf("err = %v, want NotFound", err)
	}
}

func TestMarkNotified_KeepsFirstTime(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	o := newOrder(t, s, uuid.NewString(), "k")
	if _, err := s.Settle(ctx, o.ID, func(order.Order) (order.Outcome, error) { return order.Outcome{Status: order.Paid}, nil }); err != nil {
		t.Fatal(err)
	}
	first, err := s.MarkNotified(ctx, o.ID)
	if err != nil || !first.Notified() {
		t.Fatalf("MarkNotified = %+v, %v", first, err)
	}
	second, err := s.MarkNotified(ctx, o.ID)
	if err != nil || !second.NotifyTime.Equal(first.NotifyTime) {
		t.Errorf("second MarkNotified moved the time: %v -> %v (%v)", first.NotifyTime, second.NotifyTime, err)
	}
}

func TestUnfinished_ListsPendingAndUnnotifiedOldEnough(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	user := uuid.NewString()
	pending := newOrder(t, s, user, "pending")
	unnotified := newOrder(t, s, user, "unnotified")
	done := newOrder(t, s, user, "done")
	paid := func(order.Order) (order.Outcome, error) { return order.Outcome{Status: order.Paid}, nil }
	for _, id := range []string{unnotified.ID, done.ID} {
		if _, err := s.Settle(ctx, id, paid); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.MarkNotified(ctx, done.ID); err != nil {
		t.Fatal(err)
	}

	if got, err := s.Unfinished(ctx, time.Minute, 10); err != nil || len(got) != 0 {
		t.Errorf("orders older than a minute = %d, %v; want none (all are new)", len(got), err)
	}
	if _, err := db.Exec(`UPDATE orders SET update_time = now() - interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
	got, err := s.Unfinished(ctx, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, o := range got {
		ids[o.ID] = true
	}
	if len(got) != 2 || !ids[pending.ID] || !ids[unnotified.ID] {
		t.Errorf("unfinished = %v, want the pending and the unnotified order", ids)
	}
	if got, _ := s.Unfinished(ctx, time.Minute, 1); len(got) != 1 {
		t.Errorf("limit 1 returned %d orders", len(got))
	}
}
