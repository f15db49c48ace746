package pgdb_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/lib/pq"
)

// prepared lists the protocol-level prepared statements of the pool's only
// connection and how often each ran, leaving out those the migrations
// prepared. The query has no arguments, so the cache passes it through and
// it does not list itself.
func prepared(t *testing.T, db *sqlx.DB) map[string]int {
	t.Helper()
	var rows []struct {
		Statement string `db:"statement"`
		Runs      int    `db:"runs"`
	}
	if err := db.Select(&rows, `SELECT statement, generic_plans + custom_plans AS runs
		FROM pg_prepared_statements
		WHERE NOT from_sql AND statement NOT LIKE '%goose%' AND statement NOT LIKE '%advisory%'`); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Statement] = r.Runs
	}
	return out
}

// oneConn opens a pool of one connection, so that every statement meets
// the same cache and pg_prepared_statements sees it.
func oneConn(t *testing.T, cacheSize int) *sqlx.DB {
	return pgtest.NewDBWith(t, migrations(t), pgdb.Options{MaxOpenConns: 1, StatementCacheSize: cacheSize})
}

func TestStatementCache_PreparesEachStatementOncePerConnection(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		cacheSize int
		want      map[string]int
	}{
		{"default cache", 0, map[string]int{
			`INSERT INTO things VALUES ($1, $2)`:        10,
			`SELECT name FROM things WHERE id = $1`:     10,
			`UPDATE things SET name = $2 WHERE id = $1`: 10,
		}},
		{"cache off", -1, map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := oneConn(t, tt.cacheSize)
			for i := range 10 {
				// Inside and outside transactions: both reach the
				// connection's cache.
				err := pgdb.InTx(ctx, db, func(tx *sqlx.Tx) error {
					_, err := tx.ExecContext(ctx, `INSERT INTO things VALUES ($1, $2)`, i, fmt.Sprint("n", i))
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.ExecContext(ctx, `UPDATE things SET name = $2 WHERE id = $1`, i, fmt.Sprint("m", i)); err != nil {
					t.Fatal(err)
				}
				var name string
				if err := db.GetContext(ctx, &name, `SELECT name FROM things WHERE id = $1`, i); err != nil || name != fmt.Sprint("m", i) {
					t.Fatalf("read back %q, %v", name, err)
				}
			}
			got := prepared(t, db)
			if len(got) != len(tt.want) {
				t.Fatalf("prepared statements = %v, want %v", got, tt.want)
			}
			for q, n := range tt.want {
				if got[q] != n {
					t.Errorf("%q ran %d times as a prepared statement, want %d", q, got[q], n)
				}
			}
		})
	}
}

func TestStatementCache_EvictsLeastRecentlyUsed(t *testing.T) {
	db := oneConn(t, 2)
	run := func(q string) {
		t.Helper()
		var n int
		if err := db.Get(&n, q, 1); err != nil {
			t.Fatal(err)
		}
	}
	const a, b, c = `SELECT $1::int + 1`, `SELECT $1::int + 2`, `SELECT $1::int + 3`
	run(a)
	run(b)
	run(a) // a is now the most recently used
	run(c) // evicts b, and closes it on the server
	got := prepared(t, db)
	if len(got) != 2 || got[a] != 2 || got[c] != 1 {
		t.Fatalf("prepared statements = %v, want %q twice and %q once", got, a, c)
	}
}

// A migration that changes a table's columns invalidates the result type
// of a cached SELECT *; PostgreSQL refuses to run it. The call fails once
// and the next prepares the statement again: the same behaviour as pgx.
func TestStatementCache_RecoversFromAChangedTable(t *testing.T) {
	db := oneConn(t, 0)
	const q = `SELECT * FROM things WHERE id = $1`
	if _, err := db.Exec(`INSERT INTO things VALUES (1, 'a')`); err != nil {
		t.Fatal(err)
	}
	cols := func() (int, error) {
		rows, err := db.Queryx(q, 1)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		c, err := rows.Columns()
		return len(c), err
	}
	if n, err := cols(); err != nil || n != 2 {
		t.Fatalf("before: %d columns, %v", n, err)
	}
	if _, err := db.Exec(`ALTER TABLE things ADD COLUMN note text`); err != nil {
		t.Fatal(err)
	}
	_, err := cols()
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || pqErr.Code != "0A000" {
		t.Fatalf("first call after the change: %v, want feature_not_supported (cached plan)", err)
	}
	if n, err := cols(); err != nil || n != 3 {
		t.Fatalf("second call after the change: %d columns, %v; want 3, nil", n, err)
	}
}

// Statements without arguments are not prepared: a migration's
// multi-statement script cannot be, and lib/pq already sends such text in
// one simple query.
func TestStatementCache_PassesThroughStatementsWithoutArguments(t *testing.T) {
	db := oneConn(t, 0)
	if _, err := db.Exec(`INSERT INTO things VALUES (1, 'a'); INSERT INTO things VALUES (2, 'b')`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM things`); err != nil || n != 2 {
		t.Fatalf("count = %d, %v", n, err)
	}
	if got := prepared(t, db); len(got) != 0 {
		t.Fatalf("prepared statements = %v, want none", got)
	}
}
