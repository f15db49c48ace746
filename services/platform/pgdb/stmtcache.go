package pgdb

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"

	"github.com/lib/pq"
)

// DefaultStatementCacheSize is how many prepared statements each pooled
// connection keeps. A kassa service runs a few dozen distinct statements,
// so the cache holds all of them; the bound only matters for a caller that
// builds statement text dynamically.
const DefaultStatementCacheSize = 128

// lib/pq parses, plans and describes every parameterised statement each
// time it runs (an unnamed statement), unless the caller prepares it. The
// stores use plain db.QueryContext calls, so the preparing happens here,
// below database/sql: each connection prepares a statement the first time
// it sees its text and reuses the prepared statement afterwards, which is
// what pgx's statement cache does. A prepared execution is one round trip
// (Bind/Execute/Sync) with no parsing or planning on the server, and lib/pq
// keeps the statement's row description instead of decoding it per call.
//
// Statements without arguments (migrations, BEGIN, multi-statement
// scripts) are passed through untouched: a prepared statement holds one
// command, and lib/pq already sends those as one simple query.

// cachingConnector wraps a driver.Connector so that its connections cache
// prepared statements.
type cachingConnector struct {
	driver.Connector
	size int
}

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(innerConn)
	if !ok {
		return conn, nil // not a connection this wrapper knows how to forward
	}
	return &cachingConn{innerConn: inner, size: c.size, byQuery: map[string]*list.Element{}}, nil
}

// innerConn is everything database/sql uses of a lib/pq connection; the
// wrapper forwards all of it, so wrapping hides no capability.
type innerConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.QueryerContext
	driver.ExecerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// preparedStmt is a statement lib/pq prepared (its *stmt implements both).
type preparedStmt interface {
	driver.Stmt
	driver.StmtQueryContext
	driver.StmtExecContext
}

type cacheEntry struct {
	query string
	stmt  preparedStmt
}

// cachingConn is one connection with its statements, least recently used
// at the back of lru. database/sql hands a connection to one goroutine at
// a time, so nothing here needs a lock.
type cachingConn struct {
	innerConn
	size    int
	lru     list.List
	byQuery map[string]*list.Element
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 {
		return c.innerConn.QueryContext(ctx, query, args)
	}
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args)
	c.dropIfStale(query, err)
	return rows, err
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) == 0 {
		return c.innerConn.ExecContext(ctx, query, args)
	}
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := st.ExecContext(ctx, args)
	c.dropIfStale(query, err)
	return res, err
}

// prepared returns the connection's prepared statement for query,
// preparing it (one round trip) the first time.
func (c *cachingConn) prepared(ctx context.Context, query string) (preparedStmt, error) {
	if e, ok := c.byQuery[query]; ok {
		c.lru.MoveToFront(e)
		return e.Value.(*cacheEntry).stmt, nil
	}
	s, err := c.innerConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := s.(preparedStmt)
	if !ok {
		_ = s.Close()
		return nil, errors.New("pgdb: driver statement cannot run with a context")
	}
	for c.lru.Len() >= c.size {
		c.evict(c.lru.Back(), true)
	}
	c.byQuery[query] = c.lru.PushFront(&cacheEntry{query: query, stmt: st})
	return st, nil
}

// dropIfStale forgets query's statement after an error that says the
// server's copy no longer fits: "cached plan must not change result type"
// after a migration altered a table (feature_not_supported), or a
// statement the session lost (invalid_sql_statement_name). The call fails
// once and the next one prepares afresh, as pgx does.
func (c *cachingConn) dropIfStale(query string, err error) {
	var pqErr *pq.Error
	if err == nil || !errors.As(err, &pqErr) {
		return
	}
	if pqErr.Code != "0A000" && pqErr.Code != "26000" {
		return
	}
	if e, ok := c.byQuery[query]; ok {
		// Not closed on the server: inside the transaction the error
		// aborted, a Close would fail too. The stale statement stays in
		// the session, unused, until the connection ends.
		c.evict(e, false)
	}
}

func (c *cachingConn) evict(e *list.Element, closeOnServer bool) {
	entry := c.lru.Remove(e).(*cacheEntry)
	delete(c.byQuery, entry.query)
	if closeOnServer {
		_ = entry.stmt.Close()
	}
}
