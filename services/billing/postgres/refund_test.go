package postgres_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/billing"
	"github.com/kassa-dev/kassa/services/billing/postgres"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/paging"
)

// firstPage is the cursor of a ledger's newest page.
var firstPage paging.Cursor

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// refund asks to give back amount (0: all that remains) of withdrawal of.
func refund(user, of string, amount int64, requestID string) billing.Movement {
	return billing.Movement{UserID: user, Kind: billing.Refund, Amount: amount, RequestID: requestID, RefundOf: of}
}

// paidAccount opens an account, deposits deposited and withdraws withdrawn
// from it; it returns the user and the withdrawal.
func paidAccount(t *testing.T, s *postgres.Store, deposited, withdrawn int64) (string, billing.Transaction) {
	t.Helper()
	user := openAccount(t, s)
	mustMove(t, s, deposit(user, deposited, "d"))
	_, w := mustMove(t, s, withdrawal(user, withdrawn, "w"))
	return user, w
}

// refunded is the running total the schema keeps for withdrawal w.
func refunded(t *testing.T, db *sqlx.DB, w string) int64 {
	t.Helper()
	var n int64
	if err := db.Get(&n, `SELECT coalesce((SELECT refunded FROM refund_totals WHERE withdrawal_id = $1), 0)`, w); err != nil {
		t.Fatal(err)
	}
	return n
}

// state is what a refused refund must leave as it was.
func state(t *testing.T, db *sqlx.DB, user string) [3]int64 {
	t.Helper()
	balance, entries := audit(t, db, user)
	return [3]int64{balance, int64(entries), int64(refusals(t, db, user))}
}

func TestRefund_Full_GivesBackTheWithdrawalAndLeavesItAsItWas(t *testing.T) {
	s, db := newStore(t)
	user, w := paidAccount(t, s, 100, 60)
	var before billing.Transaction
	read := func() billing.Transaction {
		page, err := s.ListTransactions(context.Background(), user, firstPage, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range page {
			if tx.ID == w.ID {
				return tx
			}
		}
		t.Fatalf("withdrawal %s is gone", w.ID)
		return billing.Transaction{}
	}
	before = read()
	acct, tx := mustMove(t, s, billing.Movement{UserID: user, Kind: billing.Refund, RequestID: "r", RefundOf: w.ID, RefundReason: "order cancelled"})
	if tx.Kind != billing.Refund || tx.Amount != 60 || tx.RefundOf != w.ID || tx.RefundAsked != 0 ||
		tx.RefundReason != "order cancelled" || tx.BalanceAfter != 100 || tx.RequestID != "r" {
		t.Fatalf("refund entry = %+v", tx)
	}
	if acct.Balance != 100 {
		t.Fatalf("balance %d, want 100", acct.Balance)
	}
	if after := read(); after != before {
		t.Fatalf("the withdrawal changed:\nbefore %+v\nafter  %+v", before, after)
	}
	if balance, entries := audit(t, db, user); balance != 100 || entries != 3 {
		t.Fatalf("audit: balance %d, %d entries; want 100, 3", balance, entries)
	}
	if n := refunded(t, db, w.ID); n != 60 {
		t.Fatalf("refunded total %d, want 60", n)
	}
}

func TestRefund_PartThenTheRest_ThenNothingRemains(t *testing.T) {
	s, db := newStore(t)
	user, w := paidAccount(t, s, 100, 60)
	if _, tx := mustMove(t, s, refund(user, w.ID, 25, "r1")); tx.Amount != 25 || tx.RefundAsked != 25 {
		t.Fatalf("part = %+v", tx)
	}
	if acct, tx := mustMove(t, s, refund(user, w.ID, 0, "r2")); tx.Amount != 35 || tx.RefundAsked != 0 || acct.Balance != 100 {
		t.Fatalf("rest = %+v, balance %d", tx, acct.Balance)
	}
	before := state(t, db, user)
	for _, amount := range []int64{0, 1} {
		_, _, err := s.Move(context.Background(), refund(user, w.ID, amount, "more-"+string(rune('a'+amount))))
		if !errors.Is(err, billing.ErrRefundExceedsRemaining) {
			t.Fatalf("refund of %d more = %v, want ErrRefundExceedsRemaining", amount, err)
		}
	}
	after := state(t, db, user)
	// The two refusals are remembered under their keys; nothing else moved.
	if after[0] != before[0] || after[1] != before[1] || after[2] != before[2]+2 {
		t.Fatalf("state %v → %v: want the balance and the ledger unchanged and two refusals recorded", before, after)
	}
	if n := refunded(t, db, w.ID); n != 60 {
		t.Fatalf("refunded total %d, want 60", n)
	}
}

func TestRefund_Refused_WritesNoEntry(t *testing.T) {
	s, db := newStore(t)
	user, w := paidAccount(t, s, 100, 60)
	other, otherW := paidAccount(t, s, 50, 20)
	var d billing.Transaction
	{
		page, err := s.ListTransactions(context.Background(), user, firstPage, 100)
		if err != nil {
			t.Fatal(err)
		}
		d = page[len(page)-1] // the deposit, oldest
	}
	_, r := mustMove(t, s, refund(user, w.ID, 10, "r"))
	tests := []struct {
		name     string
		m        billing.Movement
		wantErr  error
		wantKind apperr.Kind
		recorded bool // remembered under its key as a refusal
	}{
		{"beyond what remains", refund(user, w.ID, 51, "k1"), billing.ErrRefundExceedsRemaining, 0, true},
		{"a deposit", refund(user, d.ID, 10, "k2"), billing.ErrNotRefundable, 0, true},
		{"a refund", refund(user, r.ID, 5, "k3"), billing.ErrNotRefundable, 0, true},
		{"more than the withdrawal took", refund(user, w.ID, 61, "k4"), nil, apperr.KindInvalid, false},
		{"another user's withdrawal", refund(user, otherW.ID, 5, "k5"), billing.ErrTransactionNotFound, 0, false},
		{"no such transaction", refund(user, uuid.NewString(), 5, "k6"), billing.ErrTransactionNotFound, 0, false},
		{"an order without payment", billing.Movement{UserID: user, Kind: billing.Refund, RequestID: "k7", RefundOrder: uuid.NewString()},
			billing.ErrTransactionNotFound, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, otherBefore := state(t, db, user), state(t, db, other)
			_, _, err := s.Move(context.Background(), tt.m)
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) || tt.wantKind != 0 && apperr.KindOf(err) != tt.wantKind {
				t.Fatalf("Move = %v, want %v (kind %v)", err, tt.wantErr, tt.wantKind)
			}
			after := state(t, db, user)
			want := before
			if tt.recorded {
				want[2]++
			}
			if after != want {
				t.Fatalf("state %v → %v, want %v", before, after, want)
			}
			if state(t, db, other) != otherBefore {
				t.Fatal("the other user's account changed")
			}
		})
	}
	if n := refunded(t, db, w.ID); n != 10 {
		t.Fatalf("refunded total %d, want 10", n)
	}
}

