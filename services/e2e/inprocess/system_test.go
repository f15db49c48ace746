package inprocess

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/gateway"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	billingpg "github.com/kassa-dev/kassa/services/billing/postgres"
	billingwire "github.com/kassa-dev/kassa/services/billing/wire"
	notificationpg "github.com/kassa-dev/kassa/services/notification/postgres"
	notificationwire "github.com/kassa-dev/kassa/services/notification/wire"
	orderpg "github.com/kassa-dev/kassa/services/order/postgres"
	orderwire "github.com/kassa-dev/kassa/services/order/wire"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/platform/rpcclient"
	"github.com/kassa-dev/kassa/services/platform/rpcserver"
	"github.com/kassa-dev/kassa/services/platform/telemetry"
	userapp "github.com/kassa-dev/kassa/services/user/app"
	userpg "github.com/kassa-dev/kassa/services/user/postgres"
	userwire "github.com/kassa-dev/kassa/services/user/wire"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// options say how to assemble the system.
type options struct {
	// instrumented gives every process its telemetry (metrics, tracing,
	// traced pools), as in production; false builds the plain servers.
	instrumented bool
	// spans receive the spans of every process (instrumented only).
	spans []sdktrace.SpanProcessor
	// logs receives every process's JSON log lines (nil: discarded).
	logs io.Writer
}

// system is kassa in one process.
type system struct {
	// handler is the gateway: ServeHTTP returns once the request is done,
	// its span ended and its access log written.
	handler http.Handler
	tel     map[string]*telemetry.Telemetry // by process; nil when plain
	stopped chan struct{}
	stop    func()
}

// Stop stops the gRPC servers gracefully and waits: every call has
// finished and every server span has ended when it returns.
func (s *system) Stop() { s.stop(); <-s.stopped }

// process is one of the five processes being assembled (the gateway has
// no listener or gRPC server of its own here).
type process struct {
	name string
	lis  net.Listener
	srv  *rpcserver.Server
	tel  *telemetry.Telemetry
	reg  prometheus.Registerer // nil when plain
	log  *slog.Logger
}

// callTimeout bounds every call between the services, as -call-timeout's
// default does.
const callTimeout = 5 * time.Second

