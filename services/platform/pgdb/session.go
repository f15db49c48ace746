package pgdb

import (
	"strconv"
	"time"

	"github.com/lib/pq"
)

// Defaults of the session timeouts every pooled connection gets (see
// Options). They bound how long one request can hold PostgreSQL's
// resources: a statement that runs away, a wait for a row lock another
// transaction keeps, and a transaction a crashed or stalled caller left
// open, which would otherwise keep its locks until the connection dies.
const (
	DefaultStatementTimeout = 10 * time.Second
	DefaultLockTimeout      = 5 * time.Second
	DefaultIdleInTxTimeout  = 30 * time.Second
)

// sessionSettings adds the timeouts of opts to cfg's run-time parameters,
// which lib/pq sends in the startup message of every connection it opens:
// no extra round trip, and a connection the pool opens again after a
// restart gets them too. A parameter the URL sets itself keeps the URL's
// value.
func sessionSettings(cfg *pq.Config, opts Options) {
	if cfg.Runtime == nil {
		cfg.Runtime = map[string]string{}
	}
	for name, d := range map[string]time.Duration{
		"statement_timeout":                   orDefault(opts.StatementTimeout, DefaultStatementTimeout),
		"lock_timeout":                        orDefault(opts.LockTimeout, DefaultLockTimeout),
		"idle_in_transaction_session_timeout": orDefault(opts.IdleInTxTimeout, DefaultIdleInTxTimeout),
	} {
		if _, set := cfg.Runtime[name]; set || d < 0 {
			continue
		}
		cfg.Runtime[name] = milliseconds(d)
	}
}

// orDefault reads an Options duration: 0 is the default, negative is off.
func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// milliseconds is d as PostgreSQL's integer milliseconds, rounded up so
// that a positive duration never becomes 0 (which means "no timeout").
func milliseconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10)
}