// The other user's withdrawal answers exactly like one that does not
// exist, the id aside: the refunder learns nothing of other accounts.
func TestRefund_OtherUsersWithdrawal_ReadsLikeAMissingOne(t *testing.T) {
	s, _ := newStore(t)
	user := openAccount(t, s)
	_, otherW := paidAccount(t, s, 50, 20)
	missing := uuid.NewString()
	_, _, foreign := s.Move(context.Background(), refund(user, otherW.ID, 5, "a"))
	_, _, none := s.Move(context.Background(), refund(user, missing, 5, "b"))
	if strings.ReplaceAll(foreign.Error(), otherW.ID, "ID") != strings.ReplaceAll(none.Error(), missing, "ID") ||
		apperr.ReasonOf(foreign) != "TRANSACTION_NOT_FOUND" || apperr.ReasonOf(none) != "TRANSACTION_NOT_FOUND" {
		t.Fatalf("foreign %v, missing %v", foreign, none)
	}
}

func TestRefund_Retry_AppliedOnce_AndKeyReuseRefused(t *testing.T) {
	s, db := newStore(t)
	user, w := paidAccount(t, s, 100, 60)
	_, w2 := mustMove(t, s, withdrawal(user, 10, "w2"))
	_, first, replayed, err := s.MoveOnce(context.Background(), refund(user, w.ID, 0, "r"))
	if err != nil || replayed {
		t.Fatalf("first = %v, replayed %v", err, replayed)
	}
	// Asking for the rest again under the key is a retry although the rest
	// is now 0; the reason is not compared.
	retry := refund(user, w.ID, 0, "r")
	retry.RefundReason = "said otherwise"
	acct, again, replayed, err := s.MoveOnce(context.Background(), retry)
	if err != nil || !replayed || again != first || acct.Balance != 90 {
		t.Fatalf("retry = %+v, %v, replayed %v, balance %d; want the first entry", again, err, replayed, acct.Balance)
	}
	for name, m := range map[string]billing.Movement{
		"another amount":     refund(user, w.ID, 60, "r"),
		"another withdrawal": refund(user, w2.ID, 0, "r"),
	} {
		if _, _, err := s.Move(context.Background(), m); apperr.ReasonOf(err) != apperr.ReasonRequestIDReused {
			t.Errorf("%s: %v, want REQUEST_ID_REUSED", name, err)
		}
	}
	// A refused key is final too.
	mustMove(t, s, refund(user, w2.ID, 6, "p"))
	if _, _, err := s.Move(context.Background(), refund(user, w2.ID, 5, "big")); !errors.Is(err, billing.ErrRefundExceedsRemaining) {
		t.Fatal(err)
	}
	_, _, replayed, err = s.MoveOnce(context.Background(), refund(user, w2.ID, 5, "big"))
	if !errors.Is(err, billing.ErrRefundExceedsRemaining) || !replayed {
		t.Fatalf("retry of the refusal = %v, replayed %v", err, replayed)
	}
	if _, _, err := s.Move(context.Background(), refund(user, w2.ID, 3, "big")); apperr.ReasonOf(err) != apperr.ReasonRequestIDReused {
		t.Fatalf("refused key with another amount: %v, want REQUEST_ID_REUSED", err)
	}
	if balance, entries := audit(t, db, user); balance != 96 || entries != 5 {
		t.Fatalf("audit: balance %d, %d entries; want 96, 5", balance, entries)
	}
}

