// Package rpcserver builds the gRPC server every kassa service runs (the
// service's own API handlers live in its grpcserver package): metrics,
// tracing, logging, admission control (Options.Admission), access checks
// (auth.Guard), panic recovery, error mapping and text validation
// interceptors, the standard health service and server reflection (so
// grpcurl works without proto files), and a graceful shutdown.
package rpcserver

import (
	"context"
	"log/slog"
	"net"
	"runtime/debug"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/kassa-dev/kassa/services/platform/admission"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/telemetry"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// Server is a gRPC server with its health service. Register services on
// the Server itself (it is a grpc.ServiceRegistrar), so that its
// in-process channels (Channel) serve them too.
type Server struct {
	GRPC   *grpc.Server
	Health *health.Server
	log    *slog.Logger
	tel    *telemetry.Telemetry
	ready  Readiness
	// The interceptors GRPC runs, in order, for the in-process channels
	// to run the same.
	unary  []grpc.UnaryServerInterceptor
	stream []grpc.StreamServerInterceptor
	inproc inProcess

	admission        *Admission
	admissionMetrics *admissionMetrics
}

// New returns a server with kassa's interceptors, health and reflection,
// without metrics or tracing (see NewWith). Register services on s.GRPC
// before Serve.
func New(log *slog.Logger, opts ...grpc.ServerOption) *Server {
	return NewWith(log, nil, opts...)
}

// NewWith is New with the metrics and tracing of tel (nil: none). Every
// call then gets a server span (continuing the caller's trace from the
// traceparent metadata) and is counted and timed in grpc_server_*.
func NewWith(log *slog.Logger, tel *telemetry.Telemetry, opts ...grpc.ServerOption) *Server {
	return NewWithAuth(log, tel, nil, opts...)
}

// NewWithAuth is NewWith enforcing guard on every call (nil: no checks,
// for services not yet converted). The check runs inside the telemetry
// and logging interceptors, so a refused call is counted and logged with
// its code, and before recovery and text validation, so an unauthenticated
// caller reaches no handler and learns nothing about its request.
func NewWithAuth(log *slog.Logger, tel *telemetry.Telemetry, guard *auth.Guard, opts ...grpc.ServerOption) *Server {
	return NewServer(log, Options{Telemetry: tel, Guard: guard}, opts...)
}

// Options are what a server may have besides its logger; the zero value
// is New's server.
type Options struct {
	Telemetry *telemetry.Telemetry // metrics and tracing (see NewWith)
	Guard     *auth.Guard          // access checks (see NewWithAuth)
	// Admission bounds the calls served at once and sheds the excess
	// (nil: no bound). It runs after telemetry and logging, so a shed call
	// is counted and logged with its code, and before the access checks.
	Admission *Admission
}

// NewServer returns a server with kassa's interceptors and the options o.
func NewServer(log *slog.Logger, o Options, opts ...grpc.ServerOption) *Server {
	tel, guard := o.Telemetry, o.Guard
	onPanic := func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in handler", "panic", p, "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	}
	// First, so that a caller's own codec option would still win.
	opts = append([]grpc.ServerOption{grpc.ForceServerCodecV2(newTextCodec())}, opts...)
	// Before anything deep runs on the call's goroutine.
	unary := []grpc.UnaryServerInterceptor{presized}
	var stream []grpc.StreamServerInterceptor
	if tel != nil {
		// Outermost but for presized, so it sees the code
		// errorInterceptor maps and the time of the whole call.
		unary = append(unary, tel.UnaryServerInterceptor())
		stream = append(stream, tel.StreamServerInterceptor())
		opts = append(opts, tel.ServerOptions()...)
	}
	unary = append(unary,
		logging.UnaryServerInterceptor(Logger(log), logging.WithLogOnEvents(logging.FinishCall), logging.WithLevels(callLevel),
			logging.WithDurationField(durationMillis)),
		errorInterceptor(log),
	)
	var adm *admissionMetrics
	if o.Admission != nil {
		lim := admission.New(o.Admission.Config)
		var reg prometheus.Registerer
		if tel != nil {
			reg = tel.Registry
		}
		adm = newAdmissionMetrics(reg, o.Admission.Name, lim)
		unary = append(unary, admissionInterceptor(o.Admission, lim, adm))
	}
	if guard != nil {
		g := *guard
		if g.Log == nil {
			g.Log = log
		}
		unary = append(unary, g.UnaryServerInterceptor())
		stream = append(stream, g.StreamServerInterceptor())
	}
	unary = append(unary,
		recovery.UnaryServerInterceptor(recovery.WithRecoveryHandlerContext(onPanic)),
		textInterceptor(),
	)
	stream = append(stream, textStreamInterceptor(log))
	opts = append(opts, grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...))
	s := &Server{GRPC: grpc.NewServer(opts...), Health: health.NewServer(), log: log, tel: tel, unary: unary, stream: stream,
		admission: o.Admission, admissionMetrics: adm}
	healthpb.RegisterHealthServer(s, s.Health)
	reflection.Register(s.GRPC)
	return s
}

