package app_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/user"
	"github.com/kassa-dev/kassa/services/user/app"
	"github.com/kassa-dev/kassa/services/user/postgres"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// fakeAccounts is billing in memory, held to billing's contract
// (TestFakeAccounts_KeepsBillingsContract), that also records the calls.
// onOpen, when set, runs inside Open before it succeeds, to interleave
// other work with an open in flight.
type fakeAccounts struct {
	mu       sync.Mutex
	open     map[string]string // user id → currency of the open account
	closed   map[string]string // user id → currency of the closed account
	opens    int
	closes   int
	failOpen int // fail the next N Open calls
	onOpen   func(userID string)
}

// fakeDefaultCurrency is the fake billing's currency for an open that
// names none.
const fakeDefaultCurrency = "USD"

func (f *fakeAccounts) Open(_ context.Context, userID, currency string) error {
	f.mu.Lock()
	f.opens++
	if f.failOpen > 0 {
		f.failOpen--
		f.mu.Unlock()
		return errors.New("billing down")
	}
	hook := f.onOpen
	existing, found := f.open[userID]
	if !found {
		existing, found = f.closed[userID]
	}
	switch {
	case !found:
		if currency == "" {
			currency = fakeDefaultCurrency
		}
		f.open[userID] = currency
	case currency != "" && currency != existing:
		f.mu.Unlock()
		return fmt.Errorf("account exists: user %s already has an account in %s, not %s", userID, existing, currency)
	}
	f.mu.Unlock()
	if hook != nil {
		hook(userID)
	}
	return nil
}

func (f *fakeAccounts) Close(_ context.Context, userID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closes++
	if currency, ok := f.open[userID]; ok {
		if f.closed == nil {
			f.closed = make(map[string]string)
		}
		f.closed[userID] = currency
		delete(f.open, userID)
	}
	return nil
}

func (f *fakeAccounts) isOpen(userID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.open[userID]
	return ok
}

func setup(t *testing.T, pendingAge time.Duration) (*app.Service, *postgres.Store, *fakeAccounts) {
	t.Helper()
	store := postgres.New(pgtest.NewDB(t, postgres.Migrations))
	acc := &fakeAccounts{open: make(map[string]string)}
	svc, err := app.New(store, acc, app.Config{Currency: "EUR", RepairMinAge: pendingAge})
	if err != nil {
		t.Fatal(err)
	}
	return svc, store, acc
}

// testPassword is the password of the users tests create: CreateUser
// requires one.
const testPassword = "correct horse battery"

func ada() user.User {
	return user.User{Username: "ada", Email: "ada@example.com"}
}

func TestCreate_OpensAccountInConfiguredCurrency(t *testing.T) {
	svc, _, acc := setup(t, 0)
	u, err := svc.Create(context.Background(), ada(), testPassword, "")
	if err != nil || !u.AccountReady {
		t.Fatalf("Create = %+v, %v", u, err)
	}
	if acc.open[u.ID] != "EUR" {
		t.Fatalf("accounts = %v, want an EUR account for %s", acc.open, u.ID)
	}
}

func TestCreate_BillingDownWithoutRequestID_SaysAccountFollows(t *testing.T) {
	svc, store, acc := setup(t, 0)
	acc.failOpen = 1
	_, err := svc.Create(context.Background(), ada(), testPassword, "")
	if !errors.Is(err, user.ErrAccountPendingNoKey) {
		t.Fatalf("Create = %v, want ErrAccountPendingNoKey", err)
	}
	pending, err := store.ListPending(context.Background(), 0, 10)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending users = %d, %v; want the saved user", len(pending), err)
	}
}

func TestRepair_FinishesPendingUsers(t *testing.T) {
	svc, store, acc := setup(t, 0)
	ctx := context.Background()
	acc.failOpen = 1
	if _, err := svc.Create(ctx, ada(), testPassword, ""); err == nil {
		t.Fatal("Create with billing down succeeded")
	}
	rep, err := svc.Repair(ctx)
	if err != nil || rep.Finished != 1 {
		t.Fatalf("Repair = %+v, %v; want 1 finished", rep, err)
	}
	if pending, _ := store.ListPending(ctx, 0, 10); len(pending) != 0 {
		t.Fatalf("still pending after repair: %+v", pending)
	}
	if len(acc.open) != 1 {
		t.Fatalf("open accounts = %v, want one", acc.open)
	}
	opens := acc.opens
	if rep, err := svc.Repair(ctx); err != nil || rep.Finished != 0 || acc.opens != opens {
		t.Fatalf("second pass = %+v, %v, opens %d→%d; want nothing to do", rep, err, opens, acc.opens)
	}
}

func TestRepair_LeavesYoungUsersToTheirCreateCall(t *testing.T) {
	svc, _, acc := setup(t, time.Hour)
	acc.failOpen = 1
	_, _ = svc.Create(context.Background(), ada(), testPassword, "")
	if rep, err := svc.Repair(context.Background()); err != nil || rep.Finished != 0 {
		t.Fatalf("Repair = %+v, %v; want 0 finished for a user younger than RepairMinAge", rep, err)
	}
}

func TestRepair_UserDeletedWhileOpening_ClosesAccount(t *testing.T) {
	svc, store, acc := setup(t, 0)
	ctx := context.Background()
	acc.failOpen = 1
	_, _ = svc.Create(ctx, ada(), testPassword, "")
	pending, err := store.ListPending(ctx, 0, 10)
	if err != nil || len(pending) != 1 {
		t.Fatal(pending, err)
	}
	// The user is deleted (by a DeleteUser that found no account to close)
	// while the repair's Open is in flight.
	acc.onOpen = func(id string) {
		if _, err := store.SoftDelete(ctx, id); err != nil {
			t.Error(err)
		}
	}
	if rep, _ := svc.Repair(ctx); rep.Finished != 0 {
		t.Fatalf("repaired %d, want 0", rep.Finished)
	}
	if acc.isOpen(pending[0].ID) {
		t.Fatal("a deleted user's account was left open")
	}
}

func TestDelete_PendingUser_ClosesAgainAfterDelete(t *testing.T) {
	svc, _, acc := setup(t, 0)
	ctx := context.Background()
	acc.failOpen = 1
	_, _ = svc.Create(ctx, ada(), testPassword, "r1")
	list, err := svc.List(ctx, 0, "")
	if err != nil || len(list.Users) != 1 {
		t.Fatal(list, err)
	}
	deleted, err := svc.Delete(ctx, list.Users[0].ID)
	if err != nil || !deleted.Deleted() {
		t.Fatalf("Delete = %+v, %v", deleted, err)
	}
	if acc.closes != 2 {
		t.Fatalf("Close calls = %d, want 2 (before and after the delete)", acc.closes)
	}
	// A retry of the original CreateUser now finds the user deleted.
	if _, err := svc.Create(ctx, ada(), testPassword, "r1"); !errors.Is(err, user.ErrNotFound) {
		t.Fatalf("Create retry after delete = %v, want ErrNotFound", err)
	}
}
