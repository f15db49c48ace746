package pgdb_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/lib/pq"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// show reads a setting on each of n connections held at once, so every
// one is a separate pooled connection.
func show(t *testing.T, db *sqlx.DB, n int, setting string) []string {
	t.Helper()
	ctx := context.Background()
	var got []string
	for range n {
		conn, err := pgdb.Conn(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var v string
		if err := conn.GetContext(ctx, &v, `SHOW `+setting); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	return got
}

// Every pooled connection starts with the session timeouts: the defaults,
// the options' values, the server's own (0) when an option is negative,
// and the URL's when it names one itself.
func TestSessionTimeouts_SetOnEveryPooledConnection(t *testing.T) {
	base := pgtest.NewDB(t, nil)
	tests := []struct {
		name                  string
		opts                  pgdb.Options
		query                 string // added to the URL
		statement, lock, idle string
	}{
		{"defaults", pgdb.Options{}, "", "10s", "5s", "30s"},
		{"options", pgdb.Options{StatementTimeout: 1500 * time.Millisecond, LockTimeout: 250 * time.Millisecond, IdleInTxTimeout: time.Minute}, "", "1500ms", "250ms", "1min"},
		{"server's own", pgdb.Options{StatementTimeout: -1, LockTimeout: -1, IdleInTxTimeout: -1}, "", "0", "0", "0"},
		{"URL wins", pgdb.Options{StatementTimeout: time.Second}, "&statement_timeout=7000", "7s", "5s", "30s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.MaxOpenConns = 3
			db, err := pgdb.Open(context.Background(), pgtest.URL(t, base)+tt.query, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for setting, want := range map[string]string{"statement_timeout": tt.statement, "lock_timeout": tt.lock, "idle_in_transaction_session_timeout": tt.idle} {
				for i, got := range show(t, db, 3, setting) {
					if got != want {
						t.Errorf("connection %d: %s = %q, want %q", i, setting, got, want)
					}
				}
			}
		})
	}
}

func toStatus(err error) *status.Status {
	return status.Convert(grpcstatus.ToStatus(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), "/m", err))
}

func assertCode(t *testing.T, err error, code string, took, within time.Duration) {
	t.Helper()
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || string(pqErr.Code) != code {
		t.Fatalf("error = %v, want SQLSTATE %s", err, code)
	}
	if took > within {
		t.Errorf("took %s, want under %s", took, within)
	}
	if st := toStatus(err); st.Code() != codes.Unavailable {
		t.Errorf("maps to %v, want Unavailable", st.Code())
	}
}

// statement_timeout cuts a runaway statement, prepared (through the
// statement cache) or not, and the answer is UNAVAILABLE.
func TestStatementTimeout_CutsALongSleep(t *testing.T) {
	db := pgtest.NewDBWith(t, nil, pgdb.Options{MaxOpenConns: 2, StatementTimeout: 200 * time.Millisecond})
	ctx := context.Background()
	for name, run := range map[string]func() error{
		"prepared":   func() error { return pgdb.Get(ctx, db, new(string), `SELECT pg_sleep($1)::text`, 30) },
		"unprepared": func() error { _, err := db.ExecContext(ctx, `SELECT pg_sleep(30)`); return err },
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := run()
			assertCode(t, err, "57014", time.Since(start), 5*time.Second)
		})
	}
}