func startSystem(t testing.TB, o options) *system {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := o.logs
	if out == nil {
		out = io.Discard
	}
	sys := &system{tel: map[string]*telemetry.Telemetry{}, stopped: make(chan struct{})}
	id := newIdentity(t, ctx)
	svcs := map[string]*process{}
	// DEBUG: a successful call's "finished call" line is written at that
	// level, and the trace test reads every service's lines.
	logOpts := &slog.HandlerOptions{Level: slog.LevelDebug}
	for _, name := range []string{"user", "billing", "order", "notification", "gateway"} {
		s := &process{name: name, log: slog.New(telemetry.LogHandler(slog.NewJSONHandler(out, logOpts))).With("service", name)}
		if o.instrumented {
			tel, err := telemetry.New(ctx, telemetry.Options{Service: name, Getenv: func(string) string { return "" }, SpanProcessors: o.spans})
			if err != nil {
				t.Fatal(err)
			}
			s.tel, s.reg = tel, tel.Registry
			sys.tel[name] = tel
		}
		if name != "gateway" {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			// Every service verifies tokens itself against the user
			// service's key set, with its own rule table, as cmd/<svc>
			// sets Spec.Auth.
			s.lis, s.srv = lis, rpcserver.NewWithAuth(s.log, s.tel, &auth.Guard{Verifier: id.verifier, Rules: rules[name], Log: s.log})
		}
		svcs[name] = s
	}
	// Peer connections as platform/boot makes them for Spec.Peers,
	// retries of UNAVAILABLE included.
	// Each caller sends its own service token on them (Deps.UsePeerTokens).
	dial := func(from *process, to string, tokens auth.TokenSource) *grpc.ClientConn {
		opts := append(from.tel.DialOptions(), rpcclient.WithRetries(), grpc.WithPerRPCCredentials(auth.PerRPCCredentials(tokens)))
		conn, err := rpcclient.Dial(svcs[to].lis.Addr().String(), callTimeout, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	// The order and notification services get their token by client
	// credentials from the user service (AuthService.Token with their
	// secret), fetched on their user connection without a token of its own.
	clientCredentialsConn := func(from *process) (*grpc.ClientConn, auth.TokenSource) {
		var tokens auth.TokenSource
		conn := dial(from, "user", auth.TokenSourceFunc(func(ctx context.Context) (string, time.Time, error) {
			return tokens.Token(ctx)
		}))
		tokens = clientCredentials(userv1.NewAuthServiceClient(conn), from.name, id.secrets[from.name])
		return conn, tokens
	}

	// Each service is built by its wire package from the typed
	// configuration its cmd reads from flags, here at the flags' defaults;
	// the background loops are not started.

	// billing
	b := svcs["billing"]
	bdb := pgtest.NewDBWith(t, billingpg.Migrations, poolOptions(b.tel))
	registerPool(t, b.tel, bdb.DB)
	if _, err := billingwire.New(b.srv.GRPC, bdb, billingwire.Config{DefaultCurrency: "USD", Metrics: b.reg}); err != nil {
		t.Fatal(err)
	}

	// notification
	n := svcs["notification"]
	ndb := pgtest.NewDBWith(t, notificationpg.Migrations, poolOptions(n.tel))
	registerPool(t, n.tel, ndb.DB)
	// Its user connection only fetches its token, for its calls to billing.
	_, notificationTokens := clientCredentialsConn(n)
	notificationwire.New(n.srv.GRPC, ndb, notificationwire.Peers{Billing: dial(n, "billing", notificationTokens)},
		notificationwire.Config{Log: n.log, Metrics: n.reg})

	// user
	u := svcs["user"]
	udb := pgtest.NewDBWith(t, userpg.Migrations, poolOptions(u.tel))
	registerPool(t, u.tel, udb.DB)
	// The issuer signs its own service token for its calls to billing.
	userTokens := auth.Cached(auth.TokenSourceFunc(id.issuer.ServiceSource("user")))
	if _, err := userwire.New(u.srv.GRPC, udb, userwire.Peers{Billing: dial(u, "billing", userTokens)}, userwire.Config{
		Currency: "USD", Auth: userapp.AuthConfig{Issuer: id.issuer, Clients: id.clients}, Log: u.log, Metrics: u.reg,
	}); err != nil {
		t.Fatal(err)
	}

	// order
	or := svcs["order"]
	odb := pgtest.NewDBWith(t, orderpg.Migrations, poolOptions(or.tel))
	registerPool(t, or.tel, odb.DB)
	orderUser, orderTokens := clientCredentialsConn(or)
	if _, err := orderwire.New(or.srv.GRPC, odb, orderwire.Peers{
		User: orderUser, Billing: dial(or, "billing", orderTokens), Notification: dial(or, "notification", orderTokens),
	}, orderwire.Config{DefaultCurrency: "USD", CallTimeout: callTimeout, Log: or.log, Metrics: or.reg}); err != nil {
		t.Fatal(err)
	}
	for name, p := range svcs {
		if p.srv == nil {
			continue
		}
		// As service.Run refuses to start: every method has a rule.
		if err := auth.CheckServer(p.srv.GRPC, rules[name]); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}

	// serve
	var wg sync.WaitGroup
	for _, name := range []string{"user", "billing", "order", "notification"} {
		s := svcs[name]
		wg.Go(func() {
			if err := s.srv.Serve(ctx, s.lis, 10*time.Second); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	go func() { wg.Wait(); close(sys.stopped) }()
	sys.stop = cancel
	t.Cleanup(sys.Stop)

	// gateway
	g := svcs["gateway"]
	h, cleanup, err := gateway.New(ctx, gateway.Config{
		Listen:   "unused",
		UserAddr: svcs["user"].lis.Addr().String(), BillingAddr: svcs["billing"].lis.Addr().String(),
		OrderAddr: svcs["order"].lis.Addr().String(), NotificationAddr: svcs["notification"].lis.Addr().String(),
		CallTimeout: 10 * time.Second, MaxBodyBytes: gateway.DefaultMaxBodyBytes, Telemetry: g.tel,
		JWKSSourceURL: id.jwksURL, AuthIssuer: id.issuerURL, Subject: id.subject,
	}, g.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	sys.handler = h
	for _, tel := range sys.tel {
		t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	}
	return sys
}

// poolOptions are the pool settings of a service: traced when it is.
func poolOptions(tel *telemetry.Telemetry) pgdb.Options {
	return pgdb.Options{MaxOpenConns: 20, TracerProvider: tel.DBTracerProvider()}
}

func registerPool(t testing.TB, tel *telemetry.Telemetry, db *sql.DB) {
	t.Helper()
	if err := tel.RegisterDB(db); err != nil {
		t.Fatal(err)
	}
}

// call sends a REST request to the gateway and decodes the JSON answer; a
// status other than 200 fails the test.
func (s *system) call(t testing.TB, method, path string, body any, header http.Header) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s %s = %d: %s", method, path, rec.Code, rec.Body)
	}
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return out
}

// buyer is a registered, logged-in user.
type buyer struct {
	id    string
	token string // access token, sent as Authorization: Bearer
}

// auth is the header carrying the buyer's token, plus extra.
func (b buyer) auth(extra http.Header) http.Header {
	h := http.Header{"Authorization": {"Bearer " + b.token}}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

// fundedUser registers a user with a password, logs in and deposits
// amount as that user.
func (s *system) fundedUser(t testing.TB, name string, amount int64) buyer {
	t.Helper()
	password := "pw-" + name + "-long enough"
	u := s.call(t, "POST", "/v1/users", map[string]any{"username": name, "email": name + "@example.com", "password": password},
		http.Header{"Idempotency-Key": {"user-" + name}})
	id, _ := u["id"].(string)
	if id == "" {
		t.Fatalf("CreateUser answered without an id: %v", u)
	}
	login := s.call(t, "POST", "/v1/auth/login", map[string]any{"username": name, "password": password}, nil)
	b := buyer{id: id}
	if b.token, _ = login["accessToken"].(string); b.token == "" {
		t.Fatalf("login answered no token: %v", login)
	}
	s.call(t, "POST", "/v1/users/"+id+"/account:deposit", map[string]any{"amount": amount, "requestId": "deposit-" + name}, b.auth(nil))
	return b
}

// syncBuffer collects log lines written by many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// lines returns the JSON log records written so far.
func (b *syncBuffer) lines(t testing.TB) []map[string]any {
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
