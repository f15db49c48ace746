package postgres_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/billing"
	"github.com/kassa-dev/kassa/services/billing/postgres"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func newStore(t *testing.T) (*postgres.Store, *sqlx.DB) {
	t.Helper()
	db := pgtest.NewDB(t, postgres.Migrations)
	return postgres.New(db), db
}

// openAccount creates a USD account and returns its user id.
func openAccount(t *testing.T, s *postgres.Store) string {
	t.Helper()
	user := uuid.NewString()
	if _, _, err := s.CreateAccount(context.Background(), user, "USD"); err != nil {
		t.Fatal(err)
	}
	return user
}

func deposit(user string, amount int64, requestID string) billing.Movement {
	return billing.Movement{UserID: user, Kind: billing.Deposit, Amount: amount, RequestID: requestID}
}

func withdrawal(user string, amount int64, requestID string) billing.Movement {
	return billing.Movement{UserID: user, Kind: billing.Withdrawal, Amount: amount, RequestID: requestID}
}

func mustMove(t *testing.T, s *postgres.Store, m billing.Movement) (billing.Account, billing.Transaction) {
	t.Helper()
	a, tx, err := s.Move(context.Background(), m)
	if err != nil {
		t.Fatalf("Move(%+v): %v", m, err)
	}
	return a, tx
}

// ledgerRow reads the ledger with its own SQL, independent of the store.
type ledgerRow struct {
	ID           string    `db:"id"`
	UserID       string    `db:"user_id"`
	Kind         string    `db:"kind"`
	Amount       int64     `db:"amount"`
	Currency     string    `db:"currency"`
	BalanceAfter int64     `db:"balance_after"`
	RefundOf     string    `db:"refund_of"`
	CreateTime   time.Time `db:"create_time"`
}

// audit checks the ledger invariants of user's account straight from the
// tables and returns the balance and the number of entries.
func audit(t *testing.T, db *sqlx.DB, user string) (balance int64, entries int) {
	t.Helper()
	var a struct {
		Balance  int64  `db:"balance"`
		Currency string `db:"currency"`
	}
	if err := db.Get(&a, `SELECT balance, currency FROM accounts WHERE user_id = $1`, user); err != nil {
		t.Fatal(err)
	}
	var rows []ledgerRow
	err := db.Select(&rows, `SELECT id, user_id, kind, amount, currency, balance_after,
		coalesce(refund_of::text, '') AS refund_of, create_time
		FROM transactions WHERE user_id = $1 ORDER BY create_time, id`, user)
	if err != nil {
		t.Fatal(err)
	}
	ledger := make([]billing.Transaction, len(rows))
	for i, r := range rows {
		ledger[i] = billing.Transaction{ID: r.ID, UserID: r.UserID, Kind: billing.Kind(r.Kind), Amount: r.Amount,
			Currency: r.Currency, BalanceAfter: r.BalanceAfter, RefundOf: r.RefundOf, CreateTime: r.CreateTime}
	}
	if err := billing.VerifyLedger(billing.Account{UserID: user, Balance: a.Balance, Currency: a.Currency}, ledger); err != nil {
		t.Fatalf("ledger of %s: %v", user, err)
	}
	return a.Balance, len(rows)
}

