package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"github.com/kassa-dev/kassa/services/platform/admission"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// heldOrders holds every CreateOrder until the test lets it go, or, with
// shed set, refuses it for overload as a service's admission control does.
type heldOrders struct {
	orderv1.UnimplementedOrderServiceServer
	entered chan struct{}
	release chan struct{}
	calls   chan struct{}
	shed    bool
}

func (h *heldOrders) CreateOrder(ctx context.Context, req *orderv1.CreateOrderRequest) (*orderv1.Order, error) {
	h.calls <- struct{}{}
	if h.shed {
		err := apperr.Overloaded(3*time.Second, "this buyer's orders: overloaded")
		return nil, grpcstatus.ToStatus(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), "/CreateOrder", err)
	}
	h.entered <- struct{}{}
	<-h.release
	return &orderv1.Order{Id: "o1", UserId: req.GetUserId(), Status: orderv1.Order_STATUS_PAID}, nil
}

func newHeldEnv(t *testing.T, h *heldOrders, limit admission.Config) *testEnv {
	t.Helper()
	orders := startFake(t, &recorderLog{}, func(s *grpc.Server) { orderv1.RegisterOrderServiceServer(s, h) })
	return newEnv(t, func(c *Config) {
		c.OrderAddr = orders.addr
		c.Admission = limit
		c.RetryAfter = 2 * time.Second
	})
}

func newHeldUserEnv(t *testing.T, h *heldOrders, all, perUser admission.Config) *testEnv {
	t.Helper()
	orders := startFake(t, &recorderLog{}, func(s *grpc.Server) { orderv1.RegisterOrderServiceServer(s, h) })
	return newEnv(t, func(c *Config) {
		c.OrderAddr = orders.addr
		c.Admission, c.UserAdmission = all, perUser
	})
}

func held() *heldOrders {
	return &heldOrders{entered: make(chan struct{}, 8), release: make(chan struct{}), calls: make(chan struct{}, 64)}
}

const orderPath = "/v1/users/3f1c1c8e-7a0e-4a4c-9d1e-4c6f4f2b6a11/orders"

func TestAdmission_ExcessGets429WithRetryAfterFastAndProbesStillAnswer(t *testing.T) {
	h := held()
	e := newHeldEnv(t, h, admission.Config{MaxInFlight: 1})
	first := make(chan response, 1)
	go func() { first <- e.do(t, http.MethodPost, orderPath, `{"price":"100"}`, nil) }()
	<-h.entered

	start := time.Now()
	r := e.do(t, http.MethodPost, orderPath, `{"price":"100"}`, nil)
	took := time.Since(start)
	wantStatus(t, r, http.StatusTooManyRequests, codes.ResourceExhausted)
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1 (the limiter's hint, not the 503 default of 2)", got)
	}
	if !strings.Contains(string(r.body), apperr.ReasonOverloaded) {
		t.Errorf("body has no %s reason: %s", apperr.ReasonOverloaded, r.body)
	}
	if took > 100*time.Millisecond {
		t.Errorf("the 429 took %v, want under 100ms", took)
	}
	for _, path := range []string{"/healthz", "/readyz", "/openapi.json"} {
		if r := e.do(t, http.MethodGet, path, nil, nil); r.status != http.StatusOK {
			t.Errorf("%s while full: %d, want 200", path, r.status)
		}
	}
	fams := metrictest.Gather(t, e.reg)
	if got := fams.Value(t, "kassa_gateway_shed_total", "route", "/v1/users/{user_id}/orders", "cause", "queue_full"); got != 1 {
		t.Errorf("kassa_gateway_shed_total{orders,queue_full} = %v, want 1", got)
	}
	if got := fams.Value(t, "kassa_gateway_in_flight"); got != 1 {
		t.Errorf("kassa_gateway_in_flight = %v, want 1", got)
	}
	if got := fams.Value(t, "kassa_gateway_http_request_duration_seconds", "route", "/v1/users/{user_id}/orders", "code", "429"); got != 1 {
		t.Errorf("the shed request is not measured under its route: %v", got)
	}
	close(h.release)
	if r := <-first; r.status != http.StatusOK {
		t.Errorf("the admitted order: %d %s", r.status, r.body)
	}
	if n := len(h.calls); n != 1 {
		t.Errorf("the order service got %d calls, want 1 (the shed request costs none)", n)
	}
	// The slot is free again: the next order is admitted.
	h.release = make(chan struct{})
	close(h.release)
	if r := e.do(t, http.MethodPost, orderPath, `{"price":"100"}`, nil); r.status != http.StatusOK {
		t.Errorf("after the release: %d %s, want 200", r.status, r.body)
	}
}

