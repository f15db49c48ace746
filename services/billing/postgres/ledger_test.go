package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/billing"
	"github.com/kassa-dev/kassa/services/platform/apperr"
)

func TestMove_ConcurrentWithdrawals_NeverOverdraw(t *testing.T) {
	s, db := newStore(t)
	user := openAccount(t, s)
	mustMove(t, s, deposit(user, 1000, "funds"))
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, _, errs[i] = s.Move(context.Background(), withdrawal(user, 30, fmt.Sprintf("w%d", i)))
		})
	}
	wg.Wait()
	ok, refused := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, billing.ErrInsufficientFunds):
			refused++
		default:
			t.Errorf("withdrawal %d: %v", i, err)
		}
	}
	if ok != 33 || refused != 17 {
		t.Fatalf("%d withdrawals succeeded and %d were refused, want 33 and 17", ok, refused)
	}
	if balance, entries := audit(t, db, user); balance != 10 || entries != 34 {
		t.Fatalf("audit: balance %d, %d entries; want 10, 34", balance, entries)
	}
}

func TestMove_ConcurrentDuplicates_ApplyOnce(t *testing.T) {
	for _, kind := range []billing.Kind{billing.Deposit, billing.Withdrawal} {
		t.Run(string(kind), func(t *testing.T) {
			s, db := newStore(t)
			user := openAccount(t, s)
			mustMove(t, s, deposit(user, 100, "funds"))
			const n = 20
			ids := make([]string, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					_, tx, err := s.Move(context.Background(), billing.Movement{UserID: user, Kind: kind, Amount: 40, RequestID: "dup"})
					ids[i], errs[i] = tx.ID, err
				})
			}
			wg.Wait()
			for i := range n {
				if errs[i] != nil || ids[i] != ids[0] {
					t.Fatalf("call %d: entry %s, %v; want entry %s", i, ids[i], errs[i], ids[0])
				}
			}
			want := map[billing.Kind]int64{billing.Deposit: 140, billing.Withdrawal: 60}[kind]
			if balance, entries := audit(t, db, user); balance != want || entries != 2 {
				t.Fatalf("audit: balance %d, %d entries; want %d, 2", balance, entries, want)
			}
		})
	}
}