// A refund's key lives apart from the customer's own: the same request_id
// on a deposit and on a refund are two requests, neither blocking the
// other.
func TestRefund_KeysLiveApartFromClientKeys(t *testing.T) {
	s, db := newStore(t)
	user, w := paidAccount(t, s, 100, 60)
	mustMove(t, s, deposit(user, 5, "refund/1"))
	if _, tx := mustMove(t, s, refund(user, w.ID, 10, "refund/1")); tx.Kind != billing.Refund {
		t.Fatalf("refund under a client's key = %+v", tx)
	}
	if balance, _ := audit(t, db, user); balance != 55 {
		t.Fatalf("balance %d, want 55", balance)
	}
}

// Naming the withdrawal by the order it paid or by its id is the same
// request: the key is compared by the withdrawal's id.
func TestRefund_ByOrder(t *testing.T) {
	s, db := newStore(t)
	user := openAccount(t, s)
	mustMove(t, s, deposit(user, 100, "d"))
	order := uuid.NewString()
	_, paid := mustMove(t, s, payment(user, order, 40))
	byOrder := billing.Movement{UserID: user, Kind: billing.Refund, RequestID: "cancel/" + order, RefundOrder: order}
	_, tx := mustMove(t, s, byOrder)
	if tx.RefundOf != paid.ID || tx.Amount != 40 {
		t.Fatalf("refund by order = %+v, want all of %s", tx, paid.ID)
	}
	_, again, replayed, err := s.MoveOnce(context.Background(), refund(user, paid.ID, 0, "cancel/"+order))
	if err != nil || !replayed || again.ID != tx.ID {
		t.Fatalf("retry by id = %+v, %v, replayed %v", again, err, replayed)
	}
	if balance, entries := audit(t, db, user); balance != 100 || entries != 3 {
		t.Fatalf("audit: balance %d, %d entries; want 100, 3", balance, entries)
	}
}

// Money owed to a customer arrives on a closed account; deposits and
// withdrawals stay refused.
func TestRefund_ClosedAccount_Applied(t *testing.T) {
	s, db := newStore(t)
	user, w := paidAccount(t, s, 100, 60)
	if _, err := s.CloseAccount(context.Background(), user); err != nil {
		t.Fatal(err)
	}
	acct, tx := mustMove(t, s, refund(user, w.ID, 0, "r"))
	if acct.Balance != 100 || tx.Amount != 60 || !acct.Closed() {
		t.Fatalf("refund on a closed account: %+v, %+v", acct, tx)
	}
	if _, _, err := s.Move(context.Background(), deposit(user, 1, "d2")); !errors.Is(err, billing.ErrAccountClosed) {
		t.Fatalf("deposit after the refund = %v, want ErrAccountClosed", err)
	}
	if balance, _ := audit(t, db, user); balance != 100 {
		t.Fatalf("balance %d, want 100", balance)
	}
}

