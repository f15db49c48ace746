package gateway

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"google.golang.org/grpc"
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

// /readyz stays 200 while services are down, naming them, so one
// service's outage does not take the gateway out of rotation; ?all asks
// whether everything is up.
func TestReadyz(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(e *testEnv)
		status string
		state  map[string]string // expected non-SERVING states
	}{
		{"all serving", func(*testEnv) {}, "ready", nil},
		{"billing not serving", func(e *testEnv) {
			e.servers["billing"].health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		}, "degraded", map[string]string{"billing": "NOT_SERVING"}},
		{"order stopped", func(e *testEnv) { e.servers["order"].grpc.Stop() },
			"degraded", map[string]string{"order": "UNREACHABLE"}},
		{"two down", func(e *testEnv) {
			e.servers["user"].grpc.Stop()
			e.servers["notification"].health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		}, "degraded", map[string]string{"user": "UNREACHABLE", "notification": "NOT_SERVING"}},
		{"all stopped", func(e *testEnv) {
			for _, s := range e.servers {
				s.grpc.Stop()
			}
		}, "degraded", map[string]string{"user": "UNREACHABLE", "billing": "UNREACHABLE", "order": "UNREACHABLE", "notification": "UNREACHABLE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.setup(e)
			r := e.do(t, "GET", "/readyz", nil, nil)
			if r.status != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", r.status, r.body)
			}
			wantReadiness(t, r, tt.status, tt.state)
			strict := e.do(t, "GET", "/readyz?all", nil, nil)
			if want := map[bool]int{true: 200, false: 503}[len(tt.state) == 0]; strict.status != want {
				t.Errorf("/readyz?all = %d, want %d; body %s", strict.status, want, strict.body)
			}
			if strict.status == 503 && strict.header.Get("Retry-After") == "" {
				t.Error("/readyz?all 503 without Retry-After")
			}
		})
	}
}

// wantReadiness checks a /readyz body: its status, and every service
// SERVING except those in down, which are listed under "down".
func wantReadiness(t *testing.T, r response, status string, down map[string]string) {
	t.Helper()
	m := r.json(t)
	if m["status"] != status {
		t.Errorf("status = %v, want %s; body %s", m["status"], status, r.body)
	}
	services, _ := m["services"].(map[string]any)
	var listed []string
	for _, v := range asSlice(m["down"]) {
		listed = append(listed, v.(string))
	}
	for _, name := range []string{"user", "billing", "order", "notification"} {
		want, isDown := down[name]
		if !isDown {
			want = "SERVING"
		}
		if services[name] != want {
			t.Errorf("services[%s] = %v, want %s", name, services[name], want)
		}
		if slices.Contains(listed, name) != isDown {
			t.Errorf("down = %v; %s down: %v", listed, name, isDown)
		}
	}
}

// While draining, /readyz answers 503 so the load balancer stops sending
// new requests; the requests it still gets are served.
func TestReadyz_Draining_503ButRoutesServe(t *testing.T) {
	draining := make(chan struct{})
	e := newEnv(t, func(c *Config) { c.Draining = draining })
	if r := e.do(t, "GET", "/readyz", nil, nil); r.status != http.StatusOK {
		t.Fatalf("before draining: %d %s", r.status, r.body)
	}
	close(draining)
	r := e.do(t, "GET", "/readyz", nil, nil)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "1" {
		t.Errorf("draining: status %d, Retry-After %q, want 503 and 1", r.status, r.header.Get("Retry-After"))
	}
	wantReadiness(t, r, "draining", nil)
	if r := e.do(t, "GET", "/v1/users/"+testUserID, nil, nil); r.status != http.StatusOK {
		t.Errorf("route while draining: %d %s", r.status, r.body)
	}
}

// One backend down: the gateway stays ready and names it, its routes
// answer the gateway's 503 with Retry-After, the others keep working; once
// it is back its routes work again without restarting anything.
func TestBackendDown_OnlyItsRoutesFail_AndRecover(t *testing.T) {
	// The order fake listens on a Unix socket so it can come back at the
	// same address without racing other tests for a TCP port.
	addr := "unix://" + filepath.Join(t.TempDir(), "order.sock")
	rec := &recorderLog{}
	register := func(s *grpc.Server) { orderv1.RegisterOrderServiceServer(s, &fakeOrders{rec: rec}) }
	order := startFakeAt(t, addr, rec, register)
	e := newEnv(t, func(c *Config) { c.OrderAddr = addr })
	orderPath := "/v1/users/" + testUserID + "/orders/o1"
	if r := e.do(t, "GET", orderPath, nil, nil); r.status != http.StatusOK {
		t.Fatalf("before the outage: %d %s", r.status, r.body)
	}

	order.grpc.Stop()
	r := e.do(t, "GET", "/readyz", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("/readyz = %d with one backend down, want 200; body %s", r.status, r.body)
	}
	wantReadiness(t, r, "degraded", map[string]string{"order": "UNREACHABLE"})
	want503(t, e.do(t, "GET", orderPath, nil, nil), "order")
	for _, path := range []string{"/v1/users/" + testUserID, "/v1/users/" + testUserID + "/account"} {
		if r := e.do(t, "GET", path, nil, nil); r.status != http.StatusOK {
			t.Errorf("GET %s during the order outage = %d %s", path, r.status, r.body)
		}
	}

	startFakeAt(t, addr, rec, register)
	waitFor(t, "the order route to work again", func() bool { return e.do(t, "GET", orderPath, nil, nil).status == http.StatusOK })
	wantReadiness(t, e.do(t, "GET", "/readyz", nil, nil), "ready", nil)
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

// Each line names the X-Request-Id of its answer correlation_id, the
// client's or a generated one: request_id is the calls' idempotency key,
// which the line must not seem to carry.
func TestAccessLog_OneLinePerRequest(t *testing.T) {
	e := newEnv(t)
	var answered []string
	for i, path := range []string{"/v1/users/" + testUserID, "/v1/users/missing"} {
		req := httptest.NewRequest("GET", path, nil)
		if i == 0 {
			req.Header.Set("X-Request-Id", "trace-42")
		}
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, req)
		answered = append(answered, w.Header().Get("X-Request-Id"))
	}
	if answered[0] != "trace-42" || answered[1] == "" {
		t.Fatalf("X-Request-Id answered = %q, want [trace-42 <generated>]", answered)
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
		if l["correlation_id"] != answered[i] {
			t.Errorf("line %d correlation_id = %v, want the answered X-Request-Id %q", i, l["correlation_id"], answered[i])
		}
		if v, ok := l["request_id"]; ok {
			t.Errorf("line %d has request_id %v, the idempotency key's name", i, v)
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
