package pgdb_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// admin opens a second, separate pool on db's database, for doing things
// to db's connections from outside.
func admin(t *testing.T, db *sqlx.DB) *sqlx.DB {
	t.Helper()
	a, err := sqlx.Open("postgres", pgtest.URL(t, db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// The driver's real error for a connection the server terminated under a
// transaction maps to UNAVAILABLE / DATABASE_UNAVAILABLE, with the driver's
// text only in the log, and the pool then serves the next call on a new
// connection.
func TestTerminatedBackend_MapsToDatabaseUnavailable_ThenPoolRecovers(t *testing.T) {
	db := pgtest.NewDBWith(t, migrations(t), pgdb.Options{MaxOpenConns: 1})
	ctx := context.Background()
	outside := admin(t, db) // before the transaction takes the pool's one connection
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	err := pgdb.InTx(ctx, db, func(tx *sqlx.Tx) error {
		var pid int
		if err := tx.GetContext(ctx, &pid, `SELECT pg_backend_pid()`); err != nil {
			return err
		}
		var ok bool
		if err := outside.GetContext(ctx, &ok, `SELECT pg_terminate_backend($1, 5000)`, pid); err != nil || !ok {
			t.Fatalf("pg_terminate_backend = %v, %v", ok, err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO things VALUES ($1, $2)`, 1, "a")
		return err
	})
	if err == nil {
		t.Fatal("the statement after pg_terminate_backend succeeded")
	}
	t.Logf("driver error: %v", err)
	st := grpcstatus.ToStatus(ctx, log, "/m", err)
	var reason string
	for _, d := range status.Convert(st).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			reason = info.Reason
		}
	}
	if status.Code(st) != codes.Unavailable || reason != apperr.ReasonDatabaseUnavailable {
		t.Fatalf("driver error %q maps to %v reason %q, want Unavailable DATABASE_UNAVAILABLE", err, st, reason)
	}
	if !strings.Contains(logs.String(), err.Error()) {
		t.Errorf("the driver's error is not in the log:\n%s", logs.String())
	}
	var n int
	if err := db.GetContext(ctx, &n, `SELECT count(*) FROM things WHERE id = $1`, 1); err != nil || n != 0 {
		t.Fatalf("after the fault: count = %d, %v; want 0 on a new connection", n, err)
	}
}
