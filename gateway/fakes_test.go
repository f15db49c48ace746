package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/telemetry"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Test doubles of the four services. They answer just enough for the
// gateway's behaviour to show: special ids and names trigger errors, and
// what the gateway sent is recorded.

const testUserID = "0b7e4b8c-3f5a-4d8e-9a51-6c1f2d3e4a5b"

type fakeUsers struct {
	userv1.UnimplementedUserServiceServer
	rec *recorderLog
}

func (f *fakeUsers) CreateUser(_ context.Context, req *userv1.CreateUserRequest) (*userv1.User, error) {
	f.rec.add("CreateUser.request_id", req.GetRequestId())
	switch name := req.GetUser().GetUsername(); name {
	case "taken":
		return nil, status.Error(codes.AlreadyExists, `username "taken" is already in use`)
	case "reused", "in-use", "foreign-reason", "exceeds":
		// The errors a service's idempotency store answers, by reason.
		code, reason, domain := codes.AlreadyExists, "REQUEST_ID_REUSED", "kassa.dev"
		switch name {
		case "in-use": // a code whose default (503) the reason must override
			code, reason = codes.Unavailable, "IDEMPOTENCY_KEY_IN_USE"
		case "exceeds": // a state conflict whose default would be 400
			code, reason = codes.FailedPrecondition, "REFUND_EXCEEDS_REMAINING"
		case "foreign-reason":
			domain = "example.com"
		}
		st, err := status.New(code, "request_id "+req.GetRequestId()+" "+name).
			WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: domain})
		if err != nil {
			return nil, err
		}
		return nil, st.Err()
	}
	u := proto.Clone(req.GetUser()).(*userv1.User)
	u.Id = testUserID
	return u, nil
}

func (f *fakeUsers) GetUser(ctx context.Context, req *userv1.GetUserRequest) (*userv1.User, error) {
	// Response metadata of the kind a service or its libraries may set:
	// none of it may reach the HTTP client.
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-fake-header", "h"))
	_ = grpc.SetTrailer(ctx, metadata.Pairs("x-fake-trailer", "t"))
	md, _ := metadata.FromIncomingContext(ctx)
	f.rec.add("GetUser.x-request-id", strings.Join(md.Get("x-request-id"), ","))
	f.rec.add("GetUser.authorization", strings.Join(md.Get("authorization"), ","))
	switch req.GetId() {
	case "missing":
		return nil, status.Error(codes.NotFound, `user "missing" not found`)
	case "raw-unavailable":
		// As a gRPC library or proxy inside the service would say it.
		return nil, status.Error(codes.Unavailable, "connection error: desc = dial tcp 10.0.0.7:5432: connect: connection refused")
	case "unauthenticated":
		return nil, status.Error(codes.Unauthenticated, "missing or invalid access token")
	case "forbidden":
		return nil, status.Error(codes.PermissionDenied, "this call needs the admin role")
	case "exhausted":
		return nil, status.Error(codes.ResourceExhausted, "too many requests")
	case "locked", "locked-other-domain", "retry-info":
		// What the user service says about a locked login: the delay left.
		info := &errdetails.ErrorInfo{Reason: "LOGIN_LOCKED", Domain: "kassa.dev",
			Metadata: map[string]string{"retry_after_seconds": "42"}}
		st, err := status.New(codes.ResourceExhausted, "too many failed logins").WithDetails(info)
		switch req.GetId() {
		case "locked-other-domain":
			info.Domain = "example.com"
			st, err = status.New(codes.ResourceExhausted, "too many failed logins").WithDetails(info)
		case "retry-info":
			st, err = status.New(codes.ResourceExhausted, "too many failed logins").
				WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(2500 * time.Millisecond)})
		}
		if err != nil {
			return nil, err
		}
		return nil, st.Err()
	case "stall":
		f.rec.add("GetUser.stalled", req.GetId())
		<-ctx.Done() // until the gateway's deadline cancels the call, or the server stops
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return &userv1.User{Id: req.GetId(), Username: "ada"}, nil
}

func (f *fakeUsers) UpdateUser(_ context.Context, req *userv1.UpdateUserRequest) (*userv1.User, error) {
	f.rec.add("UpdateUser.update_mask", strings.Join(req.GetUpdateMask().GetPaths(), ","))
	return req.GetUser(), nil
}

// fakeAuth answers UNIMPLEMENTED; the interceptor still records which RPC
// a route reached.
type fakeAuth struct {
	userv1.UnimplementedAuthServiceServer
}

