// Package gateway is kassa's public REST/JSON API: a grpc-gateway reverse
// proxy that turns the HTTP rules of proto/http.yaml into calls of the four
// gRPC services. Besides the proxied routes it serves /openapi.json, /healthz
// and /readyz, limits request bodies, turns an Idempotency-Key header or a
// body requestId into the request_id of the call, and logs and measures
// every request.
package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/process"
	"github.com/kassa-dev/kassa/services/platform/rpcclient"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/protobuf/encoding/protojson"

	// The services put google.rpc.ErrorInfo and BadRequest into error
	// details. Their Go types must be linked in so the JSON marshaler can
	// resolve the Any values; otherwise every such error would become a 500.
	_ "google.golang.org/genproto/googleapis/rpc/errdetails"
)

// upstream is one of the gRPC services behind the gateway.
type upstream struct {
	name string // "billing"
	conn grpc.ClientConnInterface
}

// Gateway is the HTTP handler New builds.
type Gateway struct {
	mux       *runtime.ServeMux
	upstreams []upstream
	maxBody   int64
	// retryAfter is the Retry-After header of every 503, in seconds.
	retryAfter string
	draining   <-chan struct{} // Config.Draining; nil never closes
	log        *slog.Logger
	metrics    *metrics
	limits     *limiters
	admission  *admitted
	jwks       *jwksCache
}

// New connects (lazily) to the four services and returns the gateway's
// HTTP handler and a cleanup function that closes the connections. ctx is
// only used while registering the handlers.
func New(ctx context.Context, cfg Config, log *slog.Logger) (http.Handler, func(), error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	reg := cfg.Registerer
	if reg == nil && cfg.Telemetry != nil {
		reg = cfg.Telemetry.Registry
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, nil, err
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.RateIdle == 0 {
		cfg.RateIdle = DefaultRateIdle
	}
	g := &Gateway{maxBody: cfg.MaxBodyBytes, log: log, metrics: m, draining: cfg.Draining, limits: newLimiters(cfg),
		retryAfter: strconv.Itoa(int(math.Ceil(cfg.RetryAfter.Seconds())))}
	if g.admission, err = newAdmitted(cfg.Admission, cfg.UserAdmission, reg); err != nil {
		return nil, nil, err
	}
	var dialed []*grpc.ClientConn
	cleanup := func() {
		for _, conn := range dialed {
			_ = conn.Close()
		}
	}
	for _, u := range []struct{ name, addr string }{
		{"user", cfg.UserAddr}, {"billing", cfg.BillingAddr}, {"order", cfg.OrderAddr}, {"notification", cfg.NotificationAddr},
	} {
		if ch, ok := cfg.Upstreams[u.name]; ok {
			// What the dial options below add, as interceptors.
			unary, stream := cfg.Telemetry.ClientInterceptors()
			conn := rpcclient.Channel(ch, cfg.CallTimeout,
				[]grpc.UnaryClientInterceptor{upstreamInterceptor(u.name, cfg.CallTimeout, log), unary}, []grpc.StreamClientInterceptor{stream})
			g.upstreams = append(g.upstreams, upstream{name: u.name, conn: conn})
			continue
		}
		if u.addr == "" {
			cleanup()
			return nil, nil, fmt.Errorf("%s-addr (%s) is required: no in-process connection to the %s service either", u.name, process.EnvName(u.name+"-addr"), u.name)
		}
		opts := append([]grpc.DialOption{
			grpc.WithChainUnaryInterceptor(upstreamInterceptor(u.name, cfg.CallTimeout, log)),
			grpc.WithConnectParams(reconnect),
		}, cfg.Telemetry.DialOptions()...)
		conn, err := rpcclient.Dial(u.addr, cfg.CallTimeout, opts...)
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("%s-addr (%s): %w", u.name, process.EnvName(u.name+"-addr"), err)
		}
		dialed = append(dialed, conn)
		g.upstreams = append(g.upstreams, upstream{name: u.name, conn: conn})
	}

	g.mux = runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
			Marshaler: &runtime.JSONPb{
				// lowerCamelCase names; zero values are shown ("balance": "0")
				// so clients need not know proto3 defaults.
				MarshalOptions: protojson.MarshalOptions{UseProtoNames: false, EmitUnpopulated: true},
				// A misspelt field is an error, not silently ignored.
				UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
			},
		}),
		runtime.WithErrorHandler(g.handleError),
		runtime.WithRoutingErrorHandler(g.handleRoutingError),

		runtime.WithIncomingHeaderMatcher(incomingHeader),
		// The services' gRPC headers and trailers (content-type, anything
		// a service or its libraries set) are no part of the API: by
		// default they would reach clients as Grpc-Metadata-* and
		// Grpc-Trailer-* headers.
		runtime.WithOutgoingHeaderMatcher(forwardNone),
		runtime.WithOutgoingTrailerMatcher(forwardNone),
		// A route is chosen by the request's own method only: no
		// X-HTTP-Method-Override, and no POST of form data answered by the
		// GET route of the path (grpc-gateway's "path length fallback").
		runtime.WithDisableHTTPMethodOverride(),
		runtime.WithDisablePathLengthFallback(),
		runtime.WithMiddlewares(probeRoute, recordRoute, g.admit, g.requireJSON, g.liftBodyKey),
	)
	doc, err := versionedDocument(cfg.Version)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	conn := g.conn
	regs := []error{
		userv1.RegisterUserServiceHandlerClient(ctx, g.mux, userv1.NewUserServiceClient(conn("user"))),
		userv1.RegisterAuthServiceHandlerClient(ctx, g.mux, userv1.NewAuthServiceClient(conn("user"))),
		billingv1.RegisterBillingServiceHandlerClient(ctx, g.mux, billingv1.NewBillingServiceClient(conn("billing"))),
		orderv1.RegisterOrderServiceHandlerClient(ctx, g.mux, orderv1.NewOrderServiceClient(conn("order"))),
		notificationv1.RegisterNotificationServiceHandlerClient(ctx, g.mux, notificationv1.NewNotificationServiceClient(conn("notification"))),
		g.mux.HandlePath(http.MethodGet, "/openapi.json", serveOpenAPI(doc)),
		g.mux.HandlePath(http.MethodGet, "/healthz", serveHealthz),
		g.mux.HandlePath(http.MethodGet, "/readyz", g.serveReadyz),
		registerDocs(g.mux), // /, /docs and its assets (docs.go)
	}
	if cfg.JWKSSourceURL != "" {
		g.jwks = newJWKSCache(cfg.JWKSSourceURL, cfg.Clock, log)
		regs = append(regs, g.mux.HandlePath(http.MethodGet, "/.well-known/jwks.json", g.serveJWKS))
	}
	if cfg.AuthIssuer != "" {
		doc, err := openIDConfiguration(cfg.AuthIssuer)
		regs = append(regs, err, g.mux.HandlePath(http.MethodGet, "/.well-known/openid-configuration", serveStaticJSON(doc)))
	}
	for _, err := range regs {
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("register routes: %w", err)
		}
	}
	if cfg.Telemetry == nil {
		return g, cleanup, nil
	}
	return traced(g, cfg), cleanup, nil
}

