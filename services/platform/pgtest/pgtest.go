// Package pgtest gives integration tests a real PostgreSQL: one throwaway
// cluster per test binary (started by Main from TestMain and removed after)
// and a fresh, migrated database per test.
//
// Set KASSA_TEST_DATABASE_URL to a server's URL (any database on it) to use
// that server instead of starting a cluster.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/platform/pgcluster"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/lib/pq"
)

var server struct {
	url     string // URL of the maintenance database
	cluster *pgcluster.Cluster
}

// Main starts the cluster, runs the tests and removes the cluster. Use it as
// `func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }`.
func Main(m *testing.M) int {
	if u := os.Getenv("KASSA_TEST_DATABASE_URL"); u != "" {
		server.url = u
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "kassa-pgtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// The parent of the data folder must be reachable by the postgres user
	// when the cluster runs as that user (tests under root).
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	c, err := pgcluster.Start(context.Background(), pgcluster.Options{Dir: dir + "/pg"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: start PostgreSQL:", err)
		return 1
	}
	defer c.Stop()
	server.cluster, server.url = c, c.URL("postgres")
	return m.Run()
}

// NewDB creates an empty database for this test, applies migrations (a
// goose migration folder; nil for none) and returns a pool on it. The
// database is dropped when the test ends.
func NewDB(t testing.TB, migrations fs.FS) *sqlx.DB {
	t.Helper()
	return NewDBWith(t, migrations, pgdb.Options{MaxOpenConns: 20})
}

// NewDBWith is NewDB with the pool options opts (a traced pool, say).
func NewDBWith(t testing.TB, migrations fs.FS, opts pgdb.Options) *sqlx.DB {
	t.Helper()
	if server.url == "" {
		t.Fatal("pgtest: no server; call pgtest.Main from TestMain")
	}
	ctx := context.Background()
	name := "t_" + randomHex(8)
	admin, err := sqlx.Open("postgres", server.url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sqlx.Open("postgres", server.url)
		if err != nil {
			return
		}
		defer admin.Close()
		_, _ = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)")
	})
	u, err := url.Parse(server.url)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	db, err := pgdb.Open(ctx, u.String(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if migrations != nil {
		if err := pgdb.Migrate(ctx, db.DB, migrations, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Exit runs Main and exits with its code: `func TestMain(m *testing.M) {
// pgtest.Exit(m) }`.
func Exit(m *testing.M) { os.Exit(Main(m)) }

// URL returns the connection URL of a database made by NewDB.
func URL(t testing.TB, db *sqlx.DB) string {
	t.Helper()
	var name string
	if err := db.Get(&name, `SELECT current_database()`); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(server.url)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