type fakeBilling struct {
	billingv1.UnimplementedBillingServiceServer
	rec *recorderLog
}

func (f *fakeBilling) GetAccount(_ context.Context, req *billingv1.GetAccountRequest) (*billingv1.Account, error) {
	return &billingv1.Account{UserId: req.GetUserId(), Balance: 0, Currency: "USD"}, nil
}

func (f *fakeBilling) Deposit(_ context.Context, req *billingv1.DepositRequest) (*billingv1.DepositResponse, error) {
	f.rec.add("Deposit.request_id", req.GetRequestId())
	return &billingv1.DepositResponse{
		Account:     &billingv1.Account{UserId: req.GetUserId(), Balance: req.GetAmount(), Currency: "USD"},
		Transaction: &billingv1.Transaction{UserId: req.GetUserId(), Amount: req.GetAmount(), RequestId: req.GetRequestId()},
	}, nil
}

func (f *fakeBilling) Withdraw(_ context.Context, req *billingv1.WithdrawRequest) (*billingv1.WithdrawResponse, error) {
	f.rec.add("Withdraw.request_id", req.GetRequestId())
	st, err := status.New(codes.FailedPrecondition, "insufficient funds").
		WithDetails(&errdetails.ErrorInfo{Reason: "INSUFFICIENT_FUNDS", Domain: "kassa.dev"})
	if err != nil {
		return nil, err
	}
	return nil, st.Err()
}

type fakeOrders struct {
	orderv1.UnimplementedOrderServiceServer
	rec *recorderLog
}

func (f *fakeOrders) CreateOrder(_ context.Context, req *orderv1.CreateOrderRequest) (*orderv1.Order, error) {
	f.rec.add("CreateOrder.request_id", req.GetRequestId())
	f.rec.add("CreateOrder.order.request_id", req.GetOrder().GetRequestId())
	return &orderv1.Order{Id: "o1", UserId: req.GetUserId(), Price: req.GetOrder().GetPrice(),
		Status: orderv1.Order_STATUS_PAID, RequestId: req.GetRequestId()}, nil
}

func (f *fakeOrders) GetOrder(_ context.Context, req *orderv1.GetOrderRequest) (*orderv1.Order, error) {
	if req.GetId() == "pending" {
		// The service's own UNAVAILABLE: a retry instruction for the client.
		st, err := status.New(codes.Unavailable, "order pending is pending: retry with the same request_id").
			WithDetails(&errdetails.ErrorInfo{Reason: "ORDER_PENDING", Domain: "kassa.dev"})
		if err != nil {
			return nil, err
		}
		return nil, st.Err()
	}
	return &orderv1.Order{Id: req.GetId(), UserId: req.GetUserId(), Status: orderv1.Order_STATUS_PAID}, nil
}

func (f *fakeOrders) CancelOrder(_ context.Context, req *orderv1.CancelOrderRequest) (*orderv1.Order, error) {
	f.rec.add("CancelOrder.request_id", req.GetRequestId())
	f.rec.add("CancelOrder.reason", req.GetReason())
	return &orderv1.Order{Id: req.GetId(), UserId: req.GetUserId(), Status: orderv1.Order_STATUS_CANCELLED}, nil
}

type fakeNotifications struct {
	notificationv1.UnimplementedNotificationServiceServer
	rec *recorderLog
}

// recorderLog collects what the fakes saw, by key, in order.
type recorderLog struct {
	mu   sync.Mutex
	seen map[string][]string
}

func (r *recorderLog) add(key, val string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = make(map[string][]string)
	}
	r.seen[key] = append(r.seen[key], val)
}

func (r *recorderLog) get(key string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen[key]...)
}

// fakeServer is one fake service on a loopback port with a health server.
type fakeServer struct {
	addr   string // as the gateway dials it
	grpc   *grpc.Server
	health *health.Server
	lis    *connListener
}

func startFake(t *testing.T, rec *recorderLog, register func(*grpc.Server)) *fakeServer {
	t.Helper()
	return startFakeAt(t, "127.0.0.1:0", rec, register)
}

