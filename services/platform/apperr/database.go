package apperr

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
)

// ErrDatabaseUnavailable marks a database fault the caller may retry later
// that no driver error describes, such as a pool with no free connection
// within its wait bound (see pgdb). Errors wrapping it are
// IsDatabaseUnavailable, which the gRPC mapping answers with UNAVAILABLE
// and reason DATABASE_UNAVAILABLE.
var ErrDatabaseUnavailable = errors.New("the database is unavailable")

// transientCodes are the SQLSTATEs of a statement that failed because of
// the database's condition rather than the statement: retrying it later,
// unchanged, may succeed.
var transientCodes = map[pqerror.Code]bool{
	pqerror.AdminShutdown:                   true, // 57P01: the backend was terminated or the server is stopping
	pqerror.CrashShutdown:                   true, // 57P02: another backend crashed, the server restarts
	pqerror.CannotConnectNow:                true, // 57P03: the server is starting up or shutting down
	pqerror.TooManyConnections:              true, // 53300: max_connections reached
	pqerror.QueryCanceled:                   true, // 57014: statement_timeout (or a cancel request)
	pqerror.LockNotAvailable:                true, // 55P03: lock_timeout while waiting for a row lock
	pqerror.TRSerializationFailure:          true, // 40001: lost a race; the same request may win next time
	pqerror.TRDeadlockDetected:              true, // 40P01: chosen as the deadlock victim
	pqerror.IdleInTransactionSessionTimeout: true, // 25P03: the session was closed under an idle transaction
	pqerror.IdleSessionTimeout:              true, // 57P05: the session was closed while idle
}

// IsDatabaseUnavailable reports whether err says the database could not
// serve a statement for now: a broken or refused connection, a restart, a
// timeout or a lock wait cut short. Errors in the statement itself (a
// syntax error, a missing table, a violated constraint) are bugs, which
// the client sees as an internal error.
func IsDatabaseUnavailable(err error) bool {
	if errors.Is(err, ErrDatabaseUnavailable) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code.Class() == pqerror.ClassConnectionException || transientCodes[pqErr.Code]
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}
