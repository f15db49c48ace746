// Package boot runs a kassa service process: configuration, logging,
// telemetry (metrics and traces), database and migrations, peer
// connections, the gRPC server, the admin listener and shutdown. A
// service's main only describes itself in a Spec and calls Run.
package boot

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/platform/process"
	"github.com/kassa-dev/kassa/services/platform/rpcclient"
	"github.com/kassa-dev/kassa/services/platform/rpcserver"
	"github.com/kassa-dev/kassa/services/platform/telemetry"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Spec describes a service.
type Spec struct {
	Name      string // "billing"
	Addr      string // default gRPC address, ":50052"
	AdminAddr string // default admin address, ":9102"
	// Migrations is the folder of goose SQL migrations (embedded).
	Migrations fs.FS
	Peers      []Peer
	// Flags declares the service's own settings (nil: none) into typed
	// destinations that Setup reads: they are parsed and checked with the
	// shared ones, before anything starts.
	Flags func(f *Flags)
	// Auth is the access rule of every gRPC method the service registers
	// (full method name → rule). When set, every call must satisfy its
	// method's rule, a method without a rule is refused, and Run refuses
	// to start if a registered method has none. Nil: no checks yet (a
	// service not converted to tokens); the start log says so.
	Auth map[string]auth.Rule
	// NeverShed lists full method names that the service's admission
	// control always admits, besides health, reflection and the admin
	// services (see rpcserver.Admission).
	NeverShed []string
	// Setup registers the service's gRPC implementation on d.Server.
	Setup func(ctx context.Context, d *Deps) error
}

// Deps is what Setup gets to build the service from.
type Deps struct {
	Config Config
	Log    *slog.Logger
	DB     *sqlx.DB
	// Server is the gRPC server and its in-process channels, for the
	// service to register on.
	Server grpc.ServiceRegistrar
	// Peers holds a connection per Spec.Peers entry, by name: over the
	// network, or in process in the all-in-one process. Calls on them are
	// traced and measured (grpc_client_*), and retried when the peer
	// answers UNAVAILABLE (rpcclient.WithRetries): every call between
	// kassa services must be a read or carry an idempotency key.
	Peers map[string]grpc.ClientConnInterface
	// Metrics is the registry the admin listener serves on /metrics: the
	// service registers its business metrics here.
	Metrics prometheus.Registerer
	// Telemetry is the process's registry and tracer provider.
	Telemetry *telemetry.Telemetry
	// Verifier checks bearer tokens against the configured issuers (nil
	// when Spec.Auth is nil).
	Verifier *auth.Verifier
	// Admin is mounted on the admin listener next to /metrics and
	// /healthz, for handlers that must stay off the public port (the user
	// service's /.well-known/jwks.json). Its patterns take precedence.
	Admin      *http.ServeMux
	peerTokens atomic.Pointer[auth.TokenSource]
	wg         sync.WaitGroup
	ctx        context.Context
}

// UsePeerTokens makes every call on Deps.Peers carry a token from ts (the
// service's own identity, e.g. auth.ClientCredentials against the user
// service). Call it in Setup before starting background work: calls made
// before it go without a token.
func (d *Deps) UsePeerTokens(ts auth.TokenSource) { d.peerTokens.Store(&ts) }

// TokenExchange is the client credentials grant of the identity provider:
// it trades this service's client id and secret for an access token and
// its lifetime. Each service passes the call of the user service's
// AuthService.Token through its generated client (platform imports no
// contract).
type TokenExchange func(ctx context.Context, clientID, clientSecret string) (token string, expiresIn time.Duration, err error)

// UseServiceToken makes every peer call carry this service's own token
// (-auth-client-id, -auth-client-secret), fetched with exchange on the
// first peer call, cached and renewed shortly before it expires
// (auth.ClientCredentials). why says what the identity is for, in the
// error of a service started without a secret.
func (d *Deps) UseServiceToken(why string, exchange TokenExchange) error {
	cfg := d.Config.Auth
	if cfg.ClientSecret == "" {
		return fmt.Errorf("%w: %s as service %q", auth.ErrNoClientSecret, why, cfg.ClientID)
	}
	d.UsePeerTokens(auth.ClientCredentials(func(ctx context.Context) (string, time.Duration, error) {
		token, ttl, err := exchange(ctx, cfg.ClientID, cfg.ClientSecret)
		if err != nil {
			return "", 0, fmt.Errorf("service token for %q from the user service: %w", cfg.ClientID, err)
		}
		return token, ttl, nil
	}))
	return nil
}

