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
	// Peers maps a peer name ("billing") to its gRPC address (empty in
	// a process that reaches its peers in process, see Declare).
	Peers map[string]string
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

// parseConfig reads flags from args (without the program name and
// subcommand) with environment fallbacks.
func parseConfig(spec Spec, args []string, getenv func(string) string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet(spec.Name, flag.ContinueOnError)
	fs.SetOutput(out)
	load := Declare(spec, fs, getenv, true)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return load()
}

// Declare declares the settings of the service spec on fs, the shared ones
// and the service's own (Spec.Flags), each defaulting to its environment
// variable read through getenv, and returns the function that reads and
// checks them once fs is parsed. peerAddrs declares the address of each
// of Spec.Peers (-billing-addr); a process that reaches its peers in
// process has none.
func Declare(spec Spec, fs *flag.FlagSet, getenv func(string) string, peerAddrs bool) (load func() (Config, error)) {
	env := func(name, def string) string { return process.EnvOr(getenv, process.EnvName(name), def) }
	var c Config
	fs.StringVar(&c.Listen, "listen", env("listen-addr", spec.Addr), "gRPC listen address (env LISTEN_ADDR)")
	fs.StringVar(&c.AdminListen, "admin-listen", env("admin-addr", spec.AdminAddr), "admin HTTP listen address for /metrics and /healthz; empty disables (env ADMIN_ADDR)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("database-url", ""), "PostgreSQL URL of the service's own database (env DATABASE_URL)")
	c.Process.RegisterFlags(fs, getenv, "calls")
	maxConns := fs.String("db-max-conns", env("db-max-conns", "20"), "maximum open database connections (env DB_MAX_CONNS)")
	stmtCache := fs.String("db-statement-cache", env("db-statement-cache", strconv.Itoa(pgdb.DefaultStatementCacheSize)),
		"prepared statements kept per database connection; 0 prepares none (env DB_STATEMENT_CACHE)")
	durations := []durationSetting{
		{flag: "db-statement-timeout", def: "10s", usage: "statement_timeout of every database connection; 0 keeps the server's", dst: &c.DBStatementTimeout},
		{flag: "db-lock-timeout", def: "5s", usage: "lock_timeout of every database connection: the longest wait for a row lock; 0 keeps the server's", dst: &c.DBLockTimeout},
		{flag: "db-idle-in-tx-timeout", def: "30s", usage: "idle_in_transaction_session_timeout of every database connection; 0 keeps the server's", dst: &c.DBIdleInTxTimeout},
		{flag: "db-conn-wait-timeout", def: "5s", usage: "longest wait for a free pooled database connection before answering UNAVAILABLE; 0 waits for the request's deadline", dst: &c.DBConnWaitTimeout},
		{flag: "db-check-interval", def: "2s", usage: "how often readiness pings the database", dst: &c.DBCheckInterval, positive: true},
		{flag: "db-check-timeout", def: "1s", usage: "how long a readiness ping may take before the service reports NOT_SERVING", dst: &c.DBCheckTimeout, positive: true},
	}
	for i := range durations {
		d := &durations[i]
		d.value = fs.String(d.flag, env(d.flag, d.def), fmt.Sprintf("%s (env %s)", d.usage, process.EnvName(d.flag)))
	}
	callTimeout := fs.String("call-timeout", env("call-timeout", "5s"), "deadline of calls to other services (env CALL_TIMEOUT)")
	peers := make(map[string]*string)
	for _, p := range spec.Peers {
		if !peerAddrs {
			break
		}
		name := p.Name + "-addr"
		peers[p.Name] = fs.String(name, env(name, p.Addr), fmt.Sprintf("gRPC address of the %s service (env %s)", p.Name, process.EnvName(name)))
	}
	c.Auth.RegisterFlags(fs, getenv, spec.Name)
	loadAdmission := admissionflag.RegisterFlags(fs, getenv, "", "calls", DefaultAdmission)
	own := NewFlags(fs, getenv)
	if spec.Flags != nil {
		spec.Flags(own)
	}
	d := declared{c: &c, spec: spec, own: own, peers: peers, loadAdmission: loadAdmission, maxConns: maxConns, stmtCache: stmtCache, callTimeout: callTimeout, durations: durations}
	return d.load
}

// durationSetting is a shared duration setting of Config: value is its
// flag's text, dst where it goes.
type durationSetting struct {
	flag, def, usage string
	dst              *time.Duration
	positive         bool // 0 is refused
	value            *string
}

// declared is what Declare declared, still to be read.
type declared struct {
	c                                *Config
	spec                             Spec
	own                              *Flags
	peers                            map[string]*string
	maxConns, stmtCache, callTimeout *string
	durations                        []durationSetting
	loadAdmission                    func() (admission.Config, error)
}

// load reads the parsed shared settings, then the service's own.
func (d declared) load() (Config, error) {
	c, maxConns, stmtCache, callTimeout, spec := d.c, d.maxConns, d.stmtCache, d.callTimeout, d.spec
	if err := c.Process.Load(); err != nil {
		return *c, err
	}
	var err error
	if c.DBMaxConns, err = strconv.Atoi(*maxConns); err != nil || c.DBMaxConns < 1 {
		return *c, fmt.Errorf("db-max-conns (DB_MAX_CONNS): want a positive integer, got %q", *maxConns)
	}
	if c.DBStatementCache, err = strconv.Atoi(*stmtCache); err != nil || c.DBStatementCache < 0 {
		return *c, fmt.Errorf("db-statement-cache (DB_STATEMENT_CACHE): want 0 (off) or a positive integer, got %q", *stmtCache)
	}
	for _, s := range d.durations {
		*s.dst, err = time.ParseDuration(*s.value)
		switch {
		case s.positive && (err != nil || *s.dst <= 0):
			return *c, fmt.Errorf("%s (%s): want a positive duration such as %s, got %q", s.flag, process.EnvName(s.flag), s.def, *s.value)
		case err != nil || *s.dst < 0:
			return *c, fmt.Errorf("%s (%s): want a duration such as %s, or 0, got %q", s.flag, process.EnvName(s.flag), s.def, *s.value)
		}
	}
	if c.CallTimeout, err = time.ParseDuration(*callTimeout); err != nil || c.CallTimeout <= 0 {
		return *c, fmt.Errorf("call-timeout (CALL_TIMEOUT): want a positive duration such as 5s, got %q", *callTimeout)
	}
	if c.DatabaseURL == "" {
		return *c, fmt.Errorf("database-url (DATABASE_URL) is required, e.g. postgres://postgres@localhost:5432/%s?sslmode=disable", spec.Name)
	}
	if err := c.Auth.Load(); err != nil {
		return *c, err
	}
	if c.Admission, err = d.loadAdmission(); err != nil {
		return *c, err
	}
	c.Peers = make(map[string]string)
	for name, v := range d.peers {
		if *v == "" {
			return *c, fmt.Errorf("%s-addr (%s) is required", name, process.EnvName(name+"-addr"))
		}
		c.Peers[name] = *v
	}
	if err := d.own.Parse(); err != nil {
		return *c, err
	}
	return *c, nil
}
