package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/billing"
	"github.com/kassa-dev/kassa/services/billing/app"
	"github.com/kassa-dev/kassa/services/platform/apperr"
)

func newService(t *testing.T) (*app.Service, *recordingStore) {
	t.Helper()
	f := newStore(t)
	s, err := app.New(f, app.Config{DefaultCurrency: "CHF"})
	if err != nil {
		t.Fatal(err)
	}
	return s, f
}

func TestNew_RejectsBadDefaultCurrency(t *testing.T) {
	for _, c := range []string{"", "usd", "EURO"} {
		if _, err := app.New(nil, app.Config{DefaultCurrency: c}); err == nil {
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

// An invalid request is answered before the store: the account, funded so
// that a movement which slipped through would be applied, stays as it was.
func TestMovements_InvalidRequestsNeverReachTheStore(t *testing.T) {
	s, f := newService(t)
	ctx := context.Background()
	user := openFunded(t, f, 10)
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
	if m := f.movements(); len(m) != 0 {
		t.Fatalf("store asked for movements %+v by invalid requests", m)
	}
	if a, err := f.GetAccount(ctx, user); err != nil || a.Balance != 10 || len(ledger(t, f, user)) != 1 {
		t.Fatalf("account after invalid requests = %+v, %v; want the funding deposit alone", a, err)
	}
}

func TestMovements_CanonicalIDsReachTheStore(t *testing.T) {
	s, f := newService(t)
	user, order := uuid.MustParse(openFunded(t, f, 10)), uuid.New()
	_, err := s.Withdraw(context.Background(), strings.ToUpper(user.String()), 7, "", "k", strings.ToUpper(order.String()))
	moved := f.movements()
	if err != nil || len(moved) != 1 {
		t.Fatalf("Withdraw = %v, moves %d", err, len(moved))
	}
	m := moved[0]
	if m.Kind != billing.Withdrawal || m.UserID != user.String() || m.OrderID != order.String() || m.Amount != 7 {
		t.Fatalf("store got %+v", m)
	}
}

// An order's payment is keyed by its order: it needs no request_id, and
// one it carries is passed on; the second call is a retry of the first.
func TestWithdraw_OrderPaymentWithoutRequestID_ReachesTheStore(t *testing.T) {
	s, f := newService(t)
	user, order := openFunded(t, f, 10), uuid.NewString()
	for _, key := range []string{"", "order/" + order} {
		if _, err := s.Withdraw(context.Background(), user, 7, "", key, order); err != nil {
			t.Fatalf("Withdraw with request_id %q = %v", key, err)
		}
	}
	moved := f.movements()
	if len(moved) != 2 || moved[0].RequestID != "" || moved[1].RequestID != "order/"+order || !moved[0].PaysOrder() {
		t.Fatalf("store got %+v", moved)
	}
	if a, _ := f.GetAccount(context.Background(), user); a.Balance != 3 {
		t.Fatalf("balance %d, want 3: the order paid once", a.Balance)
	}
}

func TestListTransactions_FullPageHasNextToken(t *testing.T) {
	s, f := newService(t)
	ctx := context.Background()
	user := openFunded(t, f, 0)
	for i := range 5 {
		if _, err := s.Deposit(ctx, user, 1, "", fmt.Sprintf("d%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := s.ListTransactions(ctx, user, 4, "")
	if err != nil || len(p.Transactions) != 4 || p.NextPageToken == "" {
		t.Fatalf("page = %d entries, token %q, %v; want 4 and a token", len(p.Transactions), p.NextPageToken, err)
	}
	last, err := s.ListTransactions(ctx, user, 4, p.NextPageToken)
	if err != nil || len(last.Transactions) != 1 || last.NextPageToken != "" {
		t.Fatalf("last page = %d entries, token %q, %v; want 1 and no token", len(last.Transactions), last.NextPageToken, err)
	}
}
