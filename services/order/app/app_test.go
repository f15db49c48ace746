package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/app"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/paging"
)

// memStore is an in-memory app.Store.
type memStore struct {
	mu     sync.Mutex
	orders map[string]order.Order
	// raceWinner, when set, is what Create finds already stored under the
	// key, as if a concurrent request had inserted it after FindByRequest.
	raceWinner *order.Order
	minAges    []time.Duration
}

func newMemStore() *memStore { return &memStore{orders: map[string]order.Order{}} }

func (m *memStore) FindByRequest(_ context.Context, userID, requestID string) (order.Order, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.orders {
		if o.UserID == userID && o.RequestID == requestID {
			return o, true, nil
		}
	}
	return order.Order{}, false, nil
}

func (m *memStore) Create(_ context.Context, o order.Order) (order.Order, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.raceWinner != nil {
		return *m.raceWinner, false, nil
	}
	o.ID, o.Status, o.CreateTime = uuid.NewString(), order.Pending, time.Now()
	m.orders[o.ID] = o
	return o, true, nil
}

func (m *memStore) Get(_ context.Context, userID, id string) (order.Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.orders[id]
	if !ok || o.UserID != userID {
		return order.Order{}, order.ErrNotFound
	}
	return o, nil
}

func (m *memStore) List(context.Context, string, paging.Cursor, int) ([]order.Order, error) {
	return nil, errors.New("not used")
}

func (m *memStore) Settle(_ context.Context, id string, pay func(order.Order) (order.Outcome, error)) (order.Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.orders[id]
	if o.Status != order.Pending {
		return o, nil
	}
	out, err := pay(o)
	if err != nil {
		return order.Order{}, err
	}
	o.Status, o.FailureReason = out.Status, out.Reason
	m.orders[id] = o
	return o, nil
}

func (m *memStore) MarkNotified(_ context.Context, id string) (order.Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.orders[id]
	if o.NotifyTime.IsZero() {
		o.NotifyTime = time.Now()
	}
	m.orders[id] = o
	return o, nil
}

func (m *memStore) Unfinished(_ context.Context, minAge time.Duration, limit int) ([]order.Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.minAges = append(m.minAges, minAge)
	var out []order.Order
	for _, o := range m.orders {
		if !o.Done() && len(out) < limit {
			out = append(out, o)
		}
	}
	return out, nil
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
}

func (f *fakePayments) Withdraw(_ context.Context, w app.Withdrawal) (bool, string, error) {
	f.calls = append(f.calls, w)
	return f.declined, f.reason, f.err
}

type fakeLetters struct {
	err  error
	sent []order.Letter
}

func (f *fakeLetters) Send(_ context.Context, l order.Letter) error {
	if f.err != nil {
		return f.err
	}
	f.sent = append(f.sent, l)
	return nil
}

type fixture struct {
	svc      *app.Service
	store    *memStore
	users    *fakeUsers
	payments *fakePayments
	letters  *fakeLetters
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{store: newMemStore(), users: &fakeUsers{}, payments: &fakePayments{}, letters: &fakeLetters{}}
	svc, err := app.New(f.store, f.users, f.payments, f.letters, app.Config{DefaultCurrency: "EUR", RepairMinAge: 7 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

var user = uuid.NewString()

func TestNew_BadDefaultCurrency_Fails(t *testing.T) {
	if _, err := app.New(newMemStore(), &fakeUsers{}, &fakePayments{}, &fakeLetters{}, app.Config{DefaultCurrency: "dollars"}); err == nil {
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
			if f.users.calls+len(f.payments.calls) != 0 || len(f.store.orders) != 0 {
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
		{"letter not stored", func(f *fixture) { f.letters.err = down }, apperr.KindUnavailable, "is paid but its letter was not stored", order.Paid},
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

func TestCreate_Retry_ResumesWithoutUserLookup(t *testing.T) {
	f := newFixture(t)
	f.payments.err = errors.New("timeout")
	if _, err := f.svc.Create(context.Background(), user, 100, "", "k"); apperr.KindOf(err) != apperr.KindUnavailable {
		t.Fatalf("err = %v", err)
	}
	f.payments.err = nil
	o, err := f.svc.Create(context.Background(), user, 100, "EUR", "k") // explicit default = same terms
	if err != nil || o.Status != order.Paid {
		t.Fatalf("retry = %+v, %v; want paid", o, err)
	}
	if f.users.calls != 1 || len(f.payments.calls) != 2 {
		t.Errorf("user lookups %d, withdraw calls %d; want 1 and 2", f.users.calls, len(f.payments.calls))
	}
	if f.payments.calls[0].RequestID != f.payments.calls[1].RequestID {
		t.Errorf("retry used key %q, first try %q; want the same", f.payments.calls[1].RequestID, f.payments.calls[0].RequestID)
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
	f.store.raceWinner = &order.Order{ID: uuid.NewString(), UserID: user, Price: 999, Currency: "EUR", RequestID: "k", Status: order.Pending}
	if _, err := f.svc.Create(context.Background(), user, 100, "", "k"); apperr.KindOf(err) != apperr.KindAlreadyExists {
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

func TestRepair_FinishesUnfinishedOrdersOldEnough(t *testing.T) {
	f := newFixture(t)
	f.payments.err = errors.New("timeout")
	for _, k := range []string{"a", "b"} {
		if _, err := f.svc.Create(context.Background(), user, 100, "", k); err == nil {
			t.Fatal("want billing failure")
		}
	}
	rep, err := f.svc.Repair(context.Background())
	if err != nil || rep.Failed != 2 || rep.Finished != 0 {
		t.Fatalf("pass with billing down = %+v, %v; want 2 failed", rep, err)
	}
	f.payments.err = nil
	rep, err = f.svc.Repair(context.Background())
	if err != nil || rep.Finished != 2 || rep.Failed != 0 {
		t.Fatalf("pass with billing up = %+v, %v; want 2 finished", rep, err)
	}
	if len(f.letters.sent) != 2 {
		t.Errorf("letters = %d, want 2", len(f.letters.sent))
	}
	for _, age := range f.store.minAges {
		if age != 7*time.Second {
			t.Errorf("asked for orders older than %v, want the configured 7s", age)
		}
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
