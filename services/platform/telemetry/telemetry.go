// Package telemetry is the observability every kassa process shares, set up
// in one place so that all five processes measure and trace alike:
//
//   - a Prometheus registry, served by the admin listener, holding the Go
//     runtime and process collectors, the gRPC server and client RED
//     metrics (go-grpc-middleware's Prometheus provider) and whatever the
//     process adds (database pool, business counters);
//   - an OpenTelemetry tracer provider and the W3C trace-context
//     propagator, with spans exported over OTLP only when the standard
//     OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT variable names a collector;
//   - a slog handler that writes trace_id and span_id on every line logged
//     with a request's context.
//
// A nil *Telemetry is valid and instruments nothing, which is what the
// plain servers of unit tests and the uninstrumented benchmark use.
package telemetry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
)

// Options configure New.
type Options struct {
	// Service names the process ("billing", "gateway"): the service.name
	// of its spans (OTEL_SERVICE_NAME overrides it) and the db_name label
	// of its pool metrics.
	Service string
	// Getenv reads the OTEL_* variables; nil means os.Getenv.
	Getenv func(string) string
	// SpanProcessors receive every span besides the OTLP exporter (tests
	// pass an in-memory exporter here).
	SpanProcessors []sdktrace.SpanProcessor
}

// Telemetry is one process's metrics registry and tracer provider.
type Telemetry struct {
	Service string
	// Registry is what the admin listener serves on /metrics; services
	// register their own collectors on it.
	Registry *prometheus.Registry
	// TracerProvider makes the process's spans.
	TracerProvider trace.TracerProvider
	// Propagator reads and writes W3C traceparent/tracestate and baggage.
	Propagator propagation.TextMapPropagator
	// Exporting is true when spans leave the process (an OTLP endpoint is
	// configured); only then do metrics carry trace exemplars.
	Exporting bool
	// Recording is true when spans are recorded for someone: an exporter
	// or Options.SpanProcessors. Otherwise spans only carry ids (see New),
	// and per-statement database spans are not worth making.
	Recording bool

	sdk           *sdktrace.TracerProvider
	serverMetrics *grpcprom.ServerMetrics
	clientMetrics *grpcprom.ClientMetrics
}

// New builds the registry and the tracer provider. Call Shutdown before
// the process exits so buffered spans are sent.
func New(ctx context.Context, opts Options) (*Telemetry, error) {
	if opts.Service == "" {
		return nil, errors.New("telemetry: service name is empty")
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	t := &Telemetry{
		Service:    opts.Service,
		Registry:   prometheus.NewRegistry(),
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}

	// Metrics. The handling-time histograms are off by default in the
	// provider; latency per RPC is the point of RED, so they are on here.
	t.serverMetrics = grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets(LatencyBuckets)))
	t.clientMetrics = grpcprom.NewClientMetrics(grpcprom.WithClientHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets(LatencyBuckets)))
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		t.serverMetrics,
		t.clientMetrics,
	} {
		if err := t.Registry.Register(c); err != nil {
			return nil, fmt.Errorf("telemetry: register metrics: %w", err)
		}
	}

	// Traces.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(opts.Service), semconv.ServiceNamespace("kassa")),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	exporter, err := exporterFromEnv(ctx, getenv)
	if err != nil {
		return nil, err
	}
	// With an exporter (or a test's processor) the sampler comes from
	// OTEL_TRACES_SAMPLER, parent-based always-on by default. Without one
	// nothing would read a recorded span, so every span is made unsampled:
	// it still gets ids, so the logs carry trace_id and the next service
	// joins the same trace, but no attributes, events or timings are
	// collected. Recording spans nobody reads cost 8-13 % of each
	// service's CPU under load (docs/benchmarks.md).
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if exporter != nil {
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exporter))
		t.Exporting = true
	}
	for _, sp := range opts.SpanProcessors {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(sp))
	}
	t.Recording = t.Exporting || len(opts.SpanProcessors) > 0
	if !t.Recording {
		tpOpts = append(tpOpts, sdktrace.WithSampler(sdktrace.NeverSample()))
	}
	t.sdk = sdktrace.NewTracerProvider(tpOpts...)
	t.TracerProvider = t.sdk
	return t, nil
}

// DBTracerProvider is the provider a database pool should trace its
// statements with: nil (no tracing) unless spans are recorded, since a
// span per statement that nobody records is pure cost.
func (t *Telemetry) DBTracerProvider() trace.TracerProvider {
	if t == nil || !t.Recording {
		return nil
	}
	return t.TracerProvider
}