// refusals counts the refusals recorded for user.
func refusals(t *testing.T, db *sqlx.DB, user string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM refusals WHERE user_id = $1`, user); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreateAccount_OpensEmptyAccountOnce(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	user := uuid.NewString()
	a, created, err := s.CreateAccount(ctx, user, "EUR")
	if err != nil || !created {
		t.Fatalf("CreateAccount = %v, created %v", err, created)
	}
	if a.UserID != user || a.Balance != 0 || a.Currency != "EUR" || a.CreateTime.IsZero() || a.Closed() {
		t.Fatalf("account %+v", a)
	}
	again, created, err := s.CreateAccount(ctx, user, "USD")
	if err != nil || created || again != a {
		t.Fatalf("second CreateAccount = %+v, created %v, %v; want the first account", again, created, err)
	}
}

func TestCreateAccount_Concurrent_OpensOne(t *testing.T) {
	s, db := newStore(t)
	user := uuid.NewString()
	const n = 20
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, created[i], errs[i] = s.CreateAccount(context.Background(), user, "USD") })
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if created[i] {
			winners++
		}
	}
	var count int
	if err := db.Get(&count, `SELECT count(*) FROM accounts WHERE user_id = $1`, user); err != nil || count != 1 || winners != 1 {
		t.Fatalf("%d accounts, %d creators (%v); want 1 and 1", count, winners, err)
	}
}

func TestUnknownAccount_NotFound(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	user := uuid.NewString()
	calls := map[string]func() error{
		"GetAccount":   func() error { _, err := s.GetAccount(ctx, user); return err },
		"CloseAccount": func() error { _, err := s.CloseAccount(ctx, user); return err },
		"Move":         func() error { _, _, err := s.Move(ctx, deposit(user, 1, "k")); return err },
		"ListTransactions": func() error {
			_, err := s.ListTransactions(ctx, user, paging.Cursor{}, 10)
			return err
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, billing.ErrAccountNotFound) {
			t.Errorf("%s = %v, want ErrAccountNotFound", name, err)
		}
	}
}

func TestMove_DepositAndWithdraw_ChangeBalanceAndAppendLedger(t *testing.T) {
	s, db := newStore(t)
	user := openAccount(t, s)
	order := uuid.NewString()
	a1, dep := mustMove(t, s, deposit(user, 1000, "d1"))
	if a1.Balance != 1000 || dep.Kind != billing.Deposit || dep.Amount != 1000 || dep.BalanceAfter != 1000 ||
		dep.Currency != "USD" || dep.RequestID != "d1" || dep.OrderID != "" || dep.ID == "" || dep.UserID != user {
		t.Fatalf("after deposit: account %+v, entry %+v", a1, dep)
	}
	w := withdrawal(user, 300, "w1")
	w.OrderID = order
	w.Currency = "USD"
	a2, wd := mustMove(t, s, w)
	if a2.Balance != 700 || wd.Kind != billing.Withdrawal || wd.BalanceAfter != 700 || wd.OrderID != order {
		t.Fatalf("after withdrawal: account %+v, entry %+v", a2, wd)
	}
	if !a2.UpdateTime.After(a1.UpdateTime) || !wd.CreateTime.After(dep.CreateTime) {
		t.Fatalf("times did not advance: %+v / %+v", a2, wd)
	}
	if balance, n := audit(t, db, user); balance != 700 || n != 2 {
		t.Fatalf("audit: balance %d, %d entries", balance, n)
	}
}

func TestMove_Retry_ReturnsFirstEntryAndAppliesOnce(t *testing.T) {
	for _, kind := range []billing.Kind{billing.Deposit, billing.Withdrawal} {
		t.Run(string(kind), func(t *testing.T) {
			s, db := newStore(t)
			user := openAccount(t, s)
			mustMove(t, s, deposit(user, 500, "funds"))
			m := billing.Movement{UserID: user, Kind: kind, Amount: 100, RequestID: "once"}
			_, first := mustMove(t, s, m)
			mustMove(t, s, deposit(user, 7, "later")) // the replay shows the account as it is now
			m.Currency = "USD"                        // naming the account currency is the same request
			acct, again := mustMove(t, s, m)
			if again != first {
				t.Fatalf("retry returned %+v, want %+v", again, first)
			}
			want := map[billing.Kind]int64{billing.Deposit: 607, billing.Withdrawal: 407}[kind]
			if acct.Balance != want {
				t.Fatalf("retry returned balance %d, want %d", acct.Balance, want)
			}
			if balance, n := audit(t, db, user); balance != want || n != 3 {
				t.Fatalf("audit: balance %d, %d entries; want %d, 3", balance, n, want)
			}
		})
	}
}

func TestMove_RequestIDReusedWithOtherParams_AlreadyExists(t *testing.T) {
	s, db := newStore(t)
	user := openAccount(t, s)
	order := uuid.NewString()
	mustMove(t, s, deposit(user, 500, "d"))
	w := withdrawal(user, 100, "w")
	w.OrderID = order
	mustMove(t, s, w)
	// A withdrawal under "w" without an order, or for another order, is not
	// a reuse: order payments are keyed by their order
	// (TestMove_ClientAndOrderKeys_LiveApart).
	reuses := map[string]billing.Movement{
		"deposit, other amount":      deposit(user, 501, "d"),
		"deposit, other currency":    {UserID: user, Kind: billing.Deposit, Amount: 500, Currency: "EUR", RequestID: "d"},
		"deposit key for withdrawal": withdrawal(user, 500, "d"),
	}
	for name, m := range reuses {
		_, _, err := s.Move(context.Background(), m)
		if apperr.KindOf(err) != apperr.KindAlreadyExists || !strings.Contains(err.Error(), "request_id") {
			t.Errorf("%s: %v, want AlreadyExists about request_id", name, err)
		}
	}
	if balance, n := audit(t, db, user); balance != 400 || n != 2 {
		t.Fatalf("audit: balance %d, %d entries; want 400, 2", balance, n)
	}
}

func TestMove_RequestIDIsScopedPerAccount(t *testing.T) {
	s, _ := newStore(t)
	a, b := openAccount(t, s), openAccount(t, s)
	_, ta := mustMove(t, s, deposit(a, 5, "same"))
	acct, tb := mustMove(t, s, deposit(b, 5, "same"))
	if ta.ID == tb.ID || acct.Balance != 5 {
		t.Fatalf("second account's deposit: %+v, balance %d", tb, acct.Balance)
	}
}

func TestMove_InsufficientFunds_RecordsRefusalAndStaysRefused(t *testing.T) {
	s, db := newStore(t)
	user := openAccount(t, s)
	before, _ := mustMove(t, s, deposit(user, 50, "d1"))
	_, _, first := s.Move(context.Background(), withdrawal(user, 80, "w"))
	if !errors.Is(first, billing.ErrInsufficientFunds) || !strings.Contains(first.Error(), "balance is 50 USD") ||
		!strings.Contains(first.Error(), "needs 80") {
		t.Fatalf("Move = %v, want ErrInsufficientFunds naming balance and amount", first)
	}
	after, err := s.GetAccount(context.Background(), user)
	if err != nil || after != before {
		t.Fatalf("account changed by a refused withdrawal: %+v -> %+v (%v)", before, after, err)
	}
	if balance, n := audit(t, db, user); balance != 50 || n != 1 {
		t.Fatalf("audit: balance %d, %d entries; want 50, 1", balance, n)
	}
	// Affordable now, but the key's answer is its first one.
	mustMove(t, s, deposit(user, 30, "d2"))
	_, _, again := s.Move(context.Background(), withdrawal(user, 80, "w"))
	if !errors.Is(again, billing.ErrInsufficientFunds) || again.Error() != first.Error() {
		t.Fatalf("retry after the deposit = %v, want the first refusal %q", again, first)
	}
	if balance, n := audit(t, db, user); balance != 80 || n != 2 {
		t.Fatalf("audit: balance %d, %d entries; want 80, 2", balance, n)
	}
	if n := refusals(t, db, user); n != 1 {
		t.Fatalf("%d refusals recorded, want 1", n)
	}
}

func TestMove_CurrencyMismatch_Refused(t *testing.T) {
	s, db := newStore(t)
	user := openAccount(t, s)
	m := deposit(user, 10, "eur")
	m.Currency = "EUR"
	if _, _, err := s.Move(context.Background(), m); !errors.Is(err, billing.ErrCurrencyMismatch) {
		t.Fatalf("Move = %v, want ErrCurrencyMismatch", err)
	}
	if balance, n := audit(t, db, user); balance != 0 || n != 0 {
		t.Fatalf("audit: balance %d, %d entries", balance, n)
	}
}

func TestMove_DepositPastInt64_Refused(t *testing.T) {
	s, db := newStore(t)
	user := openAccount(t, s)
	// Only a direct write can bring a balance this high; the ledger is not
	// audited here for that reason.
	if _, err := db.Exec(`UPDATE accounts SET balance = 9223372036854775000 WHERE user_id = $1`, user); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Move(context.Background(), deposit(user, 808, "big"))
	if !errors.Is(err, billing.ErrBalanceLimit) {
		t.Fatalf("Move = %v, want ErrBalanceLimit", err)
	}
	if acct, _ := mustMove(t, s, deposit(user, 807, "fits")); acct.Balance != 9223372036854775807 {
		t.Fatalf("balance = %d, want MaxInt64", acct.Balance)
	}
}

func TestCloseAccount_RefusesMovementsKeepsHistory(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	user := openAccount(t, s)
	_, dep := mustMove(t, s, deposit(user, 100, "d"))
	closed, err := s.CloseAccount(ctx, user)
	if err != nil || !closed.Closed() || closed.Balance != 100 {
		t.Fatalf("CloseAccount = %+v, %v", closed, err)
	}
	again, err := s.CloseAccount(ctx, user)
	if err != nil || again != closed {
		t.Fatalf("second CloseAccount = %+v, %v; want %+v", again, err, closed)
	}
	for _, m := range []billing.Movement{deposit(user, 1, "d2"), withdrawal(user, 1, "w")} {
		if _, _, err := s.Move(ctx, m); !errors.Is(err, billing.ErrAccountClosed) {
			t.Errorf("%s on a closed account = %v, want ErrAccountClosed", m.Kind, err)
		}
	}
	// A retry of a request made before the close still gets its result.
	if _, tx := mustMove(t, s, deposit(user, 100, "d")); tx != dep {
		t.Errorf("retry after close = %+v, want %+v", tx, dep)
	}
	list, err := s.ListTransactions(ctx, user, paging.Cursor{}, 10)
	if err != nil || len(list) != 1 || list[0] != dep {
		t.Fatalf("ListTransactions after close = %+v, %v", list, err)
	}
	if got, err := s.GetAccount(ctx, user); err != nil || got != closed {
		t.Fatalf("GetAccount after close = %+v, %v", got, err)
	}
	if balance, n := audit(t, db, user); balance != 100 || n != 1 {
		t.Fatalf("audit: balance %d, %d entries", balance, n)
	}
}

func TestListTransactions_PagesNewestFirst(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	user := openAccount(t, s)
	other := openAccount(t, s)
	mustMove(t, s, deposit(other, 1, "someone else's"))
	var made []billing.Transaction
	for i := range 7 {
		_, tx := mustMove(t, s, deposit(user, int64(i+1), "d"+string(rune('a'+i))))
		made = append(made, tx)
	}
	var got []billing.Transaction
	after := paging.Cursor{}
	for range 10 {
		page, err := s.ListTransactions(ctx, user, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if len(page) < 3 {
			break
		}
		last := page[len(page)-1]
		after = paging.Cursor{Time: last.CreateTime, ID: last.ID}
	}
	if len(got) != len(made) {
		t.Fatalf("listed %d entries, want %d", len(got), len(made))
	}
	for i := range got {
		if got[i] != made[len(made)-1-i] {
			t.Fatalf("entry %d = %+v, want %+v", i, got[i], made[len(made)-1-i])
		}
	}
}
