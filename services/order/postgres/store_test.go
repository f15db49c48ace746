package postgres_test

import (
	"context"
	"fmt"
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
	"github.com/kassa-dev/kassa/services/platform/paging"
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
	o, created, err := s.Create(context.Background(), order.Order{UserID: userID, Price: 100, Currency: "USD", RequestID: key, Email: "a@example.com"}, 0)
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
	dup, created, err := s.Create(context.Background(), order.Order{UserID: user, Price: 999, Currency: "EUR", RequestID: "k", Email: "b@example.com"}, 0)
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
		{"parked but paid", `INSERT INTO orders (user_id, price, currency, request_id, email, status, pay_parked_time) VALUES ($1, 1, 'USD', 'k', 'e', 'paid', now())`},
		{"negative attempts", `INSERT INTO orders (user_id, price, currency, request_id, email, pay_attempts) VALUES ($1, 1, 'USD', 'k', 'e', -1)`},
		{"letter of no order", `INSERT INTO order_letters (order_id, user_id, request_id, email, subject, body) VALUES (gen_random_uuid(), $1, 'k', 'e', 's', 'b')`},
		{"letter without body", `WITH o AS (INSERT INTO orders (user_id, price, currency, request_id, email, status) VALUES ($1, 1, 'USD', 'k', 'e', 'paid') RETURNING id)
			INSERT INTO order_letters (order_id, user_id, request_id, email, subject, body) SELECT id, $1, 'k', 'e', 's', '' FROM o`},
		{"cancelled without a refund time", `INSERT INTO orders (user_id, price, currency, request_id, email, status, cancel_request_time) VALUES ($1, 1, 'USD', 'k', 'e', 'cancelled', now())`},
		{"cancelled without a request", `INSERT INTO orders (user_id, price, currency, request_id, email, status, cancel_time) VALUES ($1, 1, 'USD', 'k', 'e', 'cancelled', now())`},
		{"rejected but cancelling", `INSERT INTO orders (user_id, price, currency, request_id, email, status, failure_reason, cancel_request_time) VALUES ($1, 1, 'USD', 'k', 'e', 'rejected', 'why', now())`},
		{"negative refund", `INSERT INTO orders (user_id, price, currency, request_id, email, refunded) VALUES ($1, 1, 'USD', 'k', 'e', -1)`},
		{"refunds reserved beyond the price", `INSERT INTO orders (user_id, price, currency, request_id, email, refund_reserved) VALUES ($1, 1, 'USD', 'k', 'e', 2)`},
		{"refunded beyond the reserved", `INSERT INTO orders (user_id, price, currency, request_id, email, refunded, refund_reserved) VALUES ($1, 5, 'USD', 'k', 'e', 2, 1)`},
		{"refund of no order", `INSERT INTO order_refunds (order_id, seq, user_id, amount, asked, billing_key) VALUES (gen_random_uuid(), 0, $1, 1, 1, 'k')`},
		{"partial refund without a key", `WITH o AS (INSERT INTO orders (user_id, price, currency, request_id, email, status) VALUES ($1, 5, 'USD', 'k', 'e', 'paid') RETURNING id)
			INSERT INTO order_refunds (order_id, seq, user_id, amount, asked, billing_key) SELECT id, 1, $1, 1, 1, 'k' FROM o`},
		{"partial refund asking the rest", `WITH o AS (INSERT INTO orders (user_id, price, currency, request_id, email, status) VALUES ($1, 5, 'USD', 'k', 'e', 'paid') RETURNING id)
			INSERT INTO order_refunds (order_id, seq, user_id, request_id, amount, asked, billing_key) SELECT id, 1, $1, 'r', 1, 0, 'k' FROM o`},
		{"refund of nothing", `WITH o AS (INSERT INTO orders (user_id, price, currency, request_id, email, status) VALUES ($1, 5, 'USD', 'k', 'e', 'paid') RETURNING id)
			INSERT INTO order_refunds (order_id, seq, user_id, amount, asked, billing_key) SELECT id, 0, $1, 0, 0, 'k' FROM o`},
		{"refund made and parked", `WITH o AS (INSERT INTO orders (user_id, price, currency, request_id, email, status) VALUES ($1, 5, 'USD', 'k', 'e', 'paid') RETURNING id)
			INSERT INTO order_refunds (order_id, seq, user_id, amount, asked, billing_key, refund_time, parked_time) SELECT id, 0, $1, 1, 1, 'k', now(), now() FROM o`},
		{"letter sent and parked", `WITH o AS (INSERT INTO orders (user_id, price, currency, request_id, email, status) VALUES ($1, 1, 'USD', 'k', 'e', 'paid') RETURNING id)
			INSERT INTO order_letters (order_id, user_id, request_id, email, subject, body, sent_time, parked_time) SELECT id, $1, 'k', 'e', 's', 'b', now(), now() FROM o`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := db.Exec(tt.sql, user); err == nil {
				t.Error("the schema accepted the row")
			}
		})
	}
}

