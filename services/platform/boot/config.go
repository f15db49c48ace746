package boot

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/kassa-dev/kassa/services/platform/admission"
	"github.com/kassa-dev/kassa/services/platform/admission/admissionflag"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/platform/process"
)

// Config is the configuration every service shares. Each setting is a flag
// with an environment variable fallback; the flag wins.
type Config struct {
	Listen      string // -listen, LISTEN_ADDR
	AdminListen string // -admin-listen, ADMIN_ADDR
	DatabaseURL string // -database-url, DATABASE_URL
	DBMaxConns  int    // -db-max-conns, DB_MAX_CONNS
	// DBStatementCache is how many prepared statements each database
	// connection keeps; 0 prepares nothing (for a transaction-mode
	// connection pooler that cannot keep them).
	DBStatementCache int // -db-statement-cache, DB_STATEMENT_CACHE
	// Session timeouts of every database connection; 0 keeps the
	// server's setting (see pgdb.Options).
	DBStatementTimeout time.Duration // -db-statement-timeout, DB_STATEMENT_TIMEOUT
	DBLockTimeout      time.Duration // -db-lock-timeout, DB_LOCK_TIMEOUT
	DBIdleInTxTimeout  time.Duration // -db-idle-in-tx-timeout, DB_IDLE_IN_TX_TIMEOUT
	// DBConnWaitTimeout bounds the wait for a free pooled connection; 0
	// waits as long as the request's deadline allows.
	DBConnWaitTimeout time.Duration // -db-conn-wait-timeout, DB_CONN_WAIT_TIMEOUT
	// Readiness pings the database every DBCheckInterval, each ping
	// bounded by DBCheckTimeout.
	DBCheckInterval time.Duration // -db-check-interval, DB_CHECK_INTERVAL
	DBCheckTimeout  time.Duration // -db-check-timeout, DB_CHECK_TIMEOUT
	CallTimeout     time.Duration // -call-timeout, CALL_TIMEOUT
	// Process is what the gateway has too: -log-level, -log-format,
	// -pprof and -shutdown-timeout (see process.Config).
	Process process.Config
	// Peers maps a peer name ("billing") to its gRPC address.
	Peers map[string]string
	// Options holds the values of the service's own Spec.Options.
	Options map[string]string
	// Auth is whom tokens are trusted from and the service's own client
	// credentials (-auth-*, AUTH_*; see auth.Config).
	Auth auth.Config
	// Admission bounds the calls the service serves at once (-max-in-flight,
	// -max-queue, -max-wait; see DefaultAdmission).
	Admission admission.Config
}

// Peer is another service this one calls.
type Peer struct {
	Name string // "billing": flag -billing-addr, env BILLING_ADDR
	Addr string // default address
	// NoRetry turns gRPC's retries off for this peer: for calls whose
	// failure something else already retries, where waiting for gRPC's
	// backoff would only hold up the caller (the order's letter hand-over,
	// which the relay takes over when it fails).
	NoRetry bool
}

// Option is a service-specific string setting.
type Option struct {
	Name    string // flag name, e.g. "default-currency"; env DEFAULT_CURRENCY
	Default string
	Usage   string
}

