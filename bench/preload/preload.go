// Package preload fills the four services' databases with a large, made-up
// but consistent history before a timed run: users with one funded account
// each, a ledger whose balances are its sums, paid orders with their
// withdrawals, their sent outbox rows and their stored letters. The rows
// are generated in the server with generate_series, a range of users per
// statement and several statements at once, so nothing crosses the wire
// but the statements.
//
// Every row satisfies the services' schema as it stands: the inserts run
// with the constraints, foreign keys and triggers on. Ids are derived from
// a user's number and a row's index (ID), in the order the rows are
// generated, so each index grows at its right edge as a live system's
// would instead of splitting pages all over.
package preload

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Amounts of the preloaded history, in minor units (USD cents): each user
// is funded with Fund, pays one order of Price and makes EntriesPerUser-2
// small deposits of Deposit, so its balance is Fund - Price + 8 × Deposit.
// The heavy user (user 1) pays Heavy orders of Price out of its Fund.
const (
	Fund           int64 = 1_000_000_000
	Price          int64 = 500
	Deposit        int64 = 100
	EntriesPerUser       = 10
)

// Kinds of rows, the second group of their ids: one user's order, ledger
// entry and letter have distinct ids.
const (
	tagUser   = "0000"
	tagOrder  = "0001"
	tagEntry  = "0002"
	tagLetter = "0003"
)

// ID is the id of row k of kind tag of user n, as the statements build it.
func ID(tag string, n, k int) string {
	return fmt.Sprintf("%08x-%s-4000-8000-%012x", n, tag, k)
}

// UserID is the id of preloaded user n (1-based).
func UserID(n int) string { return ID(tagUser, n, 0) }

// OrderID is the id of order k of user n: users from 2 on have order 0,
// the heavy user orders 0 .. Heavy-1.
func OrderID(n, k int) string { return ID(tagOrder, n, k) }

// Username is preloaded user n's login name.
func Username(n int) string { return fmt.Sprintf("pl%d", n) }

// Size is how much to load.
type Size struct {
	// Users is the number of users; user 1 is the heavy one.
	Users int
	// Heavy is how many orders (and ledger entries and letters) the heavy
	// user has, for deep pages of its lists.
	Heavy int
}

// Rows returns how many rows each table gets.
func (s Size) Rows() map[string]int64 {
	normal := int64(s.Users - 1)
	orders := normal + int64(s.Heavy)
	return map[string]int64{
		"users": int64(s.Users), "accounts": int64(s.Users),
		"transactions": normal*EntriesPerUser + int64(s.Heavy) + 1,
		"orders":       orders, "order_letters": orders, "notifications": orders,
	}
}

// Validate refuses a size the statements cannot make.
func (s Size) Validate() error {
	switch {
	case s.Users < 2:
		return fmt.Errorf("preload needs at least 2 users (one heavy), got %d", s.Users)
	case s.Heavy < 1:
		return fmt.Errorf("the heavy user needs at least one order, got %d", s.Heavy)
	case Price*int64(s.Heavy) > Fund:
		return fmt.Errorf("%d orders of %d exceed the heavy user's funding", s.Heavy, Price)
	}
	return nil
}

// DBs are the services' databases, each owned by its service.
type DBs struct {
	User, Billing, Order, Notification *sql.DB
}

// Options of a load.
type Options struct {
	Size Size
	// PasswordHash is every preloaded user's password_hash (one real
	// argon2id hash, so that they can log in with its password).
	PasswordHash string
	// Chunk is how many users one statement generates.
	Chunk int
	// Parallel is how many statements run at once.
	Parallel int
}

// job is one statement over a range of users.
type job struct {
	db    *sql.DB
	table string
	stmt  string
	args  []any
}