// paid records o as paid with its letter, due for the relay at once.
func paid(t *testing.T, s *postgres.Store, o order.Order) order.Order {
	t.Helper()
	out := order.Outcome{Status: order.Paid}
	final := o
	final.Status = order.Paid
	got, recorded, err := s.RecordOutcome(context.Background(), o, out, order.OutcomeLetter(final), 0)
	if err != nil || !recorded {
		t.Fatalf("RecordOutcome = %v, %v", recorded, err)
	}
	return got
}

func TestRecordOutcome_OnceWithItsLetter(t *testing.T) {
	s, db := newStore(t)
	o := newOrder(t, s, uuid.NewString(), "k")
	ctx := context.Background()
	declined := o
	declined.Status, declined.FailureReason = order.Rejected, "no money"
	got, recorded, err := s.RecordOutcome(ctx, o, order.Declined("no money"), order.OutcomeLetter(declined), time.Minute)
	if err != nil || !recorded || got.Status != order.Rejected || got.FailureReason != "no money" {
		t.Fatalf("RecordOutcome = %+v, %v, %v; want rejected", got, recorded, err)
	}
	var l struct {
		Subject, Body, RequestID string
		Due                      bool
	}
	if err := db.Get(&l, `SELECT subject, body, request_id AS requestid, next_attempt_time <= now() AS due
		FROM order_letters WHERE order_id = $1`, o.ID); err != nil {
		t.Fatalf("letter row: %v", err)
	}
	want := order.OutcomeLetter(got)
	if l.Subject != want.Subject || l.Body != want.Body || l.RequestID != want.RequestID || l.Due {
		t.Errorf("outbox row = %+v, want the declined letter, not due for a minute", l)
	}
	// A second worker with another answer (say, a deposit landed in
	// between) records nothing and gets the first outcome.
	again, recorded, err := s.RecordOutcome(ctx, o, order.Outcome{Status: order.Paid}, order.OutcomeLetter(o), 0)
	if err != nil || recorded || again.Status != order.Rejected {
		t.Errorf("second RecordOutcome = %+v, %v, %v; want the rejected order, not recorded", again, recorded, err)
	}
	var letters int
	if err := db.Get(&letters, `SELECT count(*) FROM order_letters`); err != nil || letters != 1 {
		t.Errorf("letters = %d, %v; want 1", letters, err)
	}
}