// 30 refunds of one withdrawal at once, each under its own key, ask for
// more than it took: exactly what it took comes back, never more.
func TestRefund_Concurrent_NeverMoreThanWithdrawn(t *testing.T) {
	s, db := newStore(t)
	user, w := paidAccount(t, s, 100, 100)
	const n = 30
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		applied, refused int
		given            int64
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, tx, err := s.Move(context.Background(), refund(user, w.ID, 7, uuid.NewString()))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				applied++
				given += tx.Amount
			case errors.Is(err, billing.ErrRefundExceedsRemaining):
				refused++
			default:
				t.Errorf("refund %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	// 14 × 7 = 98; the rest of 2 is less than any one of them asks.
	if applied != 14 || refused != n-14 || given != 98 {
		t.Fatalf("%d applied (%d), %d refused; want 14 (98), %d", applied, given, refused, n-14)
	}
	if _, tx := mustMove(t, s, refund(user, w.ID, 0, "rest")); tx.Amount != 2 {
		t.Fatalf("the rest = %d, want 2", tx.Amount)
	}
	if balance, entries := audit(t, db, user); balance != 100 || entries != 2+15 {
		t.Fatalf("audit: balance %d, %d entries; want 100, 17", balance, entries)
	}
	if got := refunded(t, db, w.ID); got != 100 {
		t.Fatalf("refunded total %d, want 100", got)
	}
}

// The schema holds the refund rules against any writer, not only the
// store: an over-refund, a refund of a deposit or of another user's
// withdrawal, and edits of the running total are refused.
func TestSchema_RefundsHoldWithoutTheStore(t *testing.T) {
	s, db := newStore(t)
	user, w := paidAccount(t, s, 100, 60)
	other, otherW := paidAccount(t, s, 100, 60)
	mustMove(t, s, refund(user, w.ID, 50, "r"))
	var d string
	if err := db.Get(&d, `SELECT id FROM transactions WHERE user_id = $1 AND kind = 'deposit'`, user); err != nil {
		t.Fatal(err)
	}
	ins := func(u, of string, amount, after int64, key string) string {
		return `INSERT INTO transactions (user_id, kind, amount, currency, balance_after, request_id, refund_of, refund_asked)
			VALUES ('` + u + `', 'refund', ` + itoa(amount) + `, 'USD', ` + itoa(after) + `, '` + key + `', '` + of + `', 0)`
	}
	for name, stmt := range map[string]string{
		"over-refund":                 ins(user, w.ID, 11, 101, "x1"),
		"refund of a deposit":         ins(user, d, 1, 91, "x2"),
		"refund of another's":         ins(user, otherW.ID, 1, 91, "x3"),
		"refund key reused":           ins(user, w.ID, 1, 91, "r"),
		"refund without asked":        `INSERT INTO transactions (user_id, kind, amount, currency, balance_after, request_id, refund_of) VALUES ('` + user + `', 'refund', 1, 'USD', 91, 'x4', '` + w.ID + `')`,
		"refund_of on a deposit":      `INSERT INTO transactions (user_id, kind, amount, currency, balance_after, request_id, refund_of) VALUES ('` + user + `', 'deposit', 1, 'USD', 91, 'x5', '` + w.ID + `')`,
		"running total past the cap":  `UPDATE refund_totals SET refunded = 61 WHERE withdrawal_id = '` + w.ID + `'`,
		"refusal of a refund, no ref": `INSERT INTO refusals (user_id, kind, amount, currency, request_id, reason, message) VALUES ('` + user + `', 'refund', 0, 'USD', 'x6', 'REFUND_EXCEEDS_REMAINING', 'm')`,
	} {
		if _, err := db.Exec(stmt); err == nil {
			t.Errorf("%s: accepted, want a violation", name)
		}
	}
	if balance, _ := audit(t, db, user); balance != 90 {
		t.Fatalf("balance %d, want 90", balance)
	}
	if balance, _ := audit(t, db, other); balance != 40 {
		t.Fatalf("other balance %d, want 40", balance)
	}
	if got := refunded(t, db, w.ID); got != 50 {
		t.Fatalf("refunded total %d, want 50", got)
	}
}