// peerCredentials sends the token of UsePeerTokens, or none before it.
type peerCredentials struct{ d *Deps }

func (p peerCredentials) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	ts := p.d.peerTokens.Load()
	if ts == nil {
		return nil, nil
	}
	return auth.PerRPCCredentials(*ts).GetRequestMetadata(ctx, uri...)
}

// RequireTransportSecurity: see auth.PerRPCCredentials.
func (peerCredentials) RequireTransportSecurity() bool { return false }

// Go runs fn in the background until shutdown; Run waits for it to return
// after the gRPC server has stopped.
func (d *Deps) Go(fn func(ctx context.Context)) {
	d.wg.Add(1)
	go func() { defer d.wg.Done(); fn(d.ctx) }()
}

const usage = `usage: %[1]s [serve|migrate] [flags]

  serve    apply migrations and serve gRPC (default)
  migrate  apply migrations and exit (for deploy jobs)

flags (each also read from the environment variable shown):
`

// Command splits a service binary's arguments (without the program name)
// into its command, "serve" (the default) or "migrate", and its flags.
func Command(args []string) (cmd string, flags []string, err error) {
	cmd, flags = "serve", args
	if len(flags) > 0 && !strings.HasPrefix(flags[0], "-") {
		cmd, flags = flags[0], flags[1:]
	}
	if cmd != "serve" && cmd != "migrate" {
		return cmd, flags, fmt.Errorf("unknown command %q", cmd)
	}
	return cmd, flags, nil
}