func TestMove_ConcurrentAccounts_DoNotInterfere(t *testing.T) {
	s, db := newStore(t)
	users := []string{openAccount(t, s), openAccount(t, s), openAccount(t, s)}
	const perUser = 20 // half deposits of 5, half withdrawals of 3
	withdrawn := make([]atomic.Int64, len(users))
	var wg sync.WaitGroup
	errs := make(chan error, len(users)*perUser)
	for u, user := range users {
		for i := range perUser {
			wg.Go(func() {
				m := deposit(user, 5, fmt.Sprintf("d%d", i))
				if i%2 == 1 {
					m = withdrawal(user, 3, fmt.Sprintf("w%d", i))
				}
				_, _, err := s.Move(context.Background(), m)
				switch {
				case err == nil && m.Kind == billing.Withdrawal:
					withdrawn[u].Add(3)
				case err != nil && !errors.Is(err, billing.ErrInsufficientFunds):
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for u, user := range users {
		want := perUser/2*5 - withdrawn[u].Load()
		if balance, entries := audit(t, db, user); balance != want || entries < perUser/2 {
			t.Errorf("account %d: balance %d with %d entries, want %d", u, balance, entries, want)
		}
	}
}

func TestLedger_IsAppendOnly(t *testing.T) {
	s, db := newStore(t)
	user := openAccount(t, s)
	_, tx := mustMove(t, s, deposit(user, 100, "d"))
	for name, stmt := range map[string]string{
		"UPDATE":   `UPDATE transactions SET amount = 1 WHERE id = '` + tx.ID + `'`,
		"DELETE":   `DELETE FROM transactions WHERE id = '` + tx.ID + `'`,
		"TRUNCATE": `TRUNCATE transactions CASCADE`,
	} {
		_, err := db.Exec(stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want an append-only error", name, err)
		}
	}
	if balance, entries := audit(t, db, user); balance != 100 || entries != 1 {
		t.Fatalf("audit: balance %d, %d entries", balance, entries)
	}
}

func TestSchema_RejectsBrokenRows(t *testing.T) {
	s, db := newStore(t)
	user := openAccount(t, s)
	mustMove(t, s, deposit(user, 100, "d"))
	order := uuid.NewString()
	mustMove(t, s, payment(user, order, 10))
	if _, _, err := s.Move(context.Background(), withdrawal(user, 1000, "refused")); !errors.Is(err, billing.ErrInsufficientFunds) {
		t.Fatal(err)
	}
	ins := `INSERT INTO transactions (user_id, kind, amount, currency, balance_after, request_id, order_id) VALUES `
	ref := `INSERT INTO refusals (user_id, kind, amount, currency, request_id, order_id, reason, message) VALUES `
	for name, stmt := range map[string]string{
		"no key":                   ins + `('` + user + `', 'deposit', 1, 'USD', 91, NULL, NULL)`,
		"order paid twice":         ins + `('` + user + `', 'withdrawal', 1, 'USD', 89, 'other', '` + order + `')`,
		"refusal without key":      ref + `('` + user + `', 'deposit', 1, 'USD', NULL, NULL, 'BALANCE_LIMIT', 'm')`,
		"refusal of no rule":       ref + `('` + user + `', 'deposit', 1, 'USD', 'x', NULL, 'NOPE', 'm')`,
		"refusal without message":  ref + `('` + user + `', 'deposit', 1, 'USD', 'x', NULL, 'BALANCE_LIMIT', '')`,
		"refusal, reused key":      ref + `('` + user + `', 'withdrawal', 1000, 'USD', 'refused', NULL, 'INSUFFICIENT_FUNDS', 'm')`,
		"refusal, order refused":   ref + `('` + user + `', 'deposit', 1, 'USD', 'x', '` + order + `', 'BALANCE_LIMIT', 'm')`,
		"refusal, unknown account": ref + `('` + uuid.NewString() + `', 'deposit', 1, 'USD', 'x', NULL, 'BALANCE_LIMIT', 'm')`,
		"negative balance":         `UPDATE accounts SET balance = -1 WHERE user_id = '` + user + `'`,
		"lower-case currency":      `INSERT INTO accounts (user_id, currency) VALUES ('` + uuid.NewString() + `', 'usd')`,
		"account currency changed": `UPDATE accounts SET currency = 'EUR' WHERE user_id = '` + user + `'`,
		"account deleted":          `DELETE FROM accounts WHERE user_id = '` + user + `'`,
		"zero amount":              ins + `('` + user + `', 'deposit', 0, 'USD', 100, 'x', NULL)`,
		"negative balance_after":   ins + `('` + user + `', 'withdrawal', 200, 'USD', -100, 'x', NULL)`,
		"unknown kind":             ins + `('` + user + `', 'transfer', 1, 'USD', 101, 'x', NULL)`,
		"refund naming nothing":    ins + `('` + user + `', 'refund', 1, 'USD', 101, 'x', NULL)`,
		"other currency":           ins + `('` + user + `', 'deposit', 1, 'EUR', 101, 'x', NULL)`,
		"unknown account":          ins + `('` + uuid.NewString() + `', 'deposit', 1, 'USD', 1, 'x', NULL)`,
		"empty request_id":         ins + `('` + user + `', 'deposit', 1, 'USD', 101, '', NULL)`,
		"reused request_id":        ins + `('` + user + `', 'deposit', 1, 'USD', 101, 'd', NULL)`,
		"order on a deposit":       ins + `('` + user + `', 'deposit', 1, 'USD', 101, 'x', '` + uuid.NewString() + `')`,
	} {
		if _, err := db.Exec(stmt); err == nil {
			t.Errorf("%s: accepted, want a constraint violation", name)
		}
	}
}

func TestRefusals_AreFinal(t *testing.T) {
	s, db := newStore(t)
	user := openAccount(t, s)
	if _, _, err := s.Move(context.Background(), withdrawal(user, 1, "w")); !errors.Is(err, billing.ErrInsufficientFunds) {
		t.Fatal(err)
	}
	for name, stmt := range map[string]string{
		"UPDATE":   `UPDATE refusals SET amount = 2`,
		"DELETE":   `DELETE FROM refusals`,
		"TRUNCATE": `TRUNCATE refusals`,
	} {
		if _, err := db.Exec(stmt); err == nil || !strings.Contains(err.Error(), "final") {
			t.Errorf("%s: %v, want a refusals-are-final error", name, err)
		}
	}
	if n := refusals(t, db, user); n != 1 {
		t.Fatalf("%d refusals, want 1", n)
	}
}

// Retries of a refused key at once, once funds would cover it: all are
// refused and none is applied (the 30 wait on the account lock in turn,
// and each sees the refusal committed before it).
func TestMove_ConcurrentRetriesOfRefusedKey_AllRefused(t *testing.T) {
	for name, m := range map[string]func(user string) billing.Movement{
		"client key": func(u string) billing.Movement { return withdrawal(u, 70, "k") },
		"order":      func(u string) billing.Movement { return payment(u, "6f1d2c3b-4a59-4e8f-9d7c-1b2a3c4d5e6f", 70) },
	} {
		t.Run(name, func(t *testing.T) {
			s, db := newStore(t)
			user := openAccount(t, s)
			_, _, first := s.Move(context.Background(), m(user))
			if !errors.Is(first, billing.ErrInsufficientFunds) {
				t.Fatalf("first = %v", first)
			}
			mustMove(t, s, deposit(user, 1000, "funds"))
			const n = 30
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { _, _, errs[i] = s.Move(context.Background(), m(user)) })
			}
			wg.Wait()
			for i, err := range errs {
				if err == nil || err.Error() != first.Error() {
					t.Fatalf("retry %d = %v, want %q", i, err, first)
				}
			}
			if balance, entries := audit(t, db, user); balance != 1000 || entries != 1 {
				t.Fatalf("audit: balance %d, %d entries; want 1000, 1", balance, entries)
			}
		})
	}
}

// Two users paying one order at once (a caller's bug): the order's unique
// key lets one entry in, and the other is a reuse, whichever commits
// first.
func TestMove_OneOrderPaidByTwoUsersAtOnce_OneEntry(t *testing.T) {
	s, db := newStore(t)
	a, b := openAccount(t, s), openAccount(t, s)
	mustMove(t, s, deposit(a, 100, "funds"))
	mustMove(t, s, deposit(b, 100, "funds"))
	for round := range 10 {
		order := uuid.NewString()
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, user := range []string{a, b} {
			wg.Go(func() { _, _, errs[i] = s.Move(context.Background(), payment(user, order, 1)) })
		}
		wg.Wait()
		applied := 0
		for _, err := range errs {
			switch {
			case err == nil:
				applied++
			case apperr.ReasonOf(err) != "REQUEST_ID_REUSED":
				t.Fatalf("round %d: %v, want applied or REQUEST_ID_REUSED", round, err)
			}
		}
		var entries int
		if err := db.Get(&entries, `SELECT count(*) FROM transactions WHERE order_id = $1`, order); err != nil || applied != 1 || entries != 1 {
			t.Fatalf("round %d: %d applied, %d entries (%v); want 1 and 1", round, applied, entries, err)
		}
	}
	balA, _ := audit(t, db, a)
	balB, _ := audit(t, db, b)
	if balA+balB != 190 {
		t.Fatalf("balances %d + %d, want 190 in all", balA, balB)
	}
}

// A retry queued on the account lock behind the transaction that records
// its refusal must answer that refusal, although it began before the
// refusal was committed and the funds would now cover it.
func TestMove_RetryQueuedBehindItsRefusal_IsRefused(t *testing.T) {
	s, db := newStore(t)
	user := openAccount(t, s)
	mustMove(t, s, deposit(user, 100, "funds"))
	first, err := db.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback()
	// What Move records for a refusal, by hand, under the account's lock.
	_, err = first.Exec(`
		WITH locked AS (SELECT user_id FROM accounts WHERE user_id = $1 FOR UPDATE)
		INSERT INTO refusals (user_id, kind, amount, currency, request_id, reason, message)
		SELECT user_id, 'withdrawal', 100, 'USD', 'k', 'INSUFFICIENT_FUNDS', 'insufficient funds: as first answered'
		FROM locked`, user)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Move(context.Background(), withdrawal(user, 100, "k"))
		done <- err
	}()
	awaitLockWaiters(t, db, 1)
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, billing.ErrInsufficientFunds) || err.Error() != "insufficient funds: as first answered" {
		t.Fatalf("queued retry = %v, want the committed refusal", err)
	}
	if balance, entries := audit(t, db, user); balance != 100 || entries != 1 {
		t.Fatalf("audit: balance %d, %d entries; want 100, 1", balance, entries)
	}
}

// A retry that queues on the account lock behind the very movement it
// repeats must answer with that movement's entry, although it began before
// the entry was committed, and even when the rules would now refuse it (the
// withdrawal emptied the account). The first movement is held open by hand
// (what Move writes, in a transaction of the test) until the retry waits on
// its lock.
func TestMove_RetryQueuedBehindItsOriginal_SeesTheOriginal(t *testing.T) {
	tests := []struct {
		name  string
		first billing.Movement
		retry billing.Movement
		// balance after the first movement (the account starts at 100)
		balance int64
		reused  bool
	}{
		// The first withdrawal empties the account, so the retry must not
		// be judged on the balance: it is a replay, not INSUFFICIENT_FUNDS.
		{name: "withdrawal", first: withdrawal("", 100, "k"), retry: withdrawal("", 100, "k"), balance: 0},
		{name: "deposit", first: deposit("", 40, "k"), retry: deposit("", 40, "k"), balance: 140},
		{name: "request_id reused", first: deposit("", 40, "k"), retry: withdrawal("", 10, "k"), balance: 140, reused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, db := newStore(t)
			ctx := context.Background()
			user := openAccount(t, s)
			mustMove(t, s, deposit(user, 100, "funds"))

			first, err := db.Beginx()
			if err != nil {
				t.Fatal(err)
			}
			defer first.Rollback()
			var entryID string
			err = first.Get(&entryID, `
				WITH locked AS (SELECT user_id FROM accounts WHERE user_id = $1 FOR UPDATE),
				upd AS (UPDATE accounts SET balance = $4, update_time = clock_timestamp()
					WHERE user_id = (SELECT user_id FROM locked) RETURNING user_id)
				INSERT INTO transactions (user_id, kind, amount, currency, balance_after, request_id)
				SELECT user_id, $2, $3, 'USD', $4, $5 FROM upd RETURNING id`,
				user, string(tt.first.Kind), tt.first.Amount, tt.balance, tt.first.RequestID)
			if err != nil {
				t.Fatal(err)
			}

			type result struct {
				acct billing.Account
				tx   billing.Transaction
				err  error
			}
			done := make(chan result, 1)
			retry := tt.retry
			retry.UserID = user
			go func() {
				a, tx, err := s.Move(ctx, retry)
				done <- result{a, tx, err}
			}()
			awaitLockWaiters(t, db, 1)
			if err := first.Commit(); err != nil {
				t.Fatal(err)
			}
			got := <-done

			if tt.reused {
				if apperr.KindOf(got.err) != apperr.KindAlreadyExists {
					t.Fatalf("retry with other parameters = %v, want AlreadyExists", got.err)
				}
			} else if got.err != nil || got.tx.ID != entryID || got.acct.Balance != tt.balance {
				t.Fatalf("retry = entry %s, balance %d, %v; want the first entry %s and balance %d",
					got.tx.ID, got.acct.Balance, got.err, entryID, tt.balance)
			}
			if balance, entries := audit(t, db, user); balance != tt.balance || entries != 2 {
				t.Fatalf("audit: balance %d, %d entries; want %d, 2", balance, entries, tt.balance)
			}
		})
	}
}

// awaitLockWaiters returns once n sessions of this test's database wait on
// a lock, or after a few seconds (then the test's own assertions decide).
func awaitLockWaiters(t *testing.T, db *sqlx.DB, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var waiting int
		err := db.Get(&waiting, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`)
		if err != nil {
			t.Error(err)
			return
		}
		if waiting >= n {
			return
		}
	}
	t.Logf("fewer than %d sessions queued on a lock within 5s", n)
}
