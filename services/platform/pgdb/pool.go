package pgdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/platform/apperr"
)

// DefaultConnWaitTimeout bounds the wait for a free pooled connection.
const DefaultConnWaitTimeout = 5 * time.Second

// database/sql waits for a free connection as long as the caller's context
// allows, which for a request is its whole deadline: with every connection
// held (by transactions waiting on a slow peer, say), requests queue
// silently and fail together when their deadlines end. Conn bounds only the
// wait: it takes a connection with a context that ends after the pool's
// wait bound, then runs the caller's statements under the caller's own
// context, so the bound never cuts a statement short.
//
// The bound belongs to the pool, which callers pass as a *sqlx.DB; it is
// kept beside the pool, keyed weakly so a closed and collected pool leaves
// nothing behind.
var connWait sync.Map // weak.Pointer[sql.DB] -> time.Duration

func setConnWait(db *sql.DB, d time.Duration) {
	key := weak.Make(db)
	connWait.Store(key, d)
	runtime.AddCleanup(db, func(k weak.Pointer[sql.DB]) { connWait.Delete(k) }, key)
}

func connWaitOf(db *sql.DB) time.Duration {
	if d, ok := connWait.Load(weak.Make(db)); ok {
		return d.(time.Duration)
	}
	return 0 // a pool pgdb did not open: database/sql's own behaviour
}

// Conn takes a connection from the pool, waiting at most the pool's
// ConnWaitTimeout (see Options). When none frees up in time the error
// wraps apperr.ErrDatabaseUnavailable, which answers UNAVAILABLE. The
// caller must Close the connection to hand it back.
func Conn(ctx context.Context, db *sqlx.DB) (*sqlx.Conn, error) {
	wait := connWaitOf(db.DB)
	if wait <= 0 {
		return db.Connx(ctx)
	}
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	conn, err := db.Connx(waitCtx)
	if err != nil && ctx.Err() == nil && errors.Is(waitCtx.Err(), context.DeadlineExceeded) {
		return nil, fmt.Errorf("no database connection free within %s (%d in use): %w",
			wait, db.Stats().InUse, apperr.ErrDatabaseUnavailable)
	}
	return conn, err
}

// withConn runs fn on a connection taken with Conn. A connection the
// server closed while it sat idle in the pool (a restart) fails its first
// use with driver.ErrBadConn, which the driver returns only when nothing
// was executed; database/sql retries such a call on another connection,
// but not on a connection taken with Conn, so withConn does: each bad one
// is dropped, so after as many tries as the pool can hold one is new.
func withConn(ctx context.Context, db *sqlx.DB, fn func(*sqlx.Conn) error) error {
	for try := 0; ; try++ {
		conn, err := Conn(ctx, db)
		if err != nil {
			return err
		}
		err = fn(conn)
		conn.Close() // a bad connection is discarded, not pooled
		if !errors.Is(err, driver.ErrBadConn) || try > db.Stats().MaxOpenConnections {
			return err
		}
	}
}

// begin starts a transaction on a connection taken with Conn, retrying a
// bad connection as withConn does. The caller closes conn after the
// transaction ends.
func begin(ctx context.Context, db *sqlx.DB) (*sqlx.Conn, *sqlx.Tx, error) {
	for try := 0; ; try++ {
		conn, err := Conn(ctx, db)
		if err != nil {
			return nil, nil, err
		}
		tx, err := conn.BeginTxx(ctx, nil)
		if err == nil {
			return conn, tx, nil
		}
		conn.Close()
		if !errors.Is(err, driver.ErrBadConn) || try > db.Stats().MaxOpenConnections {
			return nil, nil, err
		}
	}
}

// Get is db.GetContext on a connection taken with Conn.
func Get(ctx context.Context, db *sqlx.DB, dest any, query string, args ...any) error {
	return withConn(ctx, db, func(c *sqlx.Conn) error { return c.GetContext(ctx, dest, query, args...) })
}

// Select is db.SelectContext on a connection taken with Conn.
func Select(ctx context.Context, db *sqlx.DB, dest any, query string, args ...any) error {
	return withConn(ctx, db, func(c *sqlx.Conn) error { return c.SelectContext(ctx, dest, query, args...) })
}

// Exec is db.ExecContext on a connection taken with Conn.
func Exec(ctx context.Context, db *sqlx.DB, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := withConn(ctx, db, func(c *sqlx.Conn) (err error) {
		res, err = c.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}
