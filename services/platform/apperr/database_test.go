package apperr_test

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/lib/pq"
)

func pqErr(code, msg string) error {
	return fmt.Errorf("record payment outcome: %w", &pq.Error{Severity: "ERROR", Code: pq.ErrorCode(code), Message: msg})
}

// A database that is down, restarting, overloaded or timing out is worth a
// retry later; a fault in the statement is a bug that no retry fixes.
func TestIsDatabaseUnavailable(t *testing.T) {
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"bad connection", fmt.Errorf("record payment outcome: %w", driver.ErrBadConn), true},
		{"connection done", fmt.Errorf("commit: %w", sql.ErrConnDone), true},
		{"connection refused", fmt.Errorf("begin: %w", dialErr), true},
		{"connection cut mid-read", fmt.Errorf("get order: %w", io.ErrUnexpectedEOF), true},
		{"connection_exception", pqErr("08006", "connection failure"), true},
		{"admin_shutdown", pqErr("57P01", "terminating connection due to administrator command"), true},
		{"crash_shutdown", pqErr("57P02", "terminating connection because of crash of another server process"), true},
		{"cannot_connect_now", pqErr("57P03", "the database system is starting up"), true},
		{"too_many_connections", pqErr("53300", "sorry, too many clients already"), true},
		{"statement_timeout", pqErr("57014", "canceling statement due to statement timeout"), true},
		{"lock_not_available", pqErr("55P03", "canceling statement due to lock timeout"), true},
		{"deadlock", pqErr("40P01", "deadlock detected"), true},
		{"idle in transaction", pqErr("25P03", "terminating connection due to idle-in-transaction timeout"), true},
		{"pool exhausted", fmt.Errorf("no connection free within 5s: %w", apperr.ErrDatabaseUnavailable), true},
		{"syntax error is a bug", pqErr("42601", "syntax error at or near \"SELEC\""), false},
		{"missing table is a bug", pqErr("42P01", `relation "orders" does not exist`), false},
		{"check violation is a bug", pqErr("23514", "new row violates check constraint"), false},
		{"plain error is a bug", errors.New("nil map"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := apperr.IsDatabaseUnavailable(tt.err); got != tt.want {
				t.Fatalf("IsDatabaseUnavailable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
