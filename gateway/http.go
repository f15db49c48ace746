package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/status"
)

const (
	requestIDHeader      = "X-Request-Id"
	idempotencyKeyHeader = "Idempotency-Key"
)

// requestInfo is what the layers of one request tell the access log. It
// travels in the request context.
type requestInfo struct {
	route string // matched path pattern, "" when no route matched
	// method is the client's method where the gateway serves the request
	// under another one (HEAD as GET); "" otherwise.
	method string
	err    error // the error the response reports, if any
	// subject is the bearer token's subject, as the rate limits read it;
	// "" without a token they accept. Set before the mux runs.
	subject string
	// bodyTooLarge is set by the body reader when the client sent more than
	// the limit; the error handler then answers 413 whatever the decoder
	// made of the truncated body.
	bodyTooLarge atomic.Bool
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey{}).(*requestInfo)
	return info
}

// ServeHTTP wraps the grpc-gateway mux with request ids, the body limit,
// Idempotency-Key handling, the access log and metrics.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &requestInfo{}
	// The X-Request-Id header only correlates lines and answers; it is no
	// idempotency key (that is the calls' request_id, from Idempotency-Key),
	// so the logs call it correlation_id.
	correlationID := r.Header.Get(requestIDHeader)
	if !validCorrelationID(correlationID) {
		correlationID = newCorrelationID()
		r.Header.Set(requestIDHeader, correlationID) // forwarded upstream as x-request-id
	}
	w.Header().Set(requestIDHeader, correlationID)
	if r.Body != nil && r.Body != http.NoBody {
		// MaxBytesReader gets the server's own writer: on overflow it tells
		// the server to close the connection instead of draining the rest.
		r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, g.maxBody), info: info}
	}
	rec := &recorder{ResponseWriter: w}
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))

	g.serve(rec, r)

	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	elapsed := time.Since(start)
	route := info.route
	if route == "" {
		route = "unmatched"
	}
	g.metrics.observe(r.Method, route, rec.status, elapsed)
	level := slog.LevelInfo
	if rec.status >= 500 {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("route", route),
		slog.Int("status", rec.status),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.Int64("bytes", rec.bytes),
		slog.String("correlation_id", correlationID),
	}
	if info.err != nil {
		err := info.err
		var withHTTP *runtime.HTTPStatusError
		if errors.As(err, &withHTTP) {
			err = withHTTP.Err
		}
		st := status.Convert(err)
		attrs = append(attrs, slog.String("grpc_code", st.Code().String()), slog.String("error", st.Message()))
	}
	g.log.LogAttrs(r.Context(), level, "http request", attrs...)
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	fail := func(err error) {
		_, out := runtime.MarshalerForRequest(g.mux, r)
		runtime.HTTPError(ctx, g.mux, out, w, r, err)
	}
	// Rate limits come first: a refused request costs no upstream call.
	subject, err := g.limits.check(r)
	if err != nil {
		fail(err)
		return
	}
	if info := infoFrom(ctx); info != nil {
		info.subject = subject
	}
	// Refuse a declared oversized body before reading any of it; chunked
	// bodies are caught by the limited reader.
	if r.ContentLength > g.maxBody {
		infoFrom(ctx).bodyTooLarge.Store(true)
		fail(errBodyTooLarge)
		return
	}
	key, err := headerKey(r)
	if err != nil {
		fail(err)
		return
	}
	if key != "" {
		r = r.WithContext(context.WithValue(ctx, idempotencyKeyKey{}, idempotencyKey{value: key, source: fromHeader}))
	}
	// Then the mux: an unknown path is 404, a known one with another
	// method 405 with Allow; on a matched route the middlewares refuse a
	// body that is not JSON (415) before anything reads it.
	g.mux.ServeHTTP(w, asGet(r))
}

// recordRoute notes the matched path pattern for the access log, the
// metrics and the request's span (a bounded label, unlike the path).
func recordRoute(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if route := routeOf(r); route != "" {
			if info := infoFrom(r.Context()); info != nil {
				info.route = route
			}
			if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
				span.SetName(r.Method + " " + route)
				span.SetAttributes(semconv.HTTPRoute(route))
			}
		}
		next(w, r, params)
	}
}

// routeOf returns the path pattern the mux matched for r, as written in
// http.yaml ("/v1/users/{id}"), or "" outside a route.
func routeOf(r *http.Request) string {
	pat, ok := runtime.HTTPPattern(r.Context())
	if !ok {
		return ""
	}
	return strings.ReplaceAll(pat.String(), "=*}", "}") // "{id=*}" → "{id}"
}

// limitedBody flags the request when http.MaxBytesReader cuts the body off,
// because the generated handlers turn every decode error into a plain
// INVALID_ARGUMENT and the cause would be lost.
type limitedBody struct {
	io.ReadCloser
	info *requestInfo
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooLarge *http.MaxBytesError
	if err != nil && errors.As(err, &tooLarge) {
		b.info.bodyTooLarge.Store(true)
	}
	return n, err
}

// recorder remembers the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the server's writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// validCorrelationID accepts a client's X-Request-Id if it is short
// printable ASCII, so it is safe to log and forward.
func validCorrelationID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// newCorrelationID returns a random id (26 base32 characters, 130 bits).
func newCorrelationID() string { return rand.Text() }
