package gateway

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Tests of what operators rely on: health, readiness, the OpenAPI document,
// request ids, the access log and metrics.

func TestHealthz_OK(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.UserAddr = closedAddr(t) }) // liveness ignores upstreams
	r := e.do(t, "GET", "/healthz", nil, nil)
	if r.status != http.StatusOK || r.json(t)["status"] != "ok" {
		t.Errorf("healthz = %d %s", r.status, r.body)
	}
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *testEnv)
		want  int
		state map[string]string // expected non-SERVING states
	}{
		{"all serving", func(*testEnv) {}, http.StatusOK, nil},
		{"billing not serving", func(e *testEnv) {
			e.servers["billing"].health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		}, http.StatusServiceUnavailable, map[string]string{"billing": "NOT_SERVING"}},
		{"order stopped", func(e *testEnv) { e.servers["order"].grpc.Stop() },
			http.StatusServiceUnavailable, map[string]string{"order": "UNREACHABLE"}},
		{"two down", func(e *testEnv) {
			e.servers["user"].grpc.Stop()
			e.servers["notification"].health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		}, http.StatusServiceUnavailable, map[string]string{"user": "UNREACHABLE", "notification": "NOT_SERVING"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.setup(e)
			r := e.do(t, "GET", "/readyz", nil, nil)
			if r.status != tt.want {
				t.Fatalf("status = %d, want %d; body %s", r.status, tt.want, r.body)
			}
			m := r.json(t)
			services, _ := m["services"].(map[string]any)
			var notReady []string
			for _, v := range asSlice(m["notReady"]) {
				notReady = append(notReady, v.(string))
			}
			for _, name := range []string{"user", "billing", "order", "notification"} {
				want, down := tt.state[name]
				if !down {
					want = "SERVING"
				}
				if services[name] != want {
					t.Errorf("services[%s] = %v, want %s", name, services[name], want)
				}
				if slices.Contains(notReady, name) != down {
					t.Errorf("notReady = %v; %s down: %v", notReady, name, down)
				}
			}
		})
	}
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func TestOpenAPI_ServesDocument(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "GET", "/openapi.json", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("status = %d", r.status)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if !strings.Contains(string(r.body), `"/v1/users/{userId}/orders"`) {
		t.Errorf("document lacks /v1/users/{userId}/orders")
	}
	r.json(t) // valid JSON
}

func TestRequestID_EchoedAndForwarded(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "GET", "/v1/users/"+testUserID, nil, map[string]string{"X-Request-Id": "trace-42"})
	if got := r.header.Get("X-Request-Id"); got != "trace-42" {
		t.Errorf("response X-Request-Id = %q", got)
	}
	r = e.do(t, "GET", "/v1/users/"+testUserID, nil, nil)
	generated := r.header.Get("X-Request-Id")
	if generated == "" {
		t.Error("no X-Request-Id generated")
	}
	if got := e.rec.get("GetUser.x-request-id"); !slices.Equal(got, []string{"trace-42", generated}) {
		t.Errorf("upstream x-request-id = %q, want [trace-42 %s]", got, generated)
	}
}

func TestAccessLog_OneLinePerRequest(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/v1/users/" + testUserID, "/v1/users/missing"} {
		e.handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	var got []map[string]any
	for _, l := range e.logs.lines(t) {
		if l["msg"] == "http request" {
			got = append(got, l)
		}
	}
	if len(got) != 2 {
		t.Fatalf("access log lines = %d, want 2: %v", len(got), got)
	}
	want := []struct {
		path   string
		status float64
	}{{"/v1/users/" + testUserID, 200}, {"/v1/users/missing", 404}}
	for i, w := range want {
		l := got[i]
		if l["method"] != "GET" || l["path"] != w.path || l["route"] != "/v1/users/{id}" || l["status"] != w.status {
			t.Errorf("line %d = %v", i, l)
		}
		if _, ok := l["duration_ms"].(float64); !ok {
			t.Errorf("line %d lacks duration_ms: %v", i, l)
		}
		if b, _ := l["bytes"].(float64); b <= 0 {
			t.Errorf("line %d bytes = %v", i, l["bytes"])
		}
	}
	if got[1]["error"] == nil {
		t.Errorf("failed request's line lacks the error: %v", got[1])
	}
}

func TestMetrics_CountRequestsByRoute(t *testing.T) {
	e := newEnv(t)
	for range 3 {
		e.handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/users/"+testUserID+"/account", nil))
	}
	e.handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/no/such/route", nil))
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := make(map[string]uint64)
	for _, f := range families {
		if f.GetName() != "kassa_gateway_http_request_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := make(map[string]string)
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			counts[labels["method"]+" "+labels["route"]+" "+labels["code"]] = m.GetHistogram().GetSampleCount()
		}
	}
	if counts["GET /v1/users/{user_id}/account 200"] != 3 || counts["GET unmatched 404"] != 1 {
		t.Errorf("histogram counts = %v", counts)
	}
}