// Workers of one order race to record billing's answer without a lock:
// exactly one records it, with one letter.
func TestRecordOutcome_Concurrent_RecordedOnce(t *testing.T) {
	s, db := newStore(t)
	o := newOrder(t, s, uuid.NewString(), "k")
	final := o
	final.Status = order.Paid
	var recorded atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, rec, err := s.RecordOutcome(context.Background(), o, order.Outcome{Status: order.Paid}, order.OutcomeLetter(final), 0)
			if err != nil || got.Status != order.Paid {
				t.Errorf("RecordOutcome = %+v, %v", got, err)
			}
			if rec {
				recorded.Add(1)
			}
		})
	}
	wg.Wait()
	var letters int
	if err := db.Get(&letters, `SELECT count(*) FROM order_letters WHERE order_id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	if recorded.Load() != 1 || letters != 1 {
		t.Errorf("recorded by %d workers with %d letters, want 1 and 1", recorded.Load(), letters)
	}
}

func TestRecordOutcome_UnknownOrder_NotFound(t *testing.T) {
	s, _ := newStore(t)
	o := order.Order{ID: uuid.NewString(), UserID: uuid.NewString(), Price: 1, Currency: "USD", Email: "a@example.com"}
	_, _, err := s.RecordOutcome(context.Background(), o, order.Outcome{Status: order.Paid}, order.OutcomeLetter(o), 0)
	if apperr.KindOf(err) != apperr.KindNotFound {
		t.Errorf("err = %v, want NotFound", err)
	}
}

func TestMarkSent_NotifiesOnceAndKeepsFirstTime(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	o := paid(t, s, newOrder(t, s, uuid.NewString(), "k"))
	first, err := s.MarkSent(ctx, o.ID, order.LetterRequestID(o.ID))
	if err != nil || !first.Notified() {
		t.Fatalf("MarkSent = %+v, %v", first, err)
	}
	second, err := s.MarkSent(ctx, o.ID, order.LetterRequestID(o.ID))
	if err != nil || !second.NotifyTime.Equal(first.NotifyTime) {
		t.Errorf("second MarkSent moved the time: %v -> %v (%v)", first.NotifyTime, second.NotifyTime, err)
	}
	if got, err := s.ClaimLetters(ctx, time.Minute, 10, time.Now()); err != nil || len(got) != 0 {
		t.Errorf("claimed %d sent letters (%v), want none", len(got), err)
	}
	var sent bool
	if err := db.Get(&sent, `SELECT sent_time IS NOT NULL FROM order_letters WHERE order_id = $1`, o.ID); err != nil || !sent {
		t.Errorf("outbox row sent = %v, %v", sent, err)
	}
	if _, err := s.MarkSent(ctx, uuid.NewString(), "order/x/letter"); apperr.KindOf(err) != apperr.KindNotFound {
		t.Errorf("MarkSent of an unknown order = %v, want NotFound", err)
	}
}

// A claimed letter is hidden from other relays for the lease and counts an
// attempt; concurrent claims never take one letter twice.
func TestClaimLetters_LeaseAndSkipLocked(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	user := uuid.NewString()
	for i := range 20 {
		paid(t, s, newOrder(t, s, user, fmt.Sprint(i)))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			got, err := s.ClaimLetters(ctx, time.Minute, 8, time.Now())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, l := range got {
				seen[l.OrderID]++
				if l.Attempts != 1 || l.Subject == "" || l.RequestID != order.LetterRequestID(l.OrderID) {
					t.Errorf("claimed %+v, want a whole letter on its first attempt", l)
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != 20 {
		t.Errorf("claimed %d distinct letters, want 20", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("letter %s claimed %d times", id, n)
		}
	}
	if got, _ := s.ClaimLetters(ctx, time.Minute, 100, time.Now()); len(got) != 0 {
		t.Errorf("claimed %d letters within their lease, want 0", len(got))
	}
	if _, err := db.Exec(`UPDATE order_letters SET next_attempt_time = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ClaimLetters(ctx, time.Minute, 100, time.Now()); len(got) != 20 || got[0].Attempts != 2 {
		t.Errorf("after the lease: claimed %d, want all 20 on their second attempt", len(got))
	}
}

