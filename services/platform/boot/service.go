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
)

// Spec describes a service.
type Spec struct {
	Name      string // "billing"
	Addr      string // default gRPC address, ":50052"
	AdminAddr string // default admin address, ":9102"
	// Migrations is the folder of goose SQL migrations (embedded).
	Migrations fs.FS
	Peers      []Peer
	Options    []Option
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
	Server *grpc.Server
	// Peers holds a connection per Spec.Peers entry, by name. Calls on
	// them are traced and measured (grpc_client_*), and retried when the
	// peer answers UNAVAILABLE (rpcserver.WithRetries): every call between
	// kassa services must be a read or carry an idempotency key.
	Peers map[string]*grpc.ClientConn
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

// Run is the whole life of a service process. args[0] is the program name.
// It returns when ctx is cancelled or SIGINT/SIGTERM arrives and the server
// has drained.
func Run(ctx context.Context, spec Spec, args []string, getenv func(string) string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmd, rest := "serve", args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		cmd, rest = rest[0], rest[1:]
	}
	if cmd != "serve" && cmd != "migrate" {
		fmt.Fprintf(stdout, usage, spec.Name)
		return fmt.Errorf("unknown command %q", cmd)
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
		return err
	}
	defer db.Close()
	if err := pgdb.Migrate(ctx, db.DB, spec.Migrations, log); err != nil {
		return err
	}
	if cmd == "migrate" {
		return nil
	}
	if err := tel.RegisterDB(db.DB); err != nil {
		return err
	}

	d := &Deps{Config: cfg, Log: log, DB: db, Peers: make(map[string]*grpc.ClientConn), Metrics: tel.Registry, Telemetry: tel,
		Admin: http.NewServeMux()}
	for _, p := range spec.Peers {
		opts := append(tel.DialOptions(), grpc.WithPerRPCCredentials(peerCredentials{d}))
		if !p.NoRetry {
			opts = append(opts, rpcclient.WithRetries())
		}
		conn, err := rpcclient.Dial(cfg.Peers[p.Name], cfg.CallTimeout, opts...)
		if err != nil {
			return err
		}
		defer conn.Close()
		d.Peers[p.Name] = conn
	}
	// Readiness pings on a connection of its own: through the service's
	// pool, a ping would wait behind busy requests and report a loaded
	// database as a missing one. A ping that finds its connection dead
	// gets a new one (database/sql retries a bad connection), so the
	// check recovers when the database does.
	probe, err := pgdb.Open(ctx, cfg.DatabaseURL, pgdb.Options{MaxOpenConns: 1, StatementCacheSize: -1, ConnWaitTimeout: -1})
	if err != nil {
		return err
	}
	defer probe.Close()
	var guard *auth.Guard
	if spec.Auth != nil {
		v, err := auth.NewVerifier(ctx, auth.VerifierOptions{Issuers: cfg.Auth.Issuers()})
		if err != nil {
			return err
		}
		defer v.Close()
		d.Verifier = v
		guard = &auth.Guard{Verifier: v, Rules: spec.Auth}
	}
	adm := cfg.Admission
	adm.What = "the " + spec.Name + " service"
	srv := rpcserver.NewServer(log, rpcserver.Options{Telemetry: tel, Guard: guard,
		Admission: &rpcserver.Admission{Name: spec.Name, Config: adm, NeverShed: spec.NeverShed}})
	srv.SetReadiness(rpcserver.Readiness{Check: probe.PingContext, Interval: cfg.DBCheckInterval, Timeout: cfg.DBCheckTimeout})
	d.Server = srv.GRPC
	bg, cancelBg := context.WithCancel(ctx)
	defer cancelBg()
	d.ctx = bg
	if err := spec.Setup(bg, d); err != nil {
		return fmt.Errorf("set up %s: %w", spec.Name, err)
	}
	if spec.Auth != nil {
		if err := auth.CheckServer(srv.GRPC, spec.Auth); err != nil {
			return fmt.Errorf("set up %s: %w", spec.Name, err)
		}
	} else {
		log.Warn("access checks not enforced: this service has no access rules yet (Spec.Auth), every caller is let through")
	}

	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (listen, LISTEN_ADDR): %w", cfg.Listen, err)
	}
	adminAddr, stopAdmin, err := telemetry.ServeAdmin(cfg.AdminListen, adminHandler(d.Admin, telemetry.AdminHandler(tel.Registry, cfg.Process.Pprof)), log)
	if err != nil {
		lis.Close()
		return err
	}
	defer stopAdmin()
	log.Info("serving", "grpc", lis.Addr().String(), "admin", adminAddr, "pprof", cfg.Process.Pprof,
		"trace_export", tel.Exporting, "peers", cfg.Peers, "auth_enforced", spec.Auth != nil,
		"auth_issuers", issuerNames(cfg.Auth.Issuers()))
	err = srv.Serve(ctx, lis, cfg.Process.ShutdownTimeout)
	cancelBg()
	d.wg.Wait()
	log.Info("stopped")
	return err
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