// LatencyBuckets are the upper bounds, in seconds, of the latency
// histograms: from 1 ms (a primary-key read) to 10 s (beyond the call
// timeout).
var LatencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Shutdown flushes and stops the tracer provider.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil || t.sdk == nil {
		return nil
	}
	return t.sdk.Shutdown(ctx)
}

// otelgrpcOptions are shared by server and client stats handlers. Health
// checks are not traced: probes and /readyz call them every few seconds
// and their spans would bury the requests. OTel metrics are off (noop):
// metrics are Prometheus's job here.
func (t *Telemetry) otelgrpcOptions() []otelgrpc.Option {
	return []otelgrpc.Option{
		otelgrpc.WithTracerProvider(t.TracerProvider),
		otelgrpc.WithPropagators(t.Propagator),
		otelgrpc.WithMeterProvider(noop.NewMeterProvider()),
		otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
	}
}

// ServerOptions are the gRPC server options that trace every call.
func (t *Telemetry) ServerOptions() []grpc.ServerOption {
	if t == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(t.ServerStatsHandler())}
}

// ServerStatsHandler traces every call a server receives: for in-process
// channels, which take a stats handler but no server options. Nil for a
// nil Telemetry.
func (t *Telemetry) ServerStatsHandler() stats.Handler {
	if t == nil {
		return nil
	}
	return otelgrpc.NewServerHandler(t.otelgrpcOptions()...)
}

// ClientStatsHandler traces every call a client makes (see
// ServerStatsHandler). Nil for a nil Telemetry.
func (t *Telemetry) ClientStatsHandler() stats.Handler {
	if t == nil {
		return nil
	}
	return otelgrpc.NewClientHandler(t.otelgrpcOptions()...)
}

// UnaryServerInterceptor counts and times every unary call by service,
// method and code (grpc_server_*). It must run outside the interceptor
// that maps errors to statuses, so that it sees the final code.
func (t *Telemetry) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return t.serverMetrics.UnaryServerInterceptor(grpcprom.WithExemplarFromContext(t.exemplar))
}

// StreamServerInterceptor is UnaryServerInterceptor for streams
// (reflection is the only streaming service).
func (t *Telemetry) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return t.serverMetrics.StreamServerInterceptor(grpcprom.WithExemplarFromContext(t.exemplar))
}

// InitServerMetrics creates the zero series of every method registered on
// s, so that rates and ratios exist before the first call and alerts see
// the first error as an increase.
func (t *Telemetry) InitServerMetrics(s *grpc.Server) {
	if t == nil {
		return
	}
	t.serverMetrics.InitializeMetrics(s)
}

// DialOptions trace, count and time every call on a client connection
// (grpc_client_*).
func (t *Telemetry) DialOptions() []grpc.DialOption {
	if t == nil {
		return nil
	}
	unary, stream := t.ClientInterceptors()
	return []grpc.DialOption{
		grpc.WithStatsHandler(t.ClientStatsHandler()),
		grpc.WithChainUnaryInterceptor(unary),
		grpc.WithChainStreamInterceptor(stream),
	}
}

// ClientInterceptors count and time every call (grpc_client_*): what
// DialOptions adds besides tracing, for connections that take no dial
// options (in-process channels).
func (t *Telemetry) ClientInterceptors() (grpc.UnaryClientInterceptor, grpc.StreamClientInterceptor) {
	if t == nil {
		return nil, nil
	}
	ex := grpcprom.WithExemplarFromContext(t.exemplar)
	return t.clientMetrics.UnaryClientInterceptor(ex), t.clientMetrics.StreamClientInterceptor(ex)
}

// RegisterDB adds the pool statistics of db (go_sql_*: open, in use, idle
// connections, waits and wait time) labelled db_name=<service>.
func (t *Telemetry) RegisterDB(db *sql.DB) error {
	if t == nil {
		return nil
	}
	if err := t.Registry.Register(collectors.NewDBStatsCollector(db, t.Service)); err != nil {
		return fmt.Errorf("telemetry: register pool metrics: %w", err)
	}
	return nil
}

// exemplar links a latency or counter sample to the trace it belongs to,
// when that trace is exported and so can be looked up.
func (t *Telemetry) exemplar(ctx context.Context) prometheus.Labels {
	if !t.Exporting {
		return nil
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsSampled() {
		return nil
	}
	return prometheus.Labels{"trace_id": sc.TraceID().String()}
}