// startFakeAt starts a fake on a TCP address or, for "unix://path", on a
// Unix socket; a stopped fake can be started again on the same socket
// without racing other tests for a port.
func startFakeAt(t *testing.T, addr string, rec *recorderLog, register func(*grpc.Server)) *fakeServer {
	t.Helper()
	network, laddr := "tcp", addr
	if path, ok := strings.CutPrefix(addr, "unix://"); ok {
		network, laddr = "unix", path
	}
	l, err := net.Listen(network, laddr)
	if err != nil {
		t.Fatal(err)
	}
	lis := &connListener{Listener: l}
	// Every call is recorded by method, to check which RPC a route reaches.
	s := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		rec.add("method", info.FullMethod)
		return h(ctx, req)
	}))
	register(s)
	hs := health.NewServer() // "" is SERVING from the start
	healthpb.RegisterHealthServer(s, hs)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(lis) }()
	t.Cleanup(func() { s.Stop(); <-done })
	if network == "tcp" {
		addr = l.Addr().String()
	}
	return &fakeServer{addr: addr, grpc: s, health: hs, lis: lis}
}

// testEnv is a gateway over the four fakes, served by httptest.
type testEnv struct {
	url     string
	rec     *recorderLog
	servers map[string]*fakeServer
	logs    *syncBuffer
	reg     *prometheus.Registry
	handler http.Handler // the gateway itself, for synchronous requests
	// lastContentLength is the ContentLength of the last request as the
	// HTTP server saw it (-1: unknown, i.e. chunked).
	lastContentLength atomic.Int64
}

func newEnv(t *testing.T, mutate ...func(*Config)) *testEnv {
	t.Helper()
	e := &testEnv{rec: &recorderLog{}, servers: make(map[string]*fakeServer), logs: &syncBuffer{}, reg: prometheus.NewRegistry()}
	e.servers["user"] = startFake(t, e.rec, func(s *grpc.Server) {
		userv1.RegisterUserServiceServer(s, &fakeUsers{rec: e.rec})
		userv1.RegisterAuthServiceServer(s, &fakeAuth{})
	})
	e.servers["billing"] = startFake(t, e.rec, func(s *grpc.Server) { billingv1.RegisterBillingServiceServer(s, &fakeBilling{rec: e.rec}) })
	e.servers["order"] = startFake(t, e.rec, func(s *grpc.Server) { orderv1.RegisterOrderServiceServer(s, &fakeOrders{rec: e.rec}) })
	e.servers["notification"] = startFake(t, e.rec, func(s *grpc.Server) {
		notificationv1.RegisterNotificationServiceServer(s, &fakeNotifications{rec: e.rec})
	})
	cfg := Config{
		Listen:           "127.0.0.1:0",
		UserAddr:         e.servers["user"].addr,
		BillingAddr:      e.servers["billing"].addr,
		OrderAddr:        e.servers["order"].addr,
		NotificationAddr: e.servers["notification"].addr,
		CallTimeout:      10 * time.Second,
		MaxBodyBytes:     DefaultMaxBodyBytes,
		Registerer:       e.reg,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	h, cleanup, err := New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(cleanup)
	e.handler = h
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.lastContentLength.Store(r.ContentLength)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic map, failing the test if it is not
// a JSON object.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// do sends a request; body may be a string or an io.Reader (an io.Reader
// other than *strings.Reader is sent chunked, without Content-Length). A
// request with a body is labelled application/json unless header says
// otherwise; a header given as "" is left out.
func (e *testEnv) do(t *testing.T, method, path string, body any, header map[string]string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case io.Reader:
		rd = b
	default:
		t.Fatalf("unsupported body %T", body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		if v == "" { // a header the request must not carry
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantStatus fails unless the response has the HTTP status and a
// google.rpc.Status body with the gRPC code.
func wantStatus(t *testing.T, r response, httpStatus int, code codes.Code) map[string]any {
	t.Helper()
	if r.status != httpStatus {
		t.Fatalf("HTTP status = %d, want %d; body %s", r.status, httpStatus, r.body)
	}
	m := r.json(t)
	if got, ok := m["code"].(float64); !ok || codes.Code(got) != code {
		t.Errorf("code = %v, want %d (%v); body %s", m["code"], code, code, r.body)
	}
	if msg, ok := m["message"].(string); !ok || msg == "" {
		t.Errorf("message missing; body %s", r.body)
	}
	if _, ok := m["details"].([]any); !ok {
		t.Errorf("details missing; body %s", r.body)
	}
	return m
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the JSON log records written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, l)
		}
		out = append(out, m)
	}
	return out
}

// has reports whether the log holds s anywhere.
func (b *syncBuffer) has(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Contains(b.buf.String(), s)
}

// contains reports whether any log record has the message msg.
func (b *syncBuffer) contains(msg string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Contains(b.buf.String(), `"msg":"`+msg+`"`)
}
