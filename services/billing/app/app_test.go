package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/billing"
	"github.com/kassa-dev/kassa/services/billing/app"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/paging"
)

// fakeStore keeps accounts in a map and records the calls that reach it.
type fakeStore struct {
	accounts map[string]billing.Account
	calls    int
	moved    []billing.Movement
}

func newFake() *fakeStore { return &fakeStore{accounts: map[string]billing.Account{}} }

func (f *fakeStore) CreateAccount(_ context.Context, userID, currency string) (billing.Account, bool, error) {
	f.calls++
	if a, ok := f.accounts[userID]; ok {
		return a, false, nil
	}
	a := billing.Account{UserID: userID, Currency: currency}
	f.accounts[userID] = a
	return a, true, nil
}

func (f *fakeStore) GetAccount(_ context.Context, userID string) (billing.Account, error) {
	f.calls++
	if a, ok := f.accounts[userID]; ok {
		return a, nil
	}
	return billing.Account{}, billing.ErrAccountNotFound
}

func (f *fakeStore) CloseAccount(ctx context.Context, userID string) (billing.Account, error) {
	return f.GetAccount(ctx, userID)
}

func (f *fakeStore) Move(_ context.Context, m billing.Movement) (billing.Account, billing.Transaction, error) {
	f.calls++
	f.moved = append(f.moved, m)
	return billing.Account{}, billing.Transaction{}, nil
}

func (f *fakeStore) ListTransactions(_ context.Context, _ string, _ paging.Cursor, limit int) ([]billing.Transaction, error) {
	f.calls++
	return make([]billing.Transaction, limit), nil // always more than a page
}

func newService(t *testing.T) (*app.Service, *fakeStore) {
	t.Helper()
	f := newFake()
	s, err := app.New(f, app.Config{DefaultCurrency: "CHF"})
	if err != nil {
		t.Fatal(err)
	}
	return s, f
}

func TestNew_RejectsBadDefaultCurrency(t *testing.T) {
	for _, c := range []string{"", "usd", "EURO"} {
		if _, err := app.New(newFake(), app.Config{DefaultCurrency: c}); err == nil {
			t.Errorf("New with default currency %q succeeded", c)
		}
	}
}

func TestCreateAccount_DefaultAndConflictingCurrency(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	user := uuid.NewString()
	a, err := s.CreateAccount(ctx, user, "")
	if err != nil || a.Currency != "CHF" {
		t.Fatalf("CreateAccount = %+v, %v; want the default currency", a, err)
	}
	if _, err := s.CreateAccount(ctx, user, "CHF"); err != nil {
		t.Fatalf("same currency again: %v", err)
	}
	if _, err := s.CreateAccount(ctx, user, "EUR"); !errors.Is(err, billing.ErrAccountExists) {
		t.Fatalf("other currency: %v, want ErrAccountExists", err)
	}
}

func TestMovements_InvalidRequestsNeverReachTheStore(t *testing.T) {
	s, f := newService(t)
	ctx := context.Background()
	user := uuid.NewString()
	bad := map[string]func() error{
		"user":     func() error { _, err := s.Deposit(ctx, "u", 1, "", "k"); return err },
		"amount":   func() error { _, err := s.Withdraw(ctx, user, 0, "", "k", ""); return err },
		"currency": func() error { _, err := s.Deposit(ctx, user, 1, "$", "k"); return err },
		"key":      func() error { _, err := s.Withdraw(ctx, user, 1, "", "", ""); return err },
		"order":    func() error { _, err := s.Withdraw(ctx, user, 1, "", "k", "o"); return err },
		"size":     func() error { _, err := s.ListTransactions(ctx, user, 5000, ""); return err },
		"token":    func() error { _, err := s.ListTransactions(ctx, user, 5, "!"); return err },
	}
	for name, call := range bad {
		if err := call(); apperr.KindOf(err) != apperr.KindInvalid {
			t.Errorf("%s: %v, want an invalid-argument error", name, err)
		}
	}
	if f.calls != 0 {
		t.Fatalf("store called %d times for invalid requests", f.calls)
	}
}

func TestMovements_CanonicalIDsReachTheStore(t *testing.T) {
	s, f := newService(t)
	user, order := uuid.New(), uuid.New()
	_, err := s.Withdraw(context.Background(), strings.ToUpper(user.String()), 7, "", "k", strings.ToUpper(order.String()))
	if err != nil || len(f.moved) != 1 {
		t.Fatalf("Withdraw = %v, moves %d", err, len(f.moved))
	}
	m := f.moved[0]
	if m.Kind != billing.Withdrawal || m.UserID != user.String() || m.OrderID != order.String() || m.Amount != 7 {
		t.Fatalf("store got %+v", m)
	}
}

// An order's payment is keyed by its order: it needs no request_id, and
// one it carries is passed on.
func TestWithdraw_OrderPaymentWithoutRequestID_ReachesTheStore(t *testing.T) {
	s, f := newService(t)
	user, order := uuid.NewString(), uuid.NewString()
	for _, key := range []string{"", "order/" + order} {
		if _, err := s.Withdraw(context.Background(), user, 7, "", key, order); err != nil {
			t.Fatalf("Withdraw with request_id %q = %v", key, err)
		}
	}
	if len(f.moved) != 2 || f.moved[0].RequestID != "" || f.moved[1].RequestID != "order/"+order || !f.moved[0].PaysOrder() {
		t.Fatalf("store got %+v", f.moved)
	}
}

func TestListTransactions_FullPageHasNextToken(t *testing.T) {
	s, _ := newService(t)
	p, err := s.ListTransactions(context.Background(), uuid.NewString(), 4, "")
	if err != nil || len(p.Transactions) != 4 || p.NextPageToken == "" {
		t.Fatalf("page = %d entries, token %q, %v", len(p.Transactions), p.NextPageToken, err)
	}
}