// reconnect bounds how long a service that is back waits for the gateway.
// While a connection is down, calls fail at once with UNAVAILABLE (the
// route's 503) and gRPC reconnects in the background with backoff; its
// default backoff grows to two minutes, so after a long outage the service
// would stay unused for up to that long. Two seconds between attempts cost
// one TCP connect per service and replica.
var reconnect = grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
	MinConnectTimeout: 20 * time.Second, // gRPC's default; the zero value would mean the backoff delay
}

// conn returns the connection to the service name.
func (g *Gateway) conn(name string) grpc.ClientConnInterface {
	for _, u := range g.upstreams {
		if u.name == name {
			return u.conn
		}
	}
	panic("no upstream " + name)
}

// traced starts a server span for every API request, or continues the
// trace of the client's traceparent header. recordRoute names the span
// after the route once it is known ("POST /v1/users/{user_id}/orders").
// Probes, /readyz and /openapi.json are not traced: they would bury the
// requests.
func traced(h http.Handler, cfg Config) http.Handler {
	return otelhttp.NewHandler(h, "gateway",
		otelhttp.WithTracerProvider(cfg.Telemetry.TracerProvider),
		otelhttp.WithPropagators(cfg.Telemetry.Propagator),
		otelhttp.WithMeterProvider(noop.NewMeterProvider()), // HTTP metrics are kassa_gateway_*
		otelhttp.WithFilter(func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/v1/") }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " unmatched" }),
	)
}

// incomingHeader forwards X-Request-Id to the services as x-request-id
// metadata, besides grpc-gateway's default (the permanent HTTP headers,
// prefixed grpcgateway-).
func incomingHeader(key string) (string, bool) {
	if strings.EqualFold(key, requestIDHeader) {
		return "x-request-id", true
	}
	return runtime.DefaultHeaderMatcher(key)
}

// forwardNone is the outgoing header and trailer matcher: no gRPC
// metadata becomes an HTTP header.
func forwardNone(string) (string, bool) { return "", false }