// Run is the whole life of a service process. args[0] is the program name.
// It returns when ctx is cancelled or SIGINT/SIGTERM arrives and the server
// has drained.
func Run(ctx context.Context, spec Spec, args []string, getenv func(string) string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmd, rest, err := Command(args[1:])
	if err != nil {
		fmt.Fprintf(stdout, usage, spec.Name)
		return err
	}
	cfg, err := parseConfig(spec, rest, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, tel, stopTelemetry, err := process.Start(ctx, spec.Name, cfg.Process, getenv, stdout)
	if err != nil {
		return err
	}
	defer stopTelemetry()
	if cmd == "migrate" {
		return Migrate(ctx, spec, cfg, tel, log)
	}
	svc, err := Build(ctx, spec, cfg, Env{Log: log, Telemetry: tel, Connect: dialPeer(cfg, tel)})
	if err != nil {
		return err
	}
	return svc.Serve(ctx)
}

// dialPeer connects to peers over the network, at their -<peer>-addr.
func dialPeer(cfg Config, tel *telemetry.Telemetry) func(Peer, credentials.PerRPCCredentials) (grpc.ClientConnInterface, func(), error) {
	return func(p Peer, creds credentials.PerRPCCredentials) (grpc.ClientConnInterface, func(), error) {
		opts := append(tel.DialOptions(), grpc.WithPerRPCCredentials(creds))
		if !p.NoRetry {
			opts = append(opts, rpcclient.WithRetries())
		}
		conn, err := rpcclient.Dial(cfg.Peers[p.Name], cfg.CallTimeout, opts...)
		if err != nil {
			return nil, nil, err
		}
		return conn, func() { conn.Close() }, nil
	}
}

// Env is what a service is built with besides its configuration.
type Env struct {
	Log       *slog.Logger
	Telemetry *telemetry.Telemetry
	// Connect returns the connection to peer p on which every call
	// carries creds' metadata (the service's token, once Setup chose
	// one), and what closes it.
	Connect func(p Peer, creds credentials.PerRPCCredentials) (grpc.ClientConnInterface, func(), error)
	// Server, when set, is the server to build the service on instead of
	// a new one: made beforehand by NewServer, so that in-process peers
	// could be given its channels before it was built. Verifier is then
	// the one NewServer returned; the caller closes it.
	Server   *rpcserver.Server
	Verifier *auth.Verifier
}

// Service is a service Build has built: its database open and migrated,
// its gRPC server holding its implementation, its background work
// started. Serve serves it; Close releases it unserved.
type Service struct {
	Name   string
	Server *rpcserver.Server
	cfg    Config
	log    *slog.Logger
	tel    *telemetry.Telemetry
	d      *Deps
	cancel context.CancelFunc
	// authEnforced: Spec.Auth is set.
	authEnforced bool
	// closers release what Build acquired, run last to first.
	closers []func()
}

// NewServer is the gRPC server of spec, with kassa's interceptors and,
// when spec.Auth is set, its access checks against cfg's issuers. Build
// makes one itself unless Env.Server is one made here.
func NewServer(ctx context.Context, spec Spec, cfg Config, log *slog.Logger, tel *telemetry.Telemetry) (*rpcserver.Server, *auth.Verifier, error) {
	adm := cfg.Admission
	adm.What = "the " + spec.Name + " service"
	o := rpcserver.Options{Telemetry: tel, Admission: &rpcserver.Admission{Name: spec.Name, Config: adm, NeverShed: spec.NeverShed}}
	if spec.Auth == nil {
		return rpcserver.NewServer(log, o), nil, nil
	}
	v, err := auth.NewVerifier(ctx, auth.VerifierOptions{Issuers: cfg.Auth.Issuers()})
	if err != nil {
		return nil, nil, err
	}
	o.Guard = &auth.Guard{Verifier: v, Rules: spec.Auth}
	return rpcserver.NewServer(log, o), v, nil
}

// Build opens the service's database, applies its migrations, connects its
// peers and runs spec.Setup, which registers the service and starts its
// background work. ctx is the service's life: its background work stops
// when ctx ends (as Serve begins to drain), or at Close.
func Build(ctx context.Context, spec Spec, cfg Config, env Env) (_ *Service, err error) {
	log, tel := env.Log, env.Telemetry
	s := &Service{Name: spec.Name, cfg: cfg, log: log, tel: tel, cancel: func() {}, authEnforced: spec.Auth != nil}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	db, err := openDB(ctx, spec, cfg, tel, log)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { db.Close() })
	if err := tel.RegisterDB(db.DB); err != nil {
		return nil, err
	}

	d := &Deps{Config: cfg, Log: log, DB: db, Peers: make(map[string]grpc.ClientConnInterface), Metrics: tel.Registry, Telemetry: tel,
		Admin: http.NewServeMux()}
	s.d = d
	for _, p := range spec.Peers {
		conn, closeConn, err := env.Connect(p, peerCredentials{d})
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, closeConn)
		d.Peers[p.Name] = conn
	}
	// Readiness pings on a connection of its own: through the service's
	// pool, a ping would wait behind busy requests and report a loaded
	// database as a missing one. A ping that finds its connection dead
	// gets a new one (database/sql retries a bad connection), so the
	// check recovers when the database does.
	probe, err := pgdb.Open(ctx, cfg.DatabaseURL, pgdb.Options{MaxOpenConns: 1, StatementCacheSize: -1, ConnWaitTimeout: -1})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { probe.Close() })
	srv, v := env.Server, env.Verifier
	if srv == nil {
		if srv, v, err = NewServer(ctx, spec, cfg, log, tel); err != nil {
			return nil, err
		}
		if v != nil {
			s.closers = append(s.closers, v.Close)
		}
	}
	d.Verifier = v
	s.Server = srv
	srv.SetReadiness(rpcserver.Readiness{Check: probe.PingContext, Interval: cfg.DBCheckInterval, Timeout: cfg.DBCheckTimeout})
	d.Server = srv
	bg, cancelBg := context.WithCancel(ctx)
	s.cancel = cancelBg
	d.ctx = bg
	if err := spec.Setup(bg, d); err != nil {
		return nil, fmt.Errorf("set up %s: %w", spec.Name, err)
	}
	if spec.Auth != nil {
		if err := auth.CheckServer(srv.GRPC, spec.Auth); err != nil {
			return nil, fmt.Errorf("set up %s: %w", spec.Name, err)
		}
	} else {
		log.Warn("access checks not enforced: this service has no access rules yet (Spec.Auth), every caller is let through")
	}
	return s, nil
}

