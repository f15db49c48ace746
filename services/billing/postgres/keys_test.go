package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/billing"
	"github.com/kassa-dev/kassa/services/billing/postgres"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/paging"
)

// storeDB is a store with its database, for writes behind its back.
type storeDB struct {
	*postgres.Store
	db *sqlx.DB
}

// payment is the order service's withdrawal for order.
func payment(user, order string, amount int64) billing.Movement {
	return billing.Movement{UserID: user, Kind: billing.Withdrawal, Amount: amount, Currency: "USD",
		RequestID: "order/" + order, OrderID: order}
}

// orderEntries counts the ledger entries that pay order.
func orderEntries(t *testing.T, s interface {
	ListTransactions(context.Context, string, paging.Cursor, int) ([]billing.Transaction, error)
}, user, order string) int {
	t.Helper()
	list, err := s.ListTransactions(context.Background(), user, paging.Cursor{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tx := range list {
		if tx.OrderID == order {
			n++
		}
	}
	return n
}

// Every rule's refusal is the key's answer for good: a retry gets the same
// error (rule, reason and message) once the rule would let it pass.
func TestMove_Refusal_ReplayedExactlyAfterTheRuleWouldPass(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, s storeDB, user string)
		m     func(user string) billing.Movement
		rule  error
		// change makes the rule pass (when it can be made to)
		change func(t *testing.T, s storeDB, user string)
	}{
		{
			name: "insufficient funds", rule: billing.ErrInsufficientFunds,
			m:      func(u string) billing.Movement { return withdrawal(u, 10, "k") },
			change: func(t *testing.T, s storeDB, u string) { mustMove(t, s.Store, deposit(u, 10, "top-up")) },
		},
		{
			name: "order payment, insufficient funds", rule: billing.ErrInsufficientFunds,
			m:      func(u string) billing.Movement { return payment(u, "0b0e4f44-4d5e-4c1c-9c55-2a1f3b4a5c6d", 10) },
			change: func(t *testing.T, s storeDB, u string) { mustMove(t, s.Store, deposit(u, 10, "top-up")) },
		},
		{
			name: "balance limit", rule: billing.ErrBalanceLimit,
			setup: func(t *testing.T, s storeDB, u string) {
				// Only a direct write reaches this balance.
				if _, err := s.db.Exec(`UPDATE accounts SET balance = 9223372036854775000 WHERE user_id = $1`, u); err != nil {
					t.Fatal(err)
				}
			},
			m: func(u string) billing.Movement { return deposit(u, 808, "k") },
			change: func(t *testing.T, s storeDB, u string) {
				if _, err := s.db.Exec(`UPDATE accounts SET balance = 0 WHERE user_id = $1`, u); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "currency mismatch", rule: billing.ErrCurrencyMismatch,
			m: func(u string) billing.Movement {
				return billing.Movement{UserID: u, Kind: billing.Deposit, Amount: 5, Currency: "EUR", RequestID: "k"}
			},
		},
		{
			name: "closed account", rule: billing.ErrAccountClosed,
			setup: func(t *testing.T, s storeDB, u string) {
				if _, err := s.CloseAccount(context.Background(), u); err != nil {
					t.Fatal(err)
				}
			},
			m: func(u string) billing.Movement { return deposit(u, 5, "k") },
			change: func(t *testing.T, s storeDB, u string) {
				if _, err := s.db.Exec(`UPDATE accounts SET close_time = NULL WHERE user_id = $1`, u); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, db := newStore(t)
			s := storeDB{st, db}
			user := openAccount(t, st)
			if tt.setup != nil {
				tt.setup(t, s, user)
			}
			_, _, first := st.Move(context.Background(), tt.m(user))
			if !errors.Is(first, tt.rule) {
				t.Fatalf("first Move = %v, want %v", first, tt.rule)
			}
			if tt.change != nil {
				tt.change(t, s, user)
			}
			before, err := st.GetAccount(context.Background(), user)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				acct, tx, replayed, err := st.MoveOnce(context.Background(), tt.m(user))
				if !replayed || !errors.Is(err, tt.rule) || err.Error() != first.Error() ||
					apperr.ReasonOf(err) != apperr.ReasonOf(first) || apperr.KindOf(err) != apperr.KindFailedPrecondition {
					t.Fatalf("retry = %v (replayed %v), want the first refusal %q", err, replayed, first)
				}
				if acct != (billing.Account{}) || tx != (billing.Transaction{}) {
					t.Fatalf("a refusal returned account %+v, entry %+v", acct, tx)
				}
			}
			after, err := st.GetAccount(context.Background(), user)
			if err != nil || after != before {
				t.Fatalf("retries changed the account: %+v -> %+v (%v)", before, after, err)
			}
			if n := refusals(t, db, user); n != 1 {
				t.Fatalf("%d refusals recorded, want 1", n)
			}
			if n := orderEntries(t, st, user, tt.m(user).OrderID); tt.m(user).PaysOrder() && n != 0 {
				t.Fatalf("%d entries for the refused order", n)
			}
		})
	}
}

