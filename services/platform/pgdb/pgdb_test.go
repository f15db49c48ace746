package pgdb_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func migrations(t *testing.T) fstest.MapFS {
	b, err := os.ReadFile("testdata/migrations/00001_things.sql")
	if err != nil {
		t.Fatal(err)
	}
	return fstest.MapFS{"00001_things.sql": {Data: b}}
}

func TestMigrate_IsRepeatable(t *testing.T) {
	db := pgtest.NewDB(t, migrations(t))
	// A second run (a restart, or a second replica) finds nothing to do.
	if err := pgdb.Migrate(context.Background(), db.DB, migrations(t), slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM goose_db_version WHERE version_id = 1`); err != nil || n != 1 {
		t.Fatalf("version rows = %d, %v", n, err)
	}
}

func TestInTx_RollsBackOnError(t *testing.T) {
	db := pgtest.NewDB(t, migrations(t))
	ctx := context.Background()
	boom := errors.New("boom")
	err := pgdb.InTx(ctx, db, func(tx *sqlx.Tx) error {
		if _, err := tx.Exec(`INSERT INTO things VALUES (1, 'a')`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want boom", err)
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM things`); err != nil || n != 0 {
		t.Fatalf("rows after rollback = %d, %v", n, err)
	}
	if err := pgdb.InTx(ctx, db, func(tx *sqlx.Tx) error {
		_, err := tx.Exec(`INSERT INTO things VALUES (1, 'a')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO things VALUES (2, 'a')`)
	if !pgdb.IsUniqueViolation(err, "things_name_key") || pgdb.IsUniqueViolation(err, "other") {
		t.Fatalf("IsUniqueViolation misjudged %v", err)
	}
}

func TestRedact(t *testing.T) {
	got := pgdb.Redact("postgres://u:secret@h/db")
	if got != "postgres://u:xxxxx@h/db" {
		t.Fatalf("Redact = %q", got)
	}
}

func TestWithDriverDefaults(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u@h/db?sslmode=disable", "postgres://u@h/db?binary_parameters=yes&sslmode=disable"},
		{"postgres://u@h/db?binary_parameters=no", "postgres://u@h/db?binary_parameters=no"},
		{"host=h dbname=db", "host=h dbname=db"},
	}
	for _, tt := range tests {
		if got := pgdb.WithDriverDefaults(tt.in); got != tt.want {
			t.Errorf("withDriverDefaults(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A URL the driver cannot parse fails at Open, naming the setting's value
// without its password, before any connection is tried.
func TestOpen_RefusesAnUnparseableURL(t *testing.T) {
	_, err := pgdb.Open(context.Background(), "postgres://u:secret@h:notaport/db", pgdb.Options{})
	if err == nil || !strings.Contains(err.Error(), "open database") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Open = %v, want an open database error without the password", err)
	}
}