// Load generates the history. It returns how long it took; the tables
// must be empty of preloaded rows.
func Load(ctx context.Context, d DBs, o Options) (time.Duration, error) {
	if err := o.Size.Validate(); err != nil {
		return 0, err
	}
	if !strings.HasPrefix(o.PasswordHash, "$argon2id$") {
		return 0, errors.New("preload needs a real argon2id password hash")
	}
	t0 := time.Now()
	// One base time for all databases, so that an order, its payment and
	// its letter agree; far enough back that the newest row is in the past.
	base := t0.UTC().Add(-60 * 24 * time.Hour).Truncate(time.Second)
	// The ledger's and the outbox's foreign keys need their accounts and
	// orders first: those are a first wave.
	for _, wave := range o.waves(d, base) {
		if err := runAll(ctx, wave, o.Parallel); err != nil {
			return 0, err
		}
	}
	return time.Since(t0), nil
}

// runAll runs jobs, parallel at a time, and returns the first error.
func runAll(ctx context.Context, jobs []job, parallel int) error {
	errs := make(chan error, len(jobs))
	next := make(chan job)
	var wg sync.WaitGroup
	for range max(1, parallel) {
		wg.Go(func() {
			for j := range next {
				if _, err := j.db.ExecContext(ctx, j.stmt, j.args...); err != nil {
					errs <- fmt.Errorf("preload %s: %w", j.table, err)
				}
			}
		})
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// tables are the loaded tables of each database.
func (d DBs) tables() []struct {
	db    *sql.DB
	names []string
} {
	return []struct {
		db    *sql.DB
		names []string
	}{
		{d.User, []string{"users"}},
		{d.Billing, []string{"accounts", "transactions"}},
		{d.Order, []string{"orders", "order_letters"}},
		{d.Notification, []string{"notifications"}},
	}
}

// Settle vacuums and analyzes the loaded tables, so that the timed run
// that follows meets fresh statistics and a visibility map, not an
// autovacuum of ten million new rows.
func Settle(ctx context.Context, d DBs, parallel int) error {
	var jobs []job
	for _, t := range d.tables() {
		for _, name := range t.names {
			jobs = append(jobs, job{db: t.db, table: name, stmt: "VACUUM (ANALYZE) " + name})
		}
	}
	return runAll(ctx, jobs, parallel)
}

// Check counts the preloaded rows of every table and holds each preloaded
// account's balance against its ledger's sum.
func Check(ctx context.Context, d DBs, s Size) error {
	lo, hi := UserID(1), UserID(s.Users)
	want := s.Rows()
	var problems []string
	for _, t := range d.tables() {
		for _, name := range t.names {
			col := "user_id"
			if name == "users" {
				col = "id"
			}
			var n int64
			q := fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s BETWEEN $1::uuid AND $2::uuid`, name, col)
			if err := t.db.QueryRowContext(ctx, q, lo, hi).Scan(&n); err != nil {
				return fmt.Errorf("count %s: %w", name, err)
			}
			if n != want[name] {
				problems = append(problems, fmt.Sprintf("%s has %d preloaded rows, want %d", name, n, want[name]))
			}
		}
	}
	var accounts, wrong int64
	err := d.Billing.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE a.balance <> l.total)
		FROM accounts a JOIN (
			SELECT user_id, sum(CASE WHEN kind = 'deposit' THEN amount ELSE -amount END) AS total
			FROM transactions WHERE user_id BETWEEN $1::uuid AND $2::uuid GROUP BY user_id) l USING (user_id)`,
		lo, hi).Scan(&accounts, &wrong)
	if err != nil {
		return fmt.Errorf("check balances: %w", err)
	}
	if accounts != int64(s.Users) || wrong != 0 {
		problems = append(problems, fmt.Sprintf("%d of %d accounts with a ledger have a balance other than its sum (want %d accounts)", wrong, accounts, s.Users))
	}
	if len(problems) > 0 {
		return fmt.Errorf("the preloaded data is inconsistent: %s", strings.Join(problems, "; "))
	}
	return nil
}