// A refused key is taken: other parameters under it are a reuse, and
// nothing is applied, even what would pass the rules.
func TestMove_RefusedKeyWithOtherParams_RequestIDReused(t *testing.T) {
	s, db := newStore(t)
	user := openAccount(t, s)
	mustMove(t, s, deposit(user, 50, "funds"))
	if _, _, err := s.Move(context.Background(), withdrawal(user, 80, "w")); !errors.Is(err, billing.ErrInsufficientFunds) {
		t.Fatalf("Move = %v, want ErrInsufficientFunds", err)
	}
	for name, m := range map[string]billing.Movement{
		"affordable amount": withdrawal(user, 10, "w"),
		"deposit":           deposit(user, 80, "w"),
		"other currency":    {UserID: user, Kind: billing.Withdrawal, Amount: 80, Currency: "EUR", RequestID: "w"},
	} {
		_, _, err := s.Move(context.Background(), m)
		if apperr.KindOf(err) != apperr.KindAlreadyExists || apperr.ReasonOf(err) != "REQUEST_ID_REUSED" ||
			!strings.Contains(err.Error(), `request_id "w"`) {
			t.Errorf("%s: %v, want REQUEST_ID_REUSED naming the request_id", name, err)
		}
	}
	if balance, n := audit(t, db, user); balance != 50 || n != 1 {
		t.Fatalf("audit: balance %d, %d entries; want 50, 1", balance, n)
	}
}

// A client key equal to the order service's "order/<id>" takes nothing
// from the order: the payment is keyed by the order, and each retry of
// either gets its own first result.
func TestMove_ClientAndOrderKeys_LiveApart(t *testing.T) {
	s, db := newStore(t)
	user := openAccount(t, s)
	order := uuid.NewString()
	_, forged := mustMove(t, s, deposit(user, 1, "order/"+order))
	mustMove(t, s, deposit(user, 99, "funds"))
	_, paid := mustMove(t, s, payment(user, order, 60))
	if paid.OrderID != order || paid.RequestID != "order/"+order || paid.BalanceAfter != 40 {
		t.Fatalf("payment = %+v", paid)
	}
	if _, again := mustMove(t, s, payment(user, order, 60)); again != paid {
		t.Fatalf("payment retried = %+v, want %+v", again, paid)
	}
	if _, again := mustMove(t, s, deposit(user, 1, "order/"+order)); again != forged {
		t.Fatalf("client deposit retried = %+v, want %+v", again, forged)
	}
	// In the client's namespace the key is the deposit's, whatever the
	// payment did.
	if _, _, err := s.Move(context.Background(), withdrawal(user, 60, "order/"+order)); apperr.ReasonOf(err) != "REQUEST_ID_REUSED" {
		t.Fatalf("client withdrawal under the deposit's key = %v, want REQUEST_ID_REUSED", err)
	}
	if n := orderEntries(t, s, user, order); n != 1 {
		t.Fatalf("%d entries pay the order, want 1", n)
	}
	if balance, n := audit(t, db, user); balance != 40 || n != 3 {
		t.Fatalf("audit: balance %d, %d entries; want 40, 3", balance, n)
	}
}

