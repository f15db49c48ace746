package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
)

// A withdrawal's order_id, which only the order service sets, is refused
// from the public API: it would let a client write into the order
// service's idempotency namespace in billing.
func TestServerOwnedOrderID_Refused_NothingCalled(t *testing.T) {
	u := "/v1/users/" + testUserID
	const orderID = "5d0c4a7e-8f1b-4c2a-9e3d-7a6b5c4d3e2f"
	tests := []struct {
		name, path, body, field string
	}{
		{"withdraw orderId", u + "/account:withdraw", `{"amount":"100","requestId":"w1","orderId":"` + orderID + `"}`, "order_id"},
		{"withdraw order_id", u + "/account:withdraw", `{"amount":"100","requestId":"w1","order_id":"` + orderID + `"}`, "order_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			m := wantStatus(t, e.do(t, "POST", tt.path, tt.body, nil), http.StatusBadRequest, codes.InvalidArgument)
			if m["message"] != "order_id is set by the order service" {
				t.Errorf("message = %q", m["message"])
			}
			d, _ := asSlice(m["details"])[0].(map[string]any)
			v, _ := asSlice(d["fieldViolations"])[0].(map[string]any)
			if d["@type"] != "type.googleapis.com/google.rpc.BadRequest" || v["field"] != tt.field {
				t.Errorf("details = %v, want a BadRequest naming %s", m["details"], tt.field)
			}
			if calls := e.rec.get("method"); len(calls) != 0 {
				t.Errorf("refused request reached %q", calls)
			}
		})
	}
}

// want503 fails unless r is the gateway's own 503 for the service, with a
// Retry-After header and nothing of the transport's text.
func want503(t *testing.T, r response, service string) {
	t.Helper()
	m := wantStatus(t, r, http.StatusServiceUnavailable, codes.Unavailable)
	if want := "the " + service + " service is unavailable, retry later"; m["message"] != want {
		t.Errorf("message = %q, want %q", m["message"], want)
	}
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
}

// A service that dies in the middle of a call (its connection reset) is
// the gateway's own 503; the library's "connection reset by peer" only
// goes to the log.
func TestUpstreamResetMidCall_Gets503WithOwnText(t *testing.T) {
	e := newEnv(t)
	resp := e.start("/v1/users/stall")
	waitFor(t, "the call to reach the user service", func() bool { return len(e.rec.get("GetUser.stalled")) > 0 })
	e.servers["user"].lis.reset(t)
	r := <-resp
	want503(t, r, "user")
	if strings.Contains(string(r.body), "reset") || strings.Contains(string(r.body), "127.0.0.1") {
		t.Errorf("body leaks the transport's text: %s", r.body)
	}
	if !e.logs.contains("upstream unavailable") {
		t.Error("the transport's error was not logged")
	}
}

// A service that drains (GOAWAY) and then stops with the call still in
// flight, as a service does when its grace period ends: the gateway's own
// 503, not "closing transport due to: ... graceful_stop".
func TestUpstreamGracefulStopMidCall_Gets503WithOwnText(t *testing.T) {
	e := newEnv(t)
	resp := e.start("/v1/users/stall")
	waitFor(t, "the call to reach the user service", func() bool { return len(e.rec.get("GetUser.stalled")) > 0 })
	srv := e.servers["user"].grpc
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()           // waits for the stalled call
	conn := e.handler.(*Gateway).conn("user").(*grpc.ClientConn) // dialed: the test gives addresses
	waitFor(t, "the gateway to receive GOAWAY", func() bool { return conn.GetState() != connectivity.Ready })
	srv.Stop()
	<-stopped
	r := <-resp
	want503(t, r, "user")
	if strings.Contains(string(r.body), "graceful_stop") || strings.Contains(string(r.body), "transport") {
		t.Errorf("body leaks the transport's text: %s", r.body)
	}
	// Once gone, the service is refused at connect: the same 503.
	want503(t, e.do(t, "GET", "/v1/users/"+testUserID, nil, nil), "user")
}

func TestUpstreamUnavailable_OwnTextUnlessTheServiceExplains(t *testing.T) {
	e := newEnv(t)
	// UNAVAILABLE without a kassa.dev ErrorInfo was made by a library.
	want503(t, e.do(t, "GET", "/v1/users/raw-unavailable", nil, nil), "user")
	// With one it is the service's instruction to the client and stays.
	r := e.do(t, "GET", "/v1/users/"+testUserID+"/orders/pending", nil, nil)
	m := wantStatus(t, r, http.StatusServiceUnavailable, codes.Unavailable)
	if m["message"] != "order pending is pending: retry with the same request_id" {
		t.Errorf("message = %q, want the service's", m["message"])
	}
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
}

func TestRetryAfter_IsConfigurable(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.UserAddr = closedAddr(t); c.RetryAfter = 2500 * time.Millisecond })
	r := e.do(t, "GET", "/v1/users/"+testUserID, nil, nil)
	if got := r.header.Get("Retry-After"); r.status != http.StatusServiceUnavailable || got != "3" {
		t.Errorf("status %d, Retry-After = %q, want 503 and 3 (whole seconds, rounded up)", r.status, got)
	}
	// Other errors carry none.
	if r := e.do(t, "GET", "/v1/users/"+testUserID+"/orders/o1", nil, nil); r.status != 200 {
		t.Fatalf("status = %d", r.status)
	}
	if got := e.do(t, "GET", "/v1/nothing", nil, nil).header.Get("Retry-After"); got != "" {
		t.Errorf("404 has Retry-After %q", got)
	}
}
