package app_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/app"
	"github.com/kassa-dev/kassa/services/order/postgres"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// The use cases run on the real store (a fresh database per test), so no
// in-memory imitation of its SQL can drift from it; only the peers are
// fakes, and stubs at that: each test sets the answer a peer gives
// (declined, down, unknown user) and they model no rule of their own. The
// rules the use cases rely on from the peers are the suites of peertest,
// which the fake services of the gRPC tests and the real services pass.

// raceStore makes Create find raceWinner already stored under the key, as
// if a concurrent request with the key had inserted it first.
type raceStore struct {
	*postgres.Store
	raceWinner order.Order
}

func (r *raceStore) Create(context.Context, order.Order, time.Duration) (order.Order, bool, error) {
	return r.raceWinner, false, nil
}

type fakeUsers struct {
	err   error
	calls int
}

func (f *fakeUsers) Email(context.Context, string) (string, error) {
	f.calls++
	return "ada@example.com", f.err
}

type fakePayments struct {
	declined bool
	reason   string
	err      error
	calls    []app.Withdrawal
	// noAccount is a user billing has no account for; lookups records
	// every HasAccount.
	noAccount string
	lookups   []string
	// refunds records every Refund; refundErr stands for billing not
	// refunding, and a refund gives back what it asks, or for "the rest"
	// refundable (the order's price in the tests that set it).
	refunds    []app.Refund
	refundErr  error
	refundable int64
}

func (f *fakePayments) Refund(_ context.Context, r app.Refund) (int64, error) {
	f.refunds = append(f.refunds, r)
	if f.refundErr != nil {
		return 0, f.refundErr
	}
	if r.Amount > 0 {
		return r.Amount, nil
	}
	return f.refundable, nil
}

// HasAccount: every user has an account unless noAccount names it; err
// stands for billing not answering.
func (f *fakePayments) HasAccount(_ context.Context, userID string) (bool, error) {
	f.lookups = append(f.lookups, userID)
	if f.err != nil {
		return false, f.err
	}
	return userID != f.noAccount, nil
}

func (f *fakePayments) Withdraw(_ context.Context, w app.Withdrawal) (bool, string, error) {
	f.calls = append(f.calls, w)
	return f.declined, f.reason, f.err
}

type fakeLetters struct {
	err  error
	mu   sync.Mutex // orders of concurrent tests hand letters over at once
	sent []order.Letter
}

func (f *fakeLetters) Send(_ context.Context, l order.Letter) error {
	if f.err != nil {
		return f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, l)
	return nil
}

