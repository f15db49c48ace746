package app_test

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/billing"
	"github.com/kassa-dev/kassa/services/billing/postgres"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// The use cases run on the real store (a fresh database per test), as they
// do in the other services. An in-memory imitation of it lacked MoveOnce,
// so the replay accounting in move never ran under test; the real store
// cannot fall behind itself.

// recordingStore is the real store that also remembers the movements asked
// of it: PostgreSQL reads a UUID in any spelling, so only here can a test
// see what the use cases passed on. It records MoveOnce, the one movement
// call of app.Store, and otherwise is the store production runs.
type recordingStore struct {
	*postgres.Store
	mu    sync.Mutex
	moved []billing.Movement
}

func newStore(t *testing.T) *recordingStore {
	t.Helper()
	return &recordingStore{Store: postgres.New(pgtest.NewDB(t, postgres.Migrations))}
}

func (r *recordingStore) record(m billing.Movement) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.moved = append(r.moved, m)
}

func (r *recordingStore) MoveOnce(ctx context.Context, m billing.Movement) (billing.Account, billing.Transaction, bool, error) {
	r.record(m)
	return r.Store.MoveOnce(ctx, m)
}

// movements returns the movements asked of the store so far, in order.
func (r *recordingStore) movements() []billing.Movement {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]billing.Movement(nil), r.moved...)
}

// openFunded opens a CHF account for a new user straight in the store,
// deposits balance (when positive) and returns the user id; the deposit is
// not recorded as a movement of the use cases.
func openFunded(t *testing.T, s *recordingStore, balance int64) string {
	t.Helper()
	ctx := context.Background()
	user := uuid.NewString()
	if _, _, err := s.Store.CreateAccount(ctx, user, "CHF"); err != nil {
		t.Fatal(err)
	}
	if balance > 0 {
		m := billing.Movement{UserID: user, Kind: billing.Deposit, Amount: balance, RequestID: "funding"}
		if _, _, err := s.Store.Move(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	return user
}

// ledger returns every entry of user's account, newest first, read from
// the store directly.
func ledger(t *testing.T, s *recordingStore, user string) []billing.Transaction {
	t.Helper()
	txs, err := s.Store.ListTransactions(context.Background(), user, paging.Cursor{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return txs
}