// An order's payment is keyed by the order alone: a retry under another
// request_id (or none) is a retry; another user, amount or currency for
// the order is a reuse.
func TestMove_OrderPayment_IdempotentByOrderAlone(t *testing.T) {
	s, db := newStore(t)
	user, other := openAccount(t, s), openAccount(t, s)
	mustMove(t, s, deposit(user, 500, "funds"))
	mustMove(t, s, deposit(other, 500, "funds"))
	order := uuid.NewString()
	first := payment(user, order, 100)
	first.RequestID = ""
	_, paid := mustMove(t, s, first)
	if paid.RequestID != "" || paid.OrderID != order {
		t.Fatalf("payment without request_id = %+v", paid)
	}
	for _, key := range []string{"", "order/" + order, "another"} {
		m := payment(user, order, 100)
		m.RequestID = key
		_, tx, replayed, err := s.MoveOnce(context.Background(), m)
		if err != nil || !replayed || tx != paid {
			t.Fatalf("retry with request_id %q = %+v, replayed %v, %v; want %+v", key, tx, replayed, err, paid)
		}
	}
	otherCurrency := payment(user, order, 100)
	otherCurrency.Currency = "EUR"
	for name, m := range map[string]billing.Movement{
		"other user":     payment(other, order, 100),
		"other amount":   payment(user, order, 101),
		"other currency": otherCurrency,
	} {
		_, _, err := s.Move(context.Background(), m)
		if apperr.ReasonOf(err) != "REQUEST_ID_REUSED" || !strings.Contains(err.Error(), order) {
			t.Errorf("%s: %v, want REQUEST_ID_REUSED naming the order", name, err)
		}
	}
	if balance, n := audit(t, db, user); balance != 400 || n != 2 {
		t.Fatalf("audit: balance %d, %d entries; want 400, 2", balance, n)
	}
	if balance, n := audit(t, db, other); balance != 500 || n != 1 {
		t.Fatalf("audit of the other user: balance %d, %d entries; want 500, 1", balance, n)
	}
}

// A refused order payment is remembered by its order: a retry, whatever
// its request_id, gets the refusal after a deposit that covers it, and
// another amount for the order is a reuse.
func TestMove_OrderPaymentRefused_RememberedByOrder(t *testing.T) {
	s, db := newStore(t)
	user := openAccount(t, s)
	order := uuid.NewString()
	_, _, first := s.Move(context.Background(), payment(user, order, 100))
	if !errors.Is(first, billing.ErrInsufficientFunds) {
		t.Fatalf("payment = %v, want ErrInsufficientFunds", first)
	}
	mustMove(t, s, deposit(user, 1000, "funds"))
	retry := payment(user, order, 100)
	retry.RequestID = ""
	for _, m := range []billing.Movement{payment(user, order, 100), retry} {
		if _, _, err := s.Move(context.Background(), m); err == nil || err.Error() != first.Error() {
			t.Fatalf("retry (request_id %q) = %v, want %q", m.RequestID, err, first)
		}
	}
	if _, _, err := s.Move(context.Background(), payment(user, order, 99)); apperr.ReasonOf(err) != "REQUEST_ID_REUSED" {
		t.Fatalf("other amount = %v, want REQUEST_ID_REUSED", err)
	}
	if balance, n := audit(t, db, user); balance != 1000 || n != 1 {
		t.Fatalf("audit: balance %d, %d entries; want 1000, 1", balance, n)
	}
}

// An unknown account is not a remembered refusal: there is no account to
// hold the key, and the request works once the account exists.
func TestMove_UnknownAccount_NotRemembered(t *testing.T) {
	s, db := newStore(t)
	user := uuid.NewString()
	if _, _, err := s.Move(context.Background(), deposit(user, 5, "k")); !errors.Is(err, billing.ErrAccountNotFound) {
		t.Fatalf("Move = %v, want ErrAccountNotFound", err)
	}
	if _, _, err := s.CreateAccount(context.Background(), user, "USD"); err != nil {
		t.Fatal(err)
	}
	if acct, _ := mustMove(t, s, deposit(user, 5, "k")); acct.Balance != 5 {
		t.Fatalf("balance %d, want 5", acct.Balance)
	}
	if n := refusals(t, db, user); n != 0 {
		t.Fatalf("%d refusals, want 0", n)
	}
}