// RegisterService registers a service on the gRPC server and on every
// in-process channel of the server, those made before and after.
func (s *Server) RegisterService(desc *grpc.ServiceDesc, impl any) {
	s.GRPC.RegisterService(desc, impl)
	s.inproc.register(desc, impl)
}

// errorInterceptor maps handler errors to statuses (see grpcstatus.ToStatus).
func errorInterceptor(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			return nil, grpcstatus.ToStatus(ctx, log, info.FullMethod, err)
		}
		return resp, nil
	}
}

// callLevel is the level of a call's "finished call" line: a failed call
// at go-grpc-middleware's level for its code (INFO for a caller's
// mistake, WARN or ERROR for the server's), a successful one at DEBUG.
// A successful call is already in the gateway's access line, the
// metrics and the trace; at INFO an order wrote five lines, one per hop.
// -log-level debug shows them all.
func callLevel(c codes.Code) logging.Level {
	if c == codes.OK {
		return logging.LevelDebug
	}
	return logging.DefaultServerCodeToLevel(c)
}

// durationMillis is a call's duration in the "finished call" line, as a
// number of milliseconds (grpc.time_ms). The library's default makes
// the same field a string with fmt for every call, written or not: 1.3 %
// of the all-in-one process's CPU per order in BenchmarkCreateOrder.
func durationMillis(d time.Duration) logging.Fields {
	return logging.Fields{"grpc.time_ms", float64(d.Microseconds()) / 1000}
}

// Logger adapts slog to the go-grpc-middleware logging interface.
func Logger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}

// Serve serves on lis until ctx is done, then marks the server NOT_SERVING,
// lets in-flight calls finish for up to grace and stops. While it serves,
// the health service reports LivenessService SERVING, and "" and each
// registered service by the readiness check (see SetReadiness).
func (s *Server) Serve(ctx context.Context, lis net.Listener, grace time.Duration) error {
	// Every service is registered by now: give each method its zero series.
	s.tel.InitServerMetrics(s.GRPC)
	if s.admissionMetrics != nil {
		s.admissionMetrics.initialize(s.GRPC, s.admission)
	}
	s.Health.SetServingStatus(LivenessService, healthpb.HealthCheckResponse_SERVING)
	readyCtx, stopReady := context.WithCancel(ctx)
	defer stopReady()
	s.watchReadiness(readyCtx)
	errc := make(chan error, 1)
	go func() { errc <- s.GRPC.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down gRPC server", "grace", grace)
	s.Health.Shutdown()
	done := make(chan struct{})
	go func() { s.GRPC.GracefulStop(); s.inproc.drain(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		s.log.Warn("grace period over, closing remaining calls")
		s.GRPC.Stop()
	}
	return nil
}