type fixture struct {
	svc      *app.Service
	store    *postgres.Store
	db       *sqlx.DB
	users    *fakeUsers
	payments *fakePayments
	letters  *fakeLetters
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := pgtest.NewDB(t, postgres.Migrations)
	f := &fixture{store: postgres.New(db), db: db, users: &fakeUsers{}, payments: &fakePayments{}, letters: &fakeLetters{}}
	svc, err := app.New(f.store, f.users, f.payments, f.letters, app.Config{DefaultCurrency: "EUR", RepairMinAge: minAge})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

// minAge is the fixture's RepairMinAge. Tests of the background passes
// age their orders past it in SQL rather than waiting.
const minAge = 7 * time.Second

// age moves every order and letter of the fixture's database past minAge,
// as if that much time had passed.
func (f *fixture) age(t *testing.T) {
	t.Helper()
	for _, q := range []string{
		`UPDATE orders SET pay_next_attempt_time = pay_next_attempt_time - interval '1 hour'`,
		`UPDATE order_letters SET next_attempt_time = next_attempt_time - interval '1 hour'`,
		`UPDATE order_refunds SET next_attempt_time = next_attempt_time - interval '1 hour'`,
	} {
		if _, err := f.db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}

// lastLetterError is the outbox's last_error of the letter of order id.
func (f *fixture) lastLetterError(t *testing.T, id string) string {
	t.Helper()
	var last string
	if err := f.db.Get(&last, `SELECT coalesce(last_error, '') FROM order_letters WHERE order_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	return last
}

// orders counts the stored orders.
func (f *fixture) orders(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.db.Get(&n, `SELECT count(*) FROM orders`); err != nil {
		t.Fatal(err)
	}
	return n
}

var user = uuid.NewString()

func TestNew_BadDefaultCurrency_Fails(t *testing.T) {
	if _, err := app.New(postgres.New(pgtest.NewDB(t, postgres.Migrations)), &fakeUsers{}, &fakePayments{}, &fakeLetters{}, app.Config{DefaultCurrency: "dollars"}); err == nil {
		t.Error("New accepted default currency \"dollars\"")
	}
}

func TestCreate_BadInput_InvalidWithoutPeerCalls(t *testing.T) {
	tests := []struct {
		name, user  string
		price       int64
		cur, key    string
		wantInField string
	}{
		{"bad user", "42", 100, "", "k", "user_id"},
		{"zero price", user, 0, "", "k", "order.price"},
		{"huge price", user, 1_000_000_000_000_001, "", "k", "order.price"},
		{"bad currency", user, 100, "US", "k", "order.currency"},
		{"long key", user, 100, "", strings.Repeat("x", 129), "request_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			_, err := f.svc.Create(context.Background(), tt.user, tt.price, tt.cur, tt.key)
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Kind != apperr.KindInvalid || ae.Field != tt.wantInField {
				t.Fatalf("err = %v, want invalid %s", err, tt.wantInField)
			}
			if f.users.calls+len(f.payments.calls) != 0 || f.orders(t) != 0 {
				t.Error("an invalid request reached a peer or the store")
			}
		})
	}
}

func TestCreate_Paid_WithdrawsUnderOrderKeyAndSendsLetter(t *testing.T) {
	f := newFixture(t)
	o, err := f.svc.Create(context.Background(), user, 250, "", "k")
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != order.Paid || !o.Notified() || o.Currency != "EUR" || o.Email != "ada@example.com" {
		t.Errorf("order = %+v, want paid, notified, in the default EUR, with the user's email", o)
	}
	want := app.Withdrawal{UserID: user, Amount: 250, Currency: "EUR", RequestID: "order/" + o.ID, OrderID: o.ID}
	if len(f.payments.calls) != 1 || f.payments.calls[0] != want {
		t.Errorf("withdrawals = %+v, want [%+v]", f.payments.calls, want)
	}
	if len(f.letters.sent) != 1 || f.letters.sent[0] != order.OutcomeLetter(o) {
		t.Errorf("letters = %+v, want the paid letter", f.letters.sent)
	}
}

func TestCreate_Declined_RejectedWithBillingsReason(t *testing.T) {
	f := newFixture(t)
	f.payments.declined, f.payments.reason = true, "account is closed"
	o, err := f.svc.Create(context.Background(), user, 250, "", "k")
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != order.Rejected || o.FailureReason != "account is closed" || !o.Notified() {
		t.Errorf("order = %+v, want rejected with billing's reason and notified", o)
	}
}

func TestCreate_PeerFailures(t *testing.T) {
	down := errors.New("connection refused")
	tests := []struct {
		name       string
		setup      func(f *fixture)
		kind       apperr.Kind
		msg        string
		wantStatus order.Status // of the stored order; "" = none stored
	}{
		{"unknown user", func(f *fixture) { f.users.err = fmt.Errorf("x: %w", order.ErrUnknownUser) }, apperr.KindNotFound, "user " + user + " not found", ""},
		{"user service down", func(f *fixture) { f.users.err = down }, apperr.KindUnavailable, "user service", ""},
		{"billing silent", func(f *fixture) { f.payments.err = down }, apperr.KindUnavailable, "is pending: billing did not answer", order.Pending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.setup(f)
			_, err := f.svc.Create(context.Background(), user, 100, "", "k")
			if apperr.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want kind %d containing %q", err, tt.kind, tt.msg)
			}
			if strings.Contains(err.Error(), "connection refused") {
				t.Errorf("err = %q leaks the peer's error to the client", err)
			}
			o, found, _ := f.store.FindByRequest(context.Background(), user, "k")
			switch {
			case tt.wantStatus == "" && found:
				t.Errorf("order stored: %+v", o)
			case tt.wantStatus != "" && (!found || o.Status != tt.wantStatus || o.Notified()):
				t.Errorf("stored order = %+v (found %v), want %s without letter", o, found, tt.wantStatus)
			}
		})
	}
}

// A retry finds its order through the insert's conflict, or, when the
// user lookup before it fails (the service down, the user deleted since),
// by its key: either way it finishes the order under the first attempt's
// payment key and is not refused for what the first attempt did not need.
func TestCreate_Retry_ResumesTheFirstAttempt(t *testing.T) {
	for _, tt := range []struct {
		name     string
		usersErr error // the user lookup's answer to the retry
	}{
		{"user service up", nil},
		{"user service down", errors.New("connection refused")},
		{"user deleted since", fmt.Errorf("x: %w", order.ErrUnknownUser)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.payments.err = errors.New("timeout")
			if _, err := f.svc.Create(context.Background(), user, 100, "", "k"); apperr.KindOf(err) != apperr.KindUnavailable {
				t.Fatalf("err = %v", err)
			}
			f.payments.err, f.users.err = nil, tt.usersErr
			o, err := f.svc.Create(context.Background(), user, 100, "EUR", "k") // explicit default = same terms
			if err != nil || o.Status != order.Paid {
				t.Fatalf("retry = %+v, %v; want paid", o, err)
			}
			if len(f.payments.calls) != 2 || f.orders(t) != 1 {
				t.Fatalf("withdraw calls %d, orders %d; want 2 and 1", len(f.payments.calls), f.orders(t))
			}
			if f.payments.calls[0].RequestID != f.payments.calls[1].RequestID {
				t.Errorf("retry used key %q, first try %q; want the same", f.payments.calls[1].RequestID, f.payments.calls[0].RequestID)
			}
		})
	}
}

// findFailsStore loses the database on the key's lookup.
type findFailsStore struct{ *postgres.Store }

func (findFailsStore) FindByRequest(context.Context, string, string) (order.Order, bool, error) {
	return order.Order{}, false, fmt.Errorf("read order by request_id: %w", driver.ErrBadConn)
}

// When the user lookup fails and so does the key's, the call cannot tell
// a retry of a recorded (perhaps paid) order from a new one: it answers
// UNAVAILABLE with the key to retry with, never a final NOT_FOUND, and
// records nothing.
func TestCreate_UserAndKeyLookupsFail_Unavailable(t *testing.T) {
	for _, usersErr := range []error{errors.New("connection refused"), fmt.Errorf("x: %w", order.ErrUnknownUser)} {
		t.Run(usersErr.Error(), func(t *testing.T) {
			f := newFixture(t)
			svc, err := app.New(findFailsStore{f.store}, f.users, f.payments, f.letters, app.Config{DefaultCurrency: "EUR"})
			if err != nil {
				t.Fatal(err)
			}
			f.users.err = usersErr
			_, err = svc.Create(context.Background(), user, 100, "", "k")
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Kind != apperr.KindUnavailable || ae.Reason != "DATABASE_UNAVAILABLE" ||
				!strings.Contains(err.Error(), "retry with the same request_id") {
				t.Fatalf("err = %v, want unavailable DATABASE_UNAVAILABLE naming the retry", err)
			}
			if f.orders(t) != 0 || len(f.payments.calls) != 0 {
				t.Errorf("orders %d, withdrawals %d; want none", f.orders(t), len(f.payments.calls))
			}
		})
	}
}

// Without a key of its own a call cannot be a retry: when the user lookup
// fails nothing is looked up or stored.
func TestCreate_ServerKeyedOrderNeedsTheUser(t *testing.T) {
	f := newFixture(t)
	f.users.err = errors.New("connection refused")
	if _, err := f.svc.Create(context.Background(), user, 100, "", ""); apperr.KindOf(err) != apperr.KindUnavailable {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if f.orders(t) != 0 || len(f.payments.calls) != 0 {
		t.Errorf("orders %d, withdrawals %d; want none", f.orders(t), len(f.payments.calls))
	}
}

func TestCreate_KeyReusedWithOtherTerms_AlreadyExists(t *testing.T) {
	f := newFixture(t)
	if _, err := f.svc.Create(context.Background(), user, 100, "", "k"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		price int64
		cur   string
	}{{101, ""}, {100, "USD"}} {
		if _, err := f.svc.Create(context.Background(), user, tc.price, tc.cur, "k"); apperr.KindOf(err) != apperr.KindAlreadyExists {
			t.Errorf("%d %q: err = %v, want AlreadyExists", tc.price, tc.cur, err)
		}
	}
	if len(f.payments.calls) != 1 {
		t.Errorf("withdraw calls = %d, want 1", len(f.payments.calls))
	}
}

// A concurrent request with the same key but other terms can win the
// insert after this one looked for the key; this one must not pay for it.
func TestCreate_LostInsertRaceToOtherTerms_AlreadyExists(t *testing.T) {
	f := newFixture(t)
	winner, _, err := f.store.Create(context.Background(), order.Order{UserID: uuid.NewString(), Price: 999, Currency: "EUR", RequestID: "k", Email: "x@example.com"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := app.New(&raceStore{Store: f.store, raceWinner: winner}, f.users, f.payments, f.letters, app.Config{DefaultCurrency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(context.Background(), user, 100, "", "k"); apperr.KindOf(err) != apperr.KindAlreadyExists {
		t.Fatalf("err = %v, want AlreadyExists", err)
	}
	if len(f.payments.calls) != 0 {
		t.Errorf("paid %d times for another request's order", len(f.payments.calls))
	}
}

func TestCreate_NoKey_ServerMakesOnePerCall(t *testing.T) {
	f := newFixture(t)
	a, errA := f.svc.Create(context.Background(), user, 100, "", "")
	b, errB := f.svc.Create(context.Background(), user, 100, "", "")
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if a.ID == b.ID || a.RequestID == "" || a.RequestID == b.RequestID {
		t.Errorf("orders %s/%s with keys %q/%q, want two orders with distinct keys", a.ID, b.ID, a.RequestID, b.RequestID)
	}
}

func TestRepair_SettlesPendingOrdersOldEnough(t *testing.T) {
	f := newFixture(t)
	f.payments.err = errors.New("timeout")
	for _, k := range []string{"a", "b"} {
		if _, err := f.svc.Create(context.Background(), user, 100, "", k); err == nil {
			t.Fatal("want billing failure")
		}
	}
	f.payments.err = nil
	if rep, err := f.svc.Repair(context.Background()); err != nil || rep != (app.RepairReport{}) {
		t.Fatalf("pass over orders younger than %s = %+v, %v; want nothing done", minAge, rep, err)
	}
	f.age(t)
	f.payments.err = errors.New("timeout")
	rep, err := f.svc.Repair(context.Background())
	if err != nil || rep.Failed != 2 || rep.Finished != 0 {
		t.Fatalf("pass with billing down = %+v, %v; want 2 failed", rep, err)
	}
	f.payments.err = nil
	f.age(t) // past the backoff of the failed attempt
	rep, err = f.svc.Repair(context.Background())
	if err != nil || rep.Finished != 2 || rep.Failed != 0 {
		t.Fatalf("pass with billing up = %+v, %v; want 2 finished", rep, err)
	}
	if len(f.letters.sent) != 2 {
		t.Errorf("letters = %d, want 2", len(f.letters.sent))
	}
}

// A letter the notification service did not take does not hold up the
// answer: the order comes back paid, and the letter waits in the outbox
// until the relay delivers it (once).
func TestCreate_LetterNotTaken_PaidAndRelayedLater(t *testing.T) {
	f := newFixture(t)
	f.letters.err = errors.New("connection refused")
	o, err := f.svc.Create(context.Background(), user, 100, "", "k")
	if err != nil || o.Status != order.Paid || o.Notified() {
		t.Fatalf("Create = %+v, %v; want paid, letter not yet confirmed", o, err)
	}
	f.letters.err = nil
	// The request gave up on the hand-over, so the letter is due after the
	// first backoff step (at most 1 s by default), not after the 7 s lease
	// that keeps the relay off letters whose request is still working.
	var wait time.Duration
	var secs float64
	if err := f.db.Get(&secs, `SELECT extract(epoch FROM next_attempt_time - now()) FROM order_letters WHERE order_id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	if wait = time.Duration(secs * float64(time.Second)); wait > time.Second+100*time.Millisecond {
		t.Fatalf("letter due in %s after the failed hand-over, want within the first backoff step (1s), well before the %s lease", wait, minAge)
	}
	if last := f.lastLetterError(t, o.ID); !strings.Contains(last, "connection refused") {
		t.Errorf("last_error = %q, want the hand-over's error", last)
	}
	f.age(t)
	if rep, err := f.svc.Relay(context.Background()); err != nil || rep.Sent != 1 {
		t.Fatalf("relay = %+v, %v; want 1 sent", rep, err)
	}
	if len(f.letters.sent) != 1 || f.letters.sent[0].Subject != order.OutcomeLetter(o).Subject {
		t.Errorf("letters = %+v, want the paid letter once", f.letters.sent)
	}
	if got, _ := f.store.Get(context.Background(), user, o.ID); !got.Notified() {
		t.Error("order not notified after the relay delivered its letter")
	}
	f.age(t)
	if rep, _ := f.svc.Relay(context.Background()); rep.Sent != 0 {
		t.Errorf("second relay pass sent %d letters, want 0", rep.Sent)
	}
}

// A client's retry of an order whose letter the relay parked must not
// release it: only an operator does (RetryParked). Nor may it move a letter
// the relay has already scheduled.
func TestCreate_RetryWhileLetterParked_StaysParked(t *testing.T) {
	f := newFixture(t)
	f.letters.err = errors.New("connection refused")
	o, err := f.svc.Create(context.Background(), user, 100, "", "k")
	if err != nil || o.Status != order.Paid {
		t.Fatalf("Create = %+v, %v; want paid", o, err)
	}
	if _, err := f.db.Exec(`UPDATE order_letters SET attempts = 20, parked_time = now(),
		next_attempt_time = now() + interval '1 hour' WHERE order_id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Create(context.Background(), user, 100, "", "k"); err != nil {
		t.Fatalf("retry: %v", err)
	}
	var parked bool
	var dueIn float64
	if err := f.db.QueryRow(`SELECT parked_time IS NOT NULL, extract(epoch FROM next_attempt_time - now())
		FROM order_letters WHERE order_id = $1`, o.ID).Scan(&parked, &dueIn); err != nil {
		t.Fatal(err)
	}
	if !parked || dueIn < 3000 {
		t.Errorf("after a client retry: parked=%v, due in %.0fs; want still parked, schedule untouched", parked, dueIn)
	}
}

func TestGet_BadIDs_Invalid(t *testing.T) {
	f := newFixture(t)
	for _, ids := range [][2]string{{"x", uuid.NewString()}, {user, "x"}} {
		if _, err := f.svc.Get(context.Background(), ids[0], ids[1]); apperr.KindOf(err) != apperr.KindInvalid {
			t.Errorf("Get(%q, %q) = %v, want invalid", ids[0], ids[1], err)
		}
	}
}

// An empty list asks billing whether the user exists, unless the caller
// is that user: a user that never existed is USER_NOT_FOUND, one with an
// account (open, or closed by deleting the user) an empty page, and a
// billing that does not answer UNAVAILABLE rather than a guess. A page
// with orders needs no lookup.
func TestList_UnknownUser_NotFound_OnlyEmptyPagesOfOthersAsk(t *testing.T) {
	withOrder := uuid.NewString()
	tests := []struct {
		name        string
		user        string
		byOwner     bool
		noAccount   bool
		billingDown bool
		wantKind    apperr.Kind // 0: a page
		wantOrders  int
		wantLookups int
	}{
		{"never existed, asked by an admin", uuid.NewString(), false, true, false, apperr.KindNotFound, 0, 1},
		{"account without orders", uuid.NewString(), false, false, false, 0, 0, 1},
		{"the owner's empty list", uuid.NewString(), true, true, false, 0, 0, 0},
		{"billing down", uuid.NewString(), false, false, true, apperr.KindUnavailable, 0, 1},
		{"billing down, the owner asks", uuid.NewString(), true, false, true, 0, 0, 0},
		{"orders", withOrder, false, true, true, 0, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.user == withOrder {
				if _, err := f.svc.Create(context.Background(), withOrder, 100, "", "k"); err != nil {
					t.Fatal(err)
				}
			}
			if tt.noAccount {
				f.payments.noAccount = tt.user
			}
			if tt.billingDown {
				f.payments.err = errors.New("billing: connection refused")
			}
			p, err := f.svc.List(context.Background(), tt.user, 0, "", tt.byOwner)
			switch {
			case tt.wantKind == 0 && err != nil:
				t.Fatalf("List = %v, want a page", err)
			case tt.wantKind != 0 && apperr.KindOf(err) != tt.wantKind:
				t.Fatalf("List = %v (kind %v), want kind %v", err, apperr.KindOf(err), tt.wantKind)
			case tt.wantKind == apperr.KindNotFound && apperr.ReasonOf(err) != "USER_NOT_FOUND":
				t.Errorf("reason %q, want USER_NOT_FOUND", apperr.ReasonOf(err))
			}
			if len(p.Orders) != tt.wantOrders {
				t.Errorf("%d orders, want %d", len(p.Orders), tt.wantOrders)
			}
			if len(f.payments.lookups) != tt.wantLookups {
				t.Errorf("billing asked %d times (%v), want %d", len(f.payments.lookups), f.payments.lookups, tt.wantLookups)
			}
		})
	}
}
