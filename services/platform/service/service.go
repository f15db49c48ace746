// Package service runs a kassa service process: configuration, logging,
// database and migrations, peer connections, the gRPC server, the admin
// listener and shutdown. A service's main only describes itself in a Spec.
package service

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
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/platform/server"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	// Setup registers the service's gRPC implementation on d.Server.
	Setup func(ctx context.Context, d *Deps) error
}

// Deps is what Setup gets to build the service from.
type Deps struct {
	Config Config
	Log    *slog.Logger
	DB     *sqlx.DB
	Server *grpc.Server
	// Peers holds a connection per Spec.Peers entry, by name.
	Peers map[string]*grpc.ClientConn
	wg    sync.WaitGroup
	ctx   context.Context
}

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
	log, err := newLogger(cfg, stdout)
	if err != nil {
		return err
	}
	log = log.With("service", spec.Name)

	db, err := pgdb.Open(ctx, cfg.DatabaseURL, pgdb.Options{MaxOpenConns: cfg.DBMaxConns})
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

	d := &Deps{Config: cfg, Log: log, DB: db, Peers: make(map[string]*grpc.ClientConn)}
	for _, p := range spec.Peers {
		conn, err := server.Dial(cfg.Peers[p.Name], cfg.CallTimeout)
		if err != nil {
			return err
		}
		defer conn.Close()
		d.Peers[p.Name] = conn
	}
	srv := server.New(log)
	d.Server = srv.GRPC
	bg, cancelBg := context.WithCancel(ctx)
	defer cancelBg()
	d.ctx = bg
	if err := spec.Setup(bg, d); err != nil {
		return fmt.Errorf("set up %s: %w", spec.Name, err)
	}

	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (listen, LISTEN_ADDR): %w", cfg.Listen, err)
	}
	stopAdmin, err := startAdmin(cfg.AdminListen, log)
	if err != nil {
		lis.Close()
		return err
	}
	defer stopAdmin()
	log.Info("serving", "grpc", lis.Addr().String(), "admin", cfg.AdminListen, "peers", cfg.Peers)
	err = srv.Serve(ctx, lis, cfg.ShutdownTimeout)
	cancelBg()
	d.wg.Wait()
	log.Info("stopped")
	return err
}

func newLogger(cfg Config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("log-level (LOG_LEVEL): %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

// startAdmin serves /metrics and /healthz on addr (not on the gRPC port,
// so they are never exposed with the public API).
func startAdmin(addr string, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (admin-listen, ADMIN_ADDR): %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server", "error", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
