package gateway

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/services/platform/telemetry"
	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

func tracedEnv(t *testing.T) (*testEnv, *tracetest.InMemoryExporter, *telemetry.Telemetry) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tel, err := telemetry.New(context.Background(), telemetry.Options{
		Service: "gateway", Getenv: func(string) string { return "" },
		SpanProcessors: []sdktrace.SpanProcessor{sdktrace.NewSimpleSpanProcessor(exp)},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.Telemetry = tel })
	return e, exp, tel
}

// A client's W3C traceparent is honoured: the gateway's span joins the
// client's trace under the client's span, is named after the route (not
// the path), and is the parent of the upstream call's span; the access
// log line carries the trace id.
func TestTracing_ContinuesTheClientsTrace(t *testing.T) {
	e, exp, _ := tracedEnv(t)
	const traceID, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req := httptest.NewRequest("POST", "/v1/users/"+testUserID+"/account:deposit", strings.NewReader(`{"amount":"100","requestId":"d-1"}`))
	req.Header.Set("traceparent", "00-"+traceID+"-"+clientSpan+"-01")
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req) // returns after the server span has ended
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}

	spans := exp.GetSpans()
	var server, client tracetest.SpanStub
	for _, s := range spans {
		switch s.SpanKind {
		case trace.SpanKindServer:
			server = s
		case trace.SpanKindClient:
			client = s
		}
	}
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want the request's and the upstream call's: %v", len(spans), spanNames(spans))
	}
	if server.Name != "POST /v1/users/{user_id}/account:deposit" {
		t.Errorf("server span name = %q, want the route", server.Name)
	}
	if server.SpanContext.TraceID().String() != traceID || server.Parent.SpanID().String() != clientSpan || !server.Parent.IsRemote() {
		t.Errorf("server span trace %s parent %s (remote %v), want trace %s under the client's span %s",
			server.SpanContext.TraceID(), server.Parent.SpanID(), server.Parent.IsRemote(), traceID, clientSpan)
	}
	if !hasAttr(server, string(semconv.HTTPRouteKey), "/v1/users/{user_id}/account:deposit") {
		t.Errorf("server span lacks http.route: %v", server.Attributes)
	}
	if client.Name != "kassa.billing.v1.BillingService/Deposit" || client.Parent.SpanID() != server.SpanContext.SpanID() {
		t.Errorf("client span %q under %s, want kassa.billing.v1.BillingService/Deposit under the server span %s",
			client.Name, client.Parent.SpanID(), server.SpanContext.SpanID())
	}

	var access map[string]any
	for _, m := range e.logs.lines(t) {
		if m["msg"] == "http request" {
			access = m
		}
	}
	if access["trace_id"] != traceID {
		t.Errorf("access log line = %v, want trace_id %s", access, traceID)
	}
}

// Without a traceparent the gateway starts a new trace.
func TestTracing_StartsATraceWithoutTraceparent(t *testing.T) {
	e, exp, _ := tracedEnv(t)
	e.handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/users/"+testUserID+"/account", nil))
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2: %v", len(spans), spanNames(spans))
	}
	for _, s := range spans {
		if s.SpanKind == trace.SpanKindServer && (s.Parent.IsValid() || s.Name != "GET /v1/users/{user_id}/account") {
			t.Errorf("server span %q has parent %v, want a root span named by the route", s.Name, s.Parent.SpanID())
		}
	}
}

// Probes and readiness checks make no spans (they would bury the
// requests), and the traced gateway still measures the upstream calls.
func TestTracing_ProbesAreNotTraced(t *testing.T) {
	e, exp, tel := tracedEnv(t)
	for _, path := range []string{"/healthz", "/readyz", "/openapi.json"} {
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 {
			t.Fatalf("%s = %d", path, rec.Code)
		}
	}
	if spans := exp.GetSpans(); len(spans) != 0 {
		t.Errorf("probes made spans: %v", spanNames(spans))
	}
	m := metrictest.Gather(t, tel.Registry)
	if got := m.Value(t, "grpc_client_handled_total", "grpc_service", "grpc.health.v1.Health", "grpc_method", "Check", "grpc_code", "OK"); got != 4 {
		t.Errorf("upstream health checks counted = %v, want 4 (one per service)", got)
	}
}

func spanNames(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

func hasAttr(s tracetest.SpanStub, key, value string) bool {
	for _, a := range s.Attributes {
		if string(a.Key) == key && a.Value.Emit() == value {
			return true
		}
	}
	return false
}

// Ids never become label values: the route label is the pattern, and
// unknown paths share one "unmatched" series.
func TestMetrics_LabelsNeverHoldIDs(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/v1/users/" + testUserID + "/account", "/v1/users/" + testUserID, "/v1/nothing/" + testUserID} {
		e.handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	m := metrictest.Gather(t, e.reg)
	series := m["kassa_gateway_http_request_duration_seconds"].GetMetric()
	if len(series) != 3 {
		t.Errorf("got %d series, want 3 (one per route)", len(series))
	}
	for _, s := range series {
		for _, l := range s.GetLabel() {
			if strings.Contains(l.GetValue(), testUserID) {
				t.Errorf("label %s=%q holds an id", l.GetName(), l.GetValue())
			}
		}
	}
}

func TestParseConfig_Pprof(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want bool
		err  bool
	}{
		{nil, "", false, false},
		{[]string{"-pprof"}, "", true, false},
		{nil, "true", true, false},
		{[]string{"-pprof=false"}, "true", false, false},
		{nil, "maybe", false, true},
	} {
		c, err := ParseConfig(tc.args, func(k string) string {
			if k == "PPROF" {
				return tc.env
			}
			return ""
		}, io.Discard)
		if (err != nil) != tc.err || (err == nil && c.Process.Pprof != tc.want) {
			t.Errorf("ParseConfig(%v, PPROF=%q) = pprof %v, err %v; want %v (error: %v)", tc.args, tc.env, c.Process.Pprof, err, tc.want, tc.err)
		}
	}
}
