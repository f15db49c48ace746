// Package peertest is the contract of the user service's peer, billing,
// written down as the use cases rely on it (app.Accounts). The same suite
// runs against the fakes of the user tests (the in-memory Accounts of the
// app tests, and the fake billing server of the gRPC tests through
// peers) and against the real billing service (from the e2e
// module, which may import every service), so a fake cannot keep a rule
// billing no longer keeps, or miss one it gained.
package peertest

import (
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/user/app"
)

// Account is what the suite reads of a billing account.
type Account struct {
	Currency string
	Closed   bool
}

// Billing is a billing service under test: the peer the use cases call and
// a window on the accounts behind it, which is not part of the contract.
type Billing struct {
	app.Accounts
	// Account returns userID's account; found is false when it has none.
	Account func(t *testing.T, userID string) (a Account, found bool)
}

// RunAccounts checks what the use cases need of billing: one account per
// user however often and however concurrently it is opened, in the
// currency of the first open; an open in another currency refused (so a
// changed setting parks the user instead of passing unnoticed); a closed
// account stays closed, even when a late retry of the registration opens
// it again; closing is idempotent and succeeds for a user without one.
func RunAccounts(t *testing.T, newBilling func(t *testing.T) Billing) {
	ctx := context.Background()
	open := func(t *testing.T, b Billing, user, currency string) {
		t.Helper()
		if err := b.Open(ctx, user, currency); err != nil {
			t.Fatalf("Open(%s, %q) = %v", user, currency, err)
		}
	}
	closeAccount := func(t *testing.T, b Billing, user string) {
		t.Helper()
		if err := b.Close(ctx, user); err != nil {
			t.Fatalf("Close(%s) = %v", user, err)
		}
	}
	// has fails unless userID's account is want.
	has := func(t *testing.T, b Billing, user string, want Account) {
		t.Helper()
		if got, found := b.Account(t, user); !found || got != want {
			t.Fatalf("account of %s = %+v (found %v), want %+v", user, got, found, want)
		}
	}

	t.Run("Reopened_OneAccountInFirstCurrency", func(t *testing.T) {
		b, user := newBilling(t), uuid.NewString()
		open(t, b, user, "EUR")
		open(t, b, user, "EUR")
		open(t, b, user, "") // "" asks for no particular currency
		has(t, b, user, Account{Currency: "EUR"})
	})
	t.Run("NoCurrency_BillingChooses", func(t *testing.T) {
		b, user := newBilling(t), uuid.NewString()
		open(t, b, user, "")
		if a, found := b.Account(t, user); !found || a.Currency == "" || a.Closed {
			t.Fatalf("account = %+v (found %v), want an open one in billing's currency", a, found)
		}
	})
	t.Run("OtherCurrency_Refused", func(t *testing.T) {
		b, user := newBilling(t), uuid.NewString()
		open(t, b, user, "EUR")
		if err := b.Open(ctx, user, "USD"); err == nil {
			t.Fatal("Open in USD of an EUR account succeeded")
		}
		has(t, b, user, Account{Currency: "EUR"})
	})
	t.Run("Closed_StaysClosed", func(t *testing.T) {
		b, user := newBilling(t), uuid.NewString()
		open(t, b, user, "EUR")
		closeAccount(t, b, user)
		closeAccount(t, b, user)
		has(t, b, user, Account{Currency: "EUR", Closed: true})
		open(t, b, user, "EUR") // a late retry of the deleted user's registration
		has(t, b, user, Account{Currency: "EUR", Closed: true})
	})
	t.Run("CloseWithoutAccount_Succeeds", func(t *testing.T) {
		b, user := newBilling(t), uuid.NewString()
		closeAccount(t, b, user)
		if a, found := b.Account(t, user); found {
			t.Fatalf("Close made an account: %+v", a)
		}
	})
	t.Run("ConcurrentOpens_OneAccount", func(t *testing.T) {
		b, user := newBilling(t), uuid.NewString()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if err := b.Open(ctx, user, "EUR"); err != nil {
					t.Errorf("concurrent Open = %v", err)
				}
			})
		}
		wg.Wait()
		has(t, b, user, Account{Currency: "EUR"})
	})
}