// parseConfig reads flags from args (without the program name and
// subcommand) with environment fallbacks.
func parseConfig(spec Spec, args []string, getenv func(string) string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet(spec.Name, flag.ContinueOnError)
	fs.SetOutput(out)
	env := func(name, def string) string { return process.EnvOr(getenv, process.EnvName(name), def) }
	var c Config
	fs.StringVar(&c.Listen, "listen", env("listen-addr", spec.Addr), "gRPC listen address (env LISTEN_ADDR)")
	fs.StringVar(&c.AdminListen, "admin-listen", env("admin-addr", spec.AdminAddr), "admin HTTP listen address for /metrics and /healthz; empty disables (env ADMIN_ADDR)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("database-url", ""), "PostgreSQL URL of the service's own database (env DATABASE_URL)")
	c.Process.RegisterFlags(fs, getenv, "calls")
	maxConns := fs.String("db-max-conns", env("db-max-conns", "20"), "maximum open database connections (env DB_MAX_CONNS)")
	stmtCache := fs.String("db-statement-cache", env("db-statement-cache", strconv.Itoa(pgdb.DefaultStatementCacheSize)),
		"prepared statements kept per database connection; 0 prepares none (env DB_STATEMENT_CACHE)")
	durations := []struct {
		flag, def, usage string
		dst              *time.Duration
	}{
		{"db-statement-timeout", "10s", "statement_timeout of every database connection; 0 keeps the server's", &c.DBStatementTimeout},
		{"db-lock-timeout", "5s", "lock_timeout of every database connection: the longest wait for a row lock; 0 keeps the server's", &c.DBLockTimeout},
		{"db-idle-in-tx-timeout", "30s", "idle_in_transaction_session_timeout of every database connection; 0 keeps the server's", &c.DBIdleInTxTimeout},
		{"db-conn-wait-timeout", "5s", "longest wait for a free pooled database connection before answering UNAVAILABLE; 0 waits for the request's deadline", &c.DBConnWaitTimeout},
	}
	positive := []struct {
		flag, def, usage string
		dst              *time.Duration
	}{
		{"db-check-interval", "2s", "how often readiness pings the database", &c.DBCheckInterval},
		{"db-check-timeout", "1s", "how long a readiness ping may take before the service reports NOT_SERVING", &c.DBCheckTimeout},
	}
	positiveFlags := make([]*string, len(positive))
	for i, d := range positive {
		positiveFlags[i] = fs.String(d.flag, env(d.flag, d.def), fmt.Sprintf("%s (env %s)", d.usage, process.EnvName(d.flag)))
	}
	durationFlags := make([]*string, len(durations))
	for i, d := range durations {
		durationFlags[i] = fs.String(d.flag, env(d.flag, d.def), fmt.Sprintf("%s (env %s)", d.usage, process.EnvName(d.flag)))
	}
	callTimeout := fs.String("call-timeout", env("call-timeout", "5s"), "deadline of calls to other services (env CALL_TIMEOUT)")
	peers := make(map[string]*string)
	for _, p := range spec.Peers {
		name := p.Name + "-addr"
		peers[p.Name] = fs.String(name, env(name, p.Addr), fmt.Sprintf("gRPC address of the %s service (env %s)", p.Name, process.EnvName(name)))
	}
	c.Auth.RegisterFlags(fs, getenv, spec.Name)
	loadAdmission := admissionflag.RegisterFlags(fs, getenv, "", "calls", DefaultAdmission)
	opts := make(map[string]*string)
	for _, o := range spec.Options {
		opts[o.Name] = fs.String(o.Name, env(o.Name, o.Default), fmt.Sprintf("%s (env %s)", o.Usage, process.EnvName(o.Name)))
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := c.Process.Load(); err != nil {
		return c, err
	}
	var err error
	if c.DBMaxConns, err = strconv.Atoi(*maxConns); err != nil || c.DBMaxConns < 1 {
		return c, fmt.Errorf("db-max-conns (DB_MAX_CONNS): want a positive integer, got %q", *maxConns)
	}
	if c.DBStatementCache, err = strconv.Atoi(*stmtCache); err != nil || c.DBStatementCache < 0 {
		return c, fmt.Errorf("db-statement-cache (DB_STATEMENT_CACHE): want 0 (off) or a positive integer, got %q", *stmtCache)
	}
	for i, d := range durations {
		if *d.dst, err = time.ParseDuration(*durationFlags[i]); err != nil || *d.dst < 0 {
			return c, fmt.Errorf("%s (%s): want a duration such as %s, or 0, got %q", d.flag, process.EnvName(d.flag), d.def, *durationFlags[i])
		}
	}
	for i, d := range positive {
		if *d.dst, err = time.ParseDuration(*positiveFlags[i]); err != nil || *d.dst <= 0 {
			return c, fmt.Errorf("%s (%s): want a positive duration such as %s, got %q", d.flag, process.EnvName(d.flag), d.def, *positiveFlags[i])
		}
	}
	if c.CallTimeout, err = time.ParseDuration(*callTimeout); err != nil || c.CallTimeout <= 0 {
		return c, fmt.Errorf("call-timeout (CALL_TIMEOUT): want a positive duration such as 5s, got %q", *callTimeout)
	}
	if c.DatabaseURL == "" {
		return c, fmt.Errorf("database-url (DATABASE_URL) is required, e.g. postgres://postgres@localhost:5432/%s?sslmode=disable", spec.Name)
	}
	if err := c.Auth.Load(); err != nil {
		return c, err
	}
	if c.Admission, err = loadAdmission(); err != nil {
		return c, err
	}
	c.Peers = make(map[string]string)
	for name, v := range peers {
		if *v == "" {
			return c, fmt.Errorf("%s-addr (%s) is required", name, process.EnvName(name+"-addr"))
		}
		c.Peers[name] = *v
	}
	c.Options = make(map[string]string)
	for name, v := range opts {
		c.Options[name] = *v
	}
	return c, nil
}
