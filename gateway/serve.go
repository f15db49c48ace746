package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/telemetry"
)

// Serve is the gateway's life once its settings are read and its log and
// telemetry started: it serves cfg.Listen and the admin listener until ctx
// is done, then answers /readyz with 503 while the requests in flight
// finish (up to the shutdown timeout). cmd/gateway runs it on its own, the
// all-in-one process with in-process upstreams (Config.Upstreams).
func Serve(ctx context.Context, cfg Config, log *slog.Logger, tel *telemetry.Telemetry) error {
	cfg.Registerer = tel.Registry
	cfg.Telemetry = tel
	// From the signal on /readyz answers 503, while the server lets the
	// requests in flight finish.
	cfg.Draining = ctx.Done()

	subject, closeVerifier, err := VerifiedSubject(ctx, cfg.Auth)
	if err != nil {
		return err
	}
	defer closeVerifier()
	cfg.Subject = subject

	handler, cleanup, err := New(ctx, cfg, log)
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
	upstreams := []any{"user", cfg.UserAddr, "billing", cfg.BillingAddr, "order", cfg.OrderAddr, "notification", cfg.NotificationAddr}
	if len(cfg.Upstreams) > 0 {
		upstreams = []any{"upstreams", "in process"}
	}
	log.Info("serving", append([]any{"http", lis.Addr().String(), "admin", adminAddr, "pprof", cfg.Process.Pprof, "trace_export", tel.Exporting}, upstreams...)...)
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

// serviceSubjectPrefix starts the subject of a service's token.
const serviceSubjectPrefix = "service:"

// VerifiedSubject returns the per-user rate-limit key of a bearer token:
// the subject of a token the platform verifier accepts (a user id, or
// "service:<name>"), and false for any other token, which then counts
// against its address only. Verifying here means a forged token cannot
// spend another user's budget. Without an issuer (-auth-issuer empty) no
// token is trusted. Key sets are fetched lazily, so the gateway may start
// before the user service.
func VerifiedSubject(ctx context.Context, c auth.Config) (SubjectFunc, func(), error) {
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
			return serviceSubjectPrefix + p.Service, true
		}
		return p.UserID, p.UserID != ""
	}, v.Close, nil
}
