// Package pgdb opens a service's PostgreSQL pool, applies its embedded
// migrations and runs transactions.
package pgdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	neturl "net/url"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"go.opentelemetry.io/otel/trace"
)

// Options tunes the pool.
type Options struct {
	MaxOpenConns int
	// ConnectTimeout bounds the wait for the server to accept connections
	// at start (it may still be starting, as under `make run` or in a pod).
	ConnectTimeout time.Duration
	// TracerProvider, when set, traces the pool (see traced): each
	// statement, transaction begin and commit run inside a traced request
	// becomes a child span of it. Nil opens a plain pool.
	TracerProvider trace.TracerProvider
	// StatementCacheSize is how many prepared statements each connection
	// keeps (see stmtcache.go): 0 means DefaultStatementCacheSize, a
	// negative size prepares nothing (every statement parsed and planned
	// on each run, lib/pq's own behaviour).
	StatementCacheSize int
	// StatementTimeout, LockTimeout and IdleInTxTimeout are set on every
	// connection as statement_timeout, lock_timeout and
	// idle_in_transaction_session_timeout (see session.go): 0 means
	// DefaultStatementTimeout, DefaultLockTimeout and
	// DefaultIdleInTxTimeout, a negative value keeps the server's setting.
	StatementTimeout time.Duration
	LockTimeout      time.Duration
	IdleInTxTimeout  time.Duration
	// ConnWaitTimeout bounds the wait for a free pooled connection in
	// InTx, Conn, Get, Select and Exec (see pool.go): 0 means
	// DefaultConnWaitTimeout, a negative value waits as long as the
	// caller's context allows.
	ConnWaitTimeout time.Duration
}

// Open connects to url and waits until the server answers.
func Open(ctx context.Context, url string, opts Options) (*sqlx.DB, error) {
	if url == "" {
		return nil, errors.New("database URL is empty: set -database-url or DATABASE_URL")
	}
	url = withDriverDefaults(url)
	cfg, err := pq.NewConfig(url)
	if err != nil {
		// The driver's message quotes the whole URL, password included.
		return nil, fmt.Errorf("open database: %s", strings.ReplaceAll(err.Error(), url, "<database URL>"))
	}
	sessionSettings(&cfg, opts)
	pqConnector, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %s", strings.ReplaceAll(err.Error(), url, "<database URL>"))
	}
	var connector driver.Connector = pqConnector
	switch {
	case opts.StatementCacheSize == 0:
		connector = cachingConnector{Connector: connector, size: DefaultStatementCacheSize}
	case opts.StatementCacheSize > 0:
		connector = cachingConnector{Connector: connector, size: opts.StatementCacheSize}
	}
	var raw *sql.DB
	if opts.TracerProvider != nil {
		raw = openTraced(connector, databaseName(url), opts.TracerProvider)
	} else {
		raw = sql.OpenDB(connector)
	}
	db := sqlx.NewDb(raw, "postgres")
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 10
	}
	db.SetMaxOpenConns(opts.MaxOpenConns)
	db.SetMaxIdleConns(opts.MaxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	setConnWait(raw, orDefault(opts.ConnWaitTimeout, DefaultConnWaitTimeout))
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		err = db.PingContext(ctx)
		if err == nil {
			return db, nil
		}
		select {
		case <-ctx.Done():
			db.Close()
			return nil, fmt.Errorf("connect to database %s: %w", Redact(url), err)
		case <-time.After(delay):
		}
	}
}

// Migrate applies the numbered SQL migrations in fsys (goose format, at the
// root of fsys). A PostgreSQL advisory lock serialises concurrent runs, so
// several replicas starting at once are safe.
func Migrate(ctx context.Context, db *sql.DB, fsys fs.FS, log *slog.Logger) error {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	for _, r := range results {
		log.InfoContext(ctx, "migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	log.InfoContext(ctx, "schema up to date", "version", v)
	return nil
}

// InTx runs fn in a transaction and commits it when fn returns nil. The
// wait for a connection is bounded by the pool's ConnWaitTimeout (see
// Conn); the transaction itself by ctx.
func InTx(ctx context.Context, db *sqlx.DB, fn func(tx *sqlx.Tx) error) error {
	conn, tx, err := begin(ctx, db)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer conn.Close() // after Commit or Rollback, which it waits for
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the error of fn is the one worth reporting
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// IsUniqueViolation reports whether err is a unique_violation of the named
// constraint (any unique constraint when constraint is "").
func IsUniqueViolation(err error, constraint string) bool {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || pqErr.Code != "23505" {
		return false
	}
	return constraint == "" || pqErr.Constraint == constraint
}

// Redact hides the password of a connection URL for logs.
func Redact(url string) string {
	u, err := parseURL(url)
	if err != nil {
		return "(unparseable database URL)"
	}
	return u
}

// EmbeddedDir returns folder dir of an embedded file system, for a service's
// `//go:embed migrations/*.sql`. It panics when dir is missing, which the
// embed directive naming it rules out at compile time.
func EmbeddedDir(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// withDriverDefaults adds lib/pq's binary_parameters=yes unless the URL sets
// it. Without it the driver sends every parameterised statement in two
// round trips (Parse/Describe, then Bind/Execute); with it, one. Measured
// with make bench: a third fewer round trips and about a quarter less CPU
// per order. kassa passes no []byte parameters that PostgreSQL would have
// to read as text, which is what the option changes otherwise.
func withDriverDefaults(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return raw // a key=value DSN or a typo: leave it to the driver
	}
	q := u.Query()
	if q.Get("binary_parameters") != "" {
		return raw
	}
	q.Set("binary_parameters", "yes")
	u.RawQuery = q.Encode()
	return u.String()
}