// Serve listens on the service's gRPC and admin addresses and serves
// until ctx is done, then drains (rpcserver.Server.Serve), stops the
// background work and releases everything.
func (s *Service) Serve(ctx context.Context) error {
	defer s.Close()
	lis, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (listen, LISTEN_ADDR): %w", s.cfg.Listen, err)
	}
	adminAddr, stopAdmin, err := telemetry.ServeAdmin(s.cfg.AdminListen, adminHandler(s.d.Admin, telemetry.AdminHandler(s.tel.Registry, s.cfg.Process.Pprof)), s.log)
	if err != nil {
		lis.Close()
		return err
	}
	defer stopAdmin()
	s.log.Info("serving", "grpc", lis.Addr().String(), "admin", adminAddr, "pprof", s.cfg.Process.Pprof,
		"trace_export", s.tel.Exporting, "peers", s.cfg.Peers, "auth_enforced", s.authEnforced,
		"auth_issuers", issuerNames(s.cfg.Auth.Issuers()))
	err = s.Server.Serve(ctx, lis, s.cfg.Process.ShutdownTimeout)
	s.cancel()
	s.d.wg.Wait()
	s.log.Info("stopped")
	return err
}

// Close stops the background work and releases what Build acquired. It
// is safe to call more than once.
func (s *Service) Close() {
	s.cancel()
	if s.d != nil {
		s.d.wg.Wait()
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// Migrate applies the service's migrations to its database and closes
// the connection: the serve-less start of `<svc> migrate` and
// `kassa migrate`.
func Migrate(ctx context.Context, spec Spec, cfg Config, tel *telemetry.Telemetry, log *slog.Logger) error {
	db, err := openDB(ctx, spec, cfg, tel, log)
	if err != nil {
		return err
	}
	return db.Close()
}

// openDB opens the service's pool and applies its migrations.
func openDB(ctx context.Context, spec Spec, cfg Config, tel *telemetry.Telemetry, log *slog.Logger) (*sqlx.DB, error) {
	db, err := pgdb.Open(ctx, cfg.DatabaseURL, pgdb.Options{
		MaxOpenConns:       cfg.DBMaxConns,
		StatementCacheSize: statementCacheSize(cfg.DBStatementCache),
		StatementTimeout:   serverDefaultIfZero(cfg.DBStatementTimeout),
		LockTimeout:        serverDefaultIfZero(cfg.DBLockTimeout),
		IdleInTxTimeout:    serverDefaultIfZero(cfg.DBIdleInTxTimeout),
		ConnWaitTimeout:    serverDefaultIfZero(cfg.DBConnWaitTimeout),
		TracerProvider:     tel.DBTracerProvider(),
	})
	if err != nil {
		return nil, err
	}
	if err := pgdb.Migrate(ctx, db.DB, spec.Migrations, log); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// adminHandler serves the service's own admin routes, and the standard
// ones (metrics, healthz, pprof) for every path they do not claim.
func adminHandler(own *http.ServeMux, std http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := own.Handler(r); pattern != "" {
			own.ServeHTTP(w, r)
			return
		}
		std.ServeHTTP(w, r)
	})
}

func issuerNames(is []auth.Issuer) []string {
	out := make([]string, len(is))
	for i, x := range is {
		out[i] = x.Issuer
	}
	return out
}

// statementCacheSize turns the setting (0 = off) into pgdb's option (0 =
// default, negative = off).
func statementCacheSize(setting int) int {
	if setting == 0 {
		return -1
	}
	return setting
}

// serverDefaultIfZero turns a duration setting (0 = leave it to the server,
// or for the connection wait, to the request's deadline) into pgdb's
// option (0 = pgdb's default, negative = off).
func serverDefaultIfZero(setting time.Duration) time.Duration {
	if setting == 0 {
		return -1
	}
	return setting
}
