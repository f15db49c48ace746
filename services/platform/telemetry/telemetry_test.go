package telemetry_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/services/platform/telemetry"
	_ "github.com/lib/pq"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func newTelemetry(t *testing.T, env map[string]string, sps ...sdktrace.SpanProcessor) *telemetry.Telemetry {
	t.Helper()
	tel, err := telemetry.New(context.Background(), telemetry.Options{
		Service: "svc", Getenv: func(k string) string { return env[k] }, SpanProcessors: sps,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

func TestLogHandler_StampsTraceIDsOfTheRequest(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil))).With("service", "svc")
	exp := tracetest.NewInMemoryExporter()
	tel := newTelemetry(t, nil, sdktrace.NewSimpleSpanProcessor(exp))
	ctx, span := tel.TracerProvider.Tracer("test").Start(context.Background(), "request")
	log.InfoContext(ctx, "inside")
	span.End()
	log.Info("outside")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	var inside, outside map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &inside); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &outside); err != nil {
		t.Fatal(err)
	}
	if inside["trace_id"] != span.SpanContext().TraceID().String() || inside["span_id"] != span.SpanContext().SpanID().String() {
		t.Errorf("line in the request = %v, want trace_id %s span_id %s", inside, span.SpanContext().TraceID(), span.SpanContext().SpanID())
	}
	if inside["service"] != "svc" {
		t.Errorf("line lost the logger's attributes: %v", inside)
	}
	if _, ok := outside["trace_id"]; ok {
		t.Errorf("line outside any request has a trace_id: %v", outside)
	}
}

func TestNew_ExportsOnlyWhenAnEndpointIsConfigured(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    map[string]string
		export bool
	}{
		{"nothing set", nil, false},
		{"base endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true},
		{"grpc protocol", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, true},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, false},
		{"protocol without endpoint", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tel := newTelemetry(t, tc.env)
			if tel.Exporting != tc.export || tel.Recording != tc.export {
				t.Errorf("Exporting, Recording = %v, %v; want %v", tel.Exporting, tel.Recording, tc.export)
			}
			// Spans are recorded only for an exporter; without one they
			// still have ids that children share, for the logs and the
			// next service.
			ctx, parent := tel.TracerProvider.Tracer("test").Start(context.Background(), "request")
			_, child := tel.TracerProvider.Tracer("test").Start(ctx, "statement")
			if parent.IsRecording() != tc.export || parent.SpanContext().IsSampled() != tc.export {
				t.Errorf("recording, sampled = %v, %v; want %v", parent.IsRecording(), parent.SpanContext().IsSampled(), tc.export)
			}
			if !parent.SpanContext().IsValid() || child.SpanContext().TraceID() != parent.SpanContext().TraceID() {
				t.Errorf("span ids: parent %v, child %v; want a valid trace both share", parent.SpanContext(), child.SpanContext())
			}
		})
	}
}

func TestNew_RefusesAnUnknownProtocol(t *testing.T) {
	_, err := telemetry.New(context.Background(), telemetry.Options{Service: "svc", Getenv: func(k string) string {
		return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}[k]
	}})
	if err == nil || !strings.Contains(err.Error(), "http/json") {
		t.Fatalf("New = %v, want an error naming the protocol", err)
	}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func TestAdminHandler_ServesRuntimeProcessAndPoolMetrics(t *testing.T) {
	tel := newTelemetry(t, nil)
	db, err := sql.Open("postgres", "postgres://nobody@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := tel.RegisterDB(db); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, telemetry.AdminHandler(tel.Registry, false), "/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		"go_goroutines ", "go_memstats_heap_alloc_bytes ", "process_cpu_seconds_total ", "process_open_fds ",
		`go_sql_max_open_connections{db_name="svc"} 0`, `go_sql_in_use_connections{db_name="svc"} 0`,
		`go_sql_wait_count_total{db_name="svc"} 0`, `go_sql_wait_duration_seconds_total{db_name="svc"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestAdminHandler_ServesPprofOnlyWhenEnabled(t *testing.T) {
	tel := newTelemetry(t, nil)
	if code, _ := get(t, telemetry.AdminHandler(tel.Registry, false), "/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("pprof off: /debug/pprof/ = %d, want 404", code)
	}
	on := telemetry.AdminHandler(tel.Registry, true)
	if code, body := get(t, on, "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("pprof on: /debug/pprof/ = %d %.80q", code, body)
	}
	if code, body := get(t, on, "/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("pprof on: goroutine profile = %d %.80q", code, body)
	}
	if code, _ := get(t, on, "/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
}

// With an endpoint configured, spans reach it over OTLP/HTTP (flushed at
// Shutdown at the latest).
func TestNew_ExportsSpansToTheConfiguredEndpoint(t *testing.T) {
	got := make(chan *http.Request, 10)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if len(body) > 0 {
			got <- r
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	tel, err := telemetry.New(context.Background(), telemetry.Options{Service: "svc", Getenv: func(k string) string {
		return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL}[k]
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.TracerProvider.Tracer("test").Start(context.Background(), "request")
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case r := <-got:
		if r.Method != "POST" || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("collector got %s %s (%s), want POST /v1/traces in protobuf", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
	default:
		t.Fatal("no spans reached the collector")
	}
}
