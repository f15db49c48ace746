// Command gateway serves kassa's public REST/JSON API in front of the four
// gRPC services. Run with -h for its settings.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/kassa-dev/kassa/gateway"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/process"
	"github.com/kassa-dev/kassa/services/platform/telemetry"
)

// version is the release this binary was built from, set at link time
// (go build -ldflags "-X main.version=$(git describe --tags --always --dirty)";
// make run, make e2e and the container image do). It becomes info.version
// of the served OpenAPI document.
var version string

// buildVersion is version, else the module version go install records
// (gateway@v1.2.3), else empty: the document keeps "unreleased".
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return ""
}

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// run is the whole life of the process: it serves until ctx is cancelled
// or SIGINT/SIGTERM arrives, then lets in-flight requests finish.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := gateway.ParseConfig(args[1:], getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, tel, stopTelemetry, err := process.Start(ctx, "gateway", cfg.Process, getenv, stdout)
	if err != nil {
		return err
	}
	defer stopTelemetry()
	cfg.Registerer = tel.Registry
	cfg.Telemetry = tel
	// From the signal on /readyz answers 503, while the server lets the
	// requests in flight finish.
	cfg.Draining = ctx.Done()
	cfg.Version = buildVersion()

	subject, closeVerifier, err := verifiedSubject(ctx, cfg.Auth)
	if err != nil {
		return err
	}
	defer closeVerifier()
	cfg.Subject = subject

	handler, cleanup, err := gateway.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer cleanup()

	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (listen, LISTEN_ADDR): %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second, // whole request, body included: no slow-body clients
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	adminAddr, stopAdmin, err := telemetry.ServeAdmin(cfg.AdminListen, telemetry.AdminHandler(tel.Registry, cfg.Process.Pprof), log)
	if err != nil {
		lis.Close()
		return err
	}
	defer stopAdmin()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	log.Info("serving", "http", lis.Addr().String(), "admin", adminAddr, "pprof", cfg.Process.Pprof, "trace_export", tel.Exporting,
		"user", cfg.UserAddr, "billing", cfg.BillingAddr, "order", cfg.OrderAddr, "notification", cfg.NotificationAddr)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "grace", cfg.Process.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.Process.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("grace period over, closing remaining connections", "error", err)
		_ = srv.Close()
	}
	log.Info("stopped")
	return nil
}

// verifiedSubject returns the per-user rate-limit key of a bearer token:
// the subject of a token the platform verifier accepts (a user id, or
// "service:<name>"), and false for any other token, which then counts
// against its address only. Verifying here means a forged token cannot
// spend another user's budget. Without an issuer (-auth-issuer empty) no
// token is trusted. Key sets are fetched lazily, so the gateway may start
// before the user service.
func verifiedSubject(ctx context.Context, c auth.Config) (gateway.SubjectFunc, func(), error) {
	if c.Issuer == "" {
		return func(context.Context, string) (string, bool) { return "", false }, func() {}, nil
	}
	v, err := auth.NewVerifier(ctx, auth.VerifierOptions{Issuers: c.Issuers()})
	if err != nil {
		return nil, nil, fmt.Errorf("token verifier: %w", err)
	}
	return func(ctx context.Context, token string) (string, bool) {
		p, err := v.Verify(ctx, token)
		if err != nil {
			return "", false
		}
		if p.Service != "" {
			return "service:" + p.Service, true
		}
		return p.UserID, p.UserID != ""
	}, v.Close, nil
}