// One user's flood is refused at that user's own bound, before any
// upstream call, and leaves the gateway's slots to the other users;
// requests without a user token and services' tokens are not bounded one
// by one.
func TestAdmission_OneUsersFloodLeavesRoomForTheOthers(t *testing.T) {
	h := held()
	e := newHeldUserEnv(t, h, admission.Config{MaxInFlight: 3}, admission.Config{MaxInFlight: 1})
	ada := map[string]string{"Authorization": "Bearer " + jwtWithSub("ada")}
	first := make(chan response, 1)
	go func() { first <- e.do(t, http.MethodPost, orderPath, `{"price":"100"}`, ada) }()
	<-h.entered

	start := time.Now()
	r := e.do(t, http.MethodPost, orderPath, `{"price":"100"}`, ada)
	wantStatus(t, r, http.StatusTooManyRequests, codes.ResourceExhausted)
	if !strings.Contains(string(r.body), apperr.ReasonOverloaded) || !strings.Contains(string(r.body), "this user's requests") {
		t.Errorf("ada's second request: %s, want OVERLOADED naming the user's bound", r.body)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("the 429 took %v, want under 100ms", took)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("the 429 has no Retry-After")
	}
	// Bob and a service each get a slot of the gateway while ada holds hers.
	others := make(chan response, 2)
	for _, hdr := range []map[string]string{
		{"Authorization": "Bearer " + jwtWithSub("bob")},
		{"Authorization": "Bearer " + jwtWithSub(serviceSubjectPrefix+"order")},
	} {
		go func() { others <- e.do(t, http.MethodPost, orderPath, `{"price":"100"}`, hdr) }()
		select {
		case <-h.entered:
		case r := <-others:
			t.Fatalf("another caller's request was not admitted while ada held her slot: %d %s", r.status, r.body)
		}
	}
	fams := metrictest.Gather(t, e.reg)
	if got := fams.Value(t, "kassa_gateway_shed_total", "route", "/v1/users/{user_id}/orders", "limit", "user", "cause", "queue_full"); got != 1 {
		t.Errorf("kassa_gateway_shed_total{limit=user} = %v, want 1", got)
	}
	if got := fams.Sum("kassa_gateway_shed_total", "limit", "gateway"); got != 0 {
		t.Errorf("kassa_gateway_shed_total{limit=gateway} = %v, want 0", got)
	}
	close(h.release)
	for _, c := range []chan response{first, others, others} {
		if r := <-c; r.status != http.StatusOK {
			t.Errorf("an admitted order: %d %s", r.status, r.body)
		}
	}
	if n := len(h.calls); n != 3 {
		t.Errorf("the order service got %d calls, want 3 (ada's refused one costs none)", n)
	}
	// Ada's slot is hers again.
	if r := e.do(t, http.MethodPost, orderPath, `{"price":"100"}`, ada); r.status != http.StatusOK {
		t.Errorf("ada after her release: %d %s, want 200", r.status, r.body)
	}
}

func TestAdmission_ServiceShedBecomes429WithItsRetryAfter(t *testing.T) {
	h := held()
	h.shed = true
	e := newHeldEnv(t, h, admission.Config{})
	r := e.do(t, http.MethodPost, orderPath, `{"price":"100"}`, nil)
	wantStatus(t, r, http.StatusTooManyRequests, codes.ResourceExhausted)
	if got := r.header.Get("Retry-After"); got != "3" {
		t.Errorf("Retry-After = %q, want the service's 3", got)
	}
}

func TestAdmission_ClientDeadlineShorterThanTheWait(t *testing.T) {
	h := held()
	e := newHeldEnv(t, h, admission.Config{MaxInFlight: 1, MaxQueue: 4, MaxWait: 5 * time.Second})
	first := make(chan response, 1)
	go func() { first <- e.do(t, http.MethodPost, orderPath, `{"price":"100"}`, nil) }()
	<-h.entered
	start := time.Now()
	r := e.do(t, http.MethodPost, orderPath, `{"price":"100"}`, map[string]string{"Grpc-Timeout": "100m"})
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v: the request waited past its own 100ms deadline", took)
	}
	if r.status != http.StatusTooManyRequests && r.status != http.StatusGatewayTimeout {
		t.Errorf("status %d %s, want 429 or 504", r.status, r.body)
	}
	close(h.release)
	<-first
}

func TestGRPCTimeout(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"100m", 100 * time.Millisecond, true}, {"2S", 2 * time.Second, true}, {"5u", 5 * time.Microsecond, true},
		{"", 0, false}, {"m", 0, false}, {"10x", 0, false}, {"123456789S", 0, false}, {"-1S", 0, false},
	} {
		got, ok := grpcTimeout(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("grpcTimeout(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// A user's few slow requests wait for that user's own earlier ones instead
// of being refused: with the defaults, 8 at once (a client's cancellations
// while billing is down, each taking a few hundred milliseconds to answer)
// are 4 served and 4 waiting, and the waiting ones still get their turn
// after longer than a short wait bound would allow.
func TestAdmission_DefaultsLetAUsersSlowRequestsWait(t *testing.T) {
	a, err := newAdmitted(DefaultAdmission, DefaultUserAdmission, nil)
	if err != nil {
		t.Fatal(err)
	}
	var held []func()
	for range DefaultUserAdmission.MaxInFlight {
		rel, _, err := a.acquire(context.Background(), "ada")
		if err != nil {
			t.Fatalf("ada's request within her bound: %v", err)
		}
		held = append(held, rel)
	}
	waiting := make(chan error, DefaultUserAdmission.MaxQueue)
	for range DefaultUserAdmission.MaxQueue {
		go func() {
			rel, _, err := a.acquire(context.Background(), "ada")
			if err == nil {
				rel()
			}
			waiting <- err
		}()
	}
	// The held requests take 300ms, as a cancellation does while billing
	// is down: the waiting ones must not have been refused meanwhile.
	select {
	case err := <-waiting:
		t.Fatalf("a waiting request of ada was answered while her first ones were in flight: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	for _, rel := range held {
		rel()
	}
	for range DefaultUserAdmission.MaxQueue {
		if err := <-waiting; err != nil {
			t.Errorf("a waiting request of ada: %v, want admitted once hers were done", err)
		}
	}
}