// A row lock held by one transaction makes a second locker fail after
// lock_timeout instead of queueing behind it.
func TestLockTimeout_SecondLockerFailsFast(t *testing.T) {
	db := pgtest.NewDBWith(t, migrations(t), pgdb.Options{MaxOpenConns: 2, LockTimeout: 200 * time.Millisecond})
	ctx := context.Background()
	if _, err := db.Exec(`INSERT INTO things VALUES (1, 'a')`); err != nil {
		t.Fatal(err)
	}
	const lock = `SELECT name FROM things WHERE id = $1 FOR UPDATE`
	err := pgdb.InTx(ctx, db, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, new(string), lock, 1); err != nil {
			return err
		}
		start := time.Now()
		err := pgdb.InTx(ctx, db, func(tx2 *sqlx.Tx) error { return tx2.GetContext(ctx, new(string), lock, 1) })
		assertCode(t, err, "55P03", time.Since(start), 5*time.Second)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// With every connection held, a call waits at most ConnWaitTimeout and
// answers UNAVAILABLE / DATABASE_UNAVAILABLE; once the connection is back,
// calls work again.
func TestConnWait_ExhaustedPool_FailsFast(t *testing.T) {
	db := pgtest.NewDBWith(t, migrations(t), pgdb.Options{MaxOpenConns: 1, ConnWaitTimeout: 200 * time.Millisecond})
	ctx := context.Background()
	calls := map[string]func() error{
		"InTx":   func() error { return pgdb.InTx(ctx, db, func(*sqlx.Tx) error { return nil }) },
		"Get":    func() error { return pgdb.Get(ctx, db, new(int), `SELECT count(*) FROM things WHERE id > $1`, 0) },
		"Select": func() error { return pgdb.Select(ctx, db, new([]int), `SELECT id FROM things WHERE id > $1`, 0) },
		"Exec": func() error {
			_, err := pgdb.Exec(ctx, db, `UPDATE things SET name = $1 WHERE id = 0`, "x")
			return err
		},
	}
	err := pgdb.InTx(ctx, db, func(tx *sqlx.Tx) error {
		for name, call := range calls {
			start := time.Now()
			err := call()
			took := time.Since(start)
			st := toStatus(err)
			if !errors.Is(err, apperr.ErrDatabaseUnavailable) || st.Code() != codes.Unavailable || grpcstatus.ReasonOf(st.Err()) != apperr.ReasonDatabaseUnavailable {
				t.Errorf("%s with the pool held: %v (%v), want DATABASE_UNAVAILABLE", name, err, st)
			}
			if took < 150*time.Millisecond || took > 3*time.Second {
				t.Errorf("%s failed after %s, want about the 200ms wait bound", name, took)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range calls {
		if err := call(); err != nil {
			t.Errorf("%s after the pool freed: %v", name, err)
		}
	}
}

// The wait bound bounds only the wait: a statement longer than it, on a
// connection that was free, runs to the end.
func TestConnWait_DoesNotCutTheStatement(t *testing.T) {
	db := pgtest.NewDBWith(t, nil, pgdb.Options{MaxOpenConns: 1, ConnWaitTimeout: 50 * time.Millisecond})
	ctx := context.Background()
	start := time.Now()
	if err := pgdb.Get(ctx, db, new(string), `SELECT pg_sleep($1)::text`, 0.3); err != nil {
		t.Fatalf("a 300ms statement under a 50ms wait bound: %v", err)
	}
	err := pgdb.InTx(ctx, db, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `SELECT pg_sleep($1)`, 0.3)
		return err
	})
	if err != nil || time.Since(start) < 600*time.Millisecond {
		t.Fatalf("transaction: %v after %s", err, time.Since(start))
	}
}

// Connections the server closed while they sat idle in the pool (what a
// PostgreSQL restart does to every one) are replaced without failing a
// call: database/sql's own retry of a bad connection, kept for
// connections taken with a wait bound. The statement cache of the new
// connections starts empty and works.
func TestIdleConnectionsKilled_NextCallsSucceed(t *testing.T) {
	db := pgtest.NewDBWith(t, migrations(t), pgdb.Options{MaxOpenConns: 3})
	ctx := context.Background()
	outside := admin(t, db)
	show(t, db, 3, "statement_timeout") // three connections, now idle
	var killed int
	if err := outside.Get(&killed, `SELECT count(*) FROM pg_stat_activity, pg_terminate_backend(pid, 5000)
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil || killed != 3 {
		t.Fatalf("terminated %d backends, %v; want the pool's 3", killed, err)
	}
	for i := range 4 {
		if err := pgdb.InTx(ctx, db, func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO things VALUES ($1, $2)`, i, string(rune('a'+i)))
			return err
		}); err != nil {
			t.Fatalf("InTx %d after the kill: %v", i, err)
		}
		var name string
		if err := pgdb.Get(ctx, db, &name, `SELECT name FROM things WHERE id = $1`, i); err != nil || name != string(rune('a'+i)) {
			t.Fatalf("Get %d after the kill: %q, %v", i, name, err)
		}
	}
}