// The repair loop's claim: due, pending, unparked orders, the longest due
// first, each with an attempt counted and hidden for the lease.
func TestClaimPayments_DueFirstParkedAndFinalLeftOut(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	user := uuid.NewString()
	_, _, err := s.Create(ctx, order.Order{UserID: user, Price: 1, Currency: "USD", RequestID: "later", Email: "a@example.com"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	second := newOrder(t, s, user, "second")
	first := newOrder(t, s, user, "first")
	parked := newOrder(t, s, user, "parked")
	paid(t, s, newOrder(t, s, user, "paid"))
	// "first" fell due before "second" although it is newer.
	if _, err := db.Exec(`UPDATE orders SET pay_next_attempt_time = now() - interval '1 minute' WHERE id = $1`, first.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.PaymentFailed(ctx, parked.ID, 0, true, "billing said no"); err != nil {
		t.Fatal(err)
	}

	got, err := s.ClaimPayments(ctx, time.Minute, 1, time.Now())
	if err != nil || len(got) != 1 || got[0].ID != first.ID || got[0].PayAttempts != 1 {
		t.Fatalf("claim 1 = %+v, %v; want the earliest due order on its first attempt", got, err)
	}
	got, err = s.ClaimPayments(ctx, time.Minute, 10, time.Now())
	if err != nil || len(got) != 1 || got[0].ID != second.ID {
		t.Fatalf("claim 10 = %+v, %v; want only %s (the rest is leased, parked, final or not due)", got, err, second.ID)
	}
	if got, _ := s.ClaimPayments(ctx, time.Minute, 10, time.Now()); len(got) != 0 {
		t.Errorf("claimed %d orders within their lease", len(got))
	}
}

func TestParked_ListedNewestFirstAndReleased(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	user := uuid.NewString()
	payment := newOrder(t, s, user, "payment")
	letter := paid(t, s, newOrder(t, s, user, "letter"))
	if err := s.PaymentFailed(ctx, payment.ID, 0, true, "billing is down"); err != nil {
		t.Fatal(err)
	}
	if err := s.LetterFailed(ctx, letter.ID, order.LetterRequestID(letter.ID), 0, true, "notification is down"); err != nil {
		t.Fatal(err)
	}
	// The payment was parked first.
	if _, err := db.Exec(`UPDATE orders SET pay_parked_time = now() - interval '1 minute' WHERE id = $1`, payment.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountParked(ctx); err != nil || n[order.StepPayment] != 1 || n[order.StepLetter] != 1 || n[order.StepRefund] != 0 {
		t.Fatalf("CountParked = %v, %v; want a payment and a letter", n, err)
	}
	items, err := s.ListParked(ctx, paging.Cursor{}, 10)
	if err != nil || len(items) != 2 {
		t.Fatalf("ListParked = %+v, %v", items, err)
	}
	if items[0].Step != order.StepLetter || items[0].OrderID != letter.ID || items[0].LastError != "notification is down" ||
		items[1].Step != order.StepPayment || items[1].OrderID != payment.ID || items[1].UserID != user {
		t.Errorf("parked = %+v, want the letter, then the payment", items)
	}
	rest, err := s.ListParked(ctx, paging.Cursor{Time: items[0].ParkTime, ID: items[0].OrderID}, 10)
	if err != nil || len(rest) != 1 || rest[0].OrderID != payment.ID {
		t.Errorf("page after the letter = %+v, %v; want the payment", rest, err)
	}
	if n, err := s.RetryParked(ctx, []string{payment.ID}); err != nil || n != 1 {
		t.Fatalf("RetryParked(payment) = %d, %v", n, err)
	}
	if got, _ := s.ClaimPayments(ctx, time.Minute, 10, time.Now()); len(got) != 1 || got[0].PayAttempts != 1 {
		t.Errorf("after release: claimed %+v, want the payment with a fresh count", got)
	}
	if n, err := s.RetryParked(ctx, nil); err != nil || n != 1 {
		t.Errorf("RetryParked(all) = %d, %v; want the letter", n, err)
	}
	if n, _ := s.CountParked(ctx); n[order.StepPayment]+n[order.StepLetter] != 0 {
		t.Errorf("parked after releasing all: %v", n)
	}
}
