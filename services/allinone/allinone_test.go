package allinone

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/freeport"

	"github.com/jmoiron/sqlx"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/platform/rpcclient"
	"github.com/kassa-dev/kassa/services/user/keys"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

// testEnv is the environment of a whole process on throwaway databases
// and free ports, with login enabled and the order and notification
// services' client secrets.
func testEnv(t testing.TB) map[string]string {
	env, _ := testEnvDBs(t)
	return env
}

// testEnvDBs is testEnv with each service's database.
func testEnvDBs(t testing.TB) (map[string]string, map[string]*sqlx.DB) {
	t.Helper()
	signing := filepath.Join(t.TempDir(), "signing-keys.json")
	if _, err := keys.Generate(signing); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"AUTH_ISSUER": "http://kassa.test", "AUTH_SIGNING_KEYS": signing, "LOG_LEVEL": "warn",
	}
	var clients []string
	for _, c := range []string{"order", "notification"} {
		secret := c + "-secret-of-the-test"
		sum := sha256.Sum256([]byte(secret))
		clients = append(clients, c+"="+hex.EncodeToString(sum[:]))
		env[strings.ToUpper(c)+"_AUTH_CLIENT_SECRET"] = secret
	}
	env["USER_AUTH_CLIENTS"] = strings.Join(clients, ",")
	dbs := map[string]*sqlx.DB{}
	for _, c := range components() {
		p := strings.ToUpper(c.name) + "_"
		env[p+"LISTEN_ADDR"], env[p+"ADMIN_ADDR"] = freeport.TestAddr(t), freeport.TestAddr(t)
		if c.name != gatewayName {
			dbs[c.name] = pgtest.NewDB(t, nil)
			env[p+"DATABASE_URL"] = pgtest.URL(t, dbs[c.name])
		}
	}
	env["AUTH_JWKS_URL"] = "http://" + env["USER_ADMIN_ADDR"] + "/.well-known/jwks.json"
	return env, dbs
}

// startSystem starts the process's components as Run does, spans going
// to spans too, and waits until every service reports SERVING. stop ends
// it as SIGTERM does (also at the test's end) and returns when every
// component has stopped.
func startSystem(t testing.TB, env map[string]string, spans ...sdktrace.SpanProcessor) (_ *system, stop func()) {
	t.Helper()
	comps := components()
	cfg, err := parse(comps, nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sys, err := start(ctx, comps, cfg, io.Discard, spans...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sys.serve(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for _, name := range []string{"billing", "user", "notification", "order"} {
		health := healthpb.NewHealthClient(sys.byName[name].server.Channel(nil))
		for {
			resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
			if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not serving: %v %v", name, resp, err)
			}
			time.Sleep(20 * time.Millisecond) // polling with a deadline
		}
	}
	return sys, stop
}

// register creates a user with a password through conn and logs in; it
// returns the user's id and access token.
func register(t testing.TB, conn grpc.ClientConnInterface, name string) (id, token string) {
	t.Helper()
	ctx := context.Background()
	u, err := userv1.NewUserServiceClient(conn).CreateUser(ctx, &userv1.CreateUserRequest{RequestId: "r-" + name,
		User: &userv1.User{Username: name, Email: name + "@example.com", Password: "a long enough password"}})
	if err != nil {
		t.Fatalf("CreateUser %s: %v", name, err)
	}
	login, err := userv1.NewAuthServiceClient(conn).Login(ctx, &userv1.LoginRequest{Username: name, Password: "a long enough password"})
	if err != nil {
		t.Fatalf("Login %s: %v", name, err)
	}
	return u.GetId(), login.GetAccessToken()
}

// The in-process calls meet the same access rules as calls over the
// services' gRPC ports: every service's guard runs on its channels with
// its own rule table. A customer's token reads its own account, finds
// another user's missing and is refused the internal RPCs; no token is
// unauthenticated; the same answers over the port of the same process.
func TestAllInOne_InProcessCallsEnforceTheSameAccessRules(t *testing.T) {
	env := testEnv(t)
	sys, _ := startSystem(t, env)
	gw := sys.byName[gatewayName].tel
	channel := func(name string) grpc.ClientConnInterface { return sys.byName[name].server.Channel(gw) }
	eve, eveToken := register(t, channel("user"), "eve")
	ada, _ := register(t, channel("user"), "ada")

	type target struct {
		name string
		conn func(service string) grpc.ClientConnInterface
	}
	dialed := map[string]*grpc.ClientConn{}
	for _, name := range []string{"user", "billing", "order", "notification"} {
		conn, err := rpcclient.Dial(env[strings.ToUpper(name)+"_LISTEN_ADDR"], 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		dialed[name] = conn
	}
	targets := []target{
		{"in process", channel},
		{"over the gRPC port", func(s string) grpc.ClientConnInterface { return dialed[s] }},
	}
	calls := []struct {
		name    string
		service string
		call    func(ctx context.Context, conn grpc.ClientConnInterface) error
		want    codes.Code // with eve's token; without one every call is Unauthenticated
	}{
		{"own GetAccount", "billing", func(ctx context.Context, c grpc.ClientConnInterface) error {
			_, err := billingv1.NewBillingServiceClient(c).GetAccount(ctx, &billingv1.GetAccountRequest{UserId: eve})
			return err
		}, codes.OK},
		{"another user's GetAccount", "billing", func(ctx context.Context, c grpc.ClientConnInterface) error {
			_, err := billingv1.NewBillingServiceClient(c).GetAccount(ctx, &billingv1.GetAccountRequest{UserId: ada})
			return err
		}, codes.NotFound},
		{"another user's GetUser", "user", func(ctx context.Context, c grpc.ClientConnInterface) error {
			_, err := userv1.NewUserServiceClient(c).GetUser(ctx, &userv1.GetUserRequest{Id: ada})
			return err
		}, codes.NotFound},
		{"billing Refund", "billing", func(ctx context.Context, c grpc.ClientConnInterface) error {
			_, err := billingv1.NewBillingServiceClient(c).Refund(ctx, &billingv1.RefundRequest{UserId: eve, RequestId: "refund-1",
				Original: &billingv1.RefundRequest_OrderId{OrderId: "5f0c8a47-3b2a-4c1e-9d7f-2a6b8c9d0e1f"}})
			return err
		}, codes.PermissionDenied},
		{"billing CreateAccount", "billing", func(ctx context.Context, c grpc.ClientConnInterface) error {
			_, err := billingv1.NewBillingServiceClient(c).CreateAccount(ctx, &billingv1.CreateAccountRequest{UserId: ada, Currency: "USD"})
			return err
		}, codes.PermissionDenied},
		{"OrderAdminService ListParked", "order", func(ctx context.Context, c grpc.ClientConnInterface) error {
			_, err := orderv1.NewOrderAdminServiceClient(c).ListParked(ctx, &orderv1.ListParkedRequest{})
			return err
		}, codes.PermissionDenied},
		{"UserAdminService ListParked", "user", func(ctx context.Context, c grpc.ClientConnInterface) error {
			_, err := userv1.NewUserAdminServiceClient(c).ListParked(ctx, &userv1.ListParkedRequest{})
			return err
		}, codes.PermissionDenied},
		{"NotificationService SendNotification", "notification", func(ctx context.Context, c grpc.ClientConnInterface) error {
			_, err := notificationv1.NewNotificationServiceClient(c).SendNotification(ctx, &notificationv1.SendNotificationRequest{UserId: eve,
				RequestId: "n-1", Notification: &notificationv1.Notification{Email: "eve@example.com", Subject: "s", Body: "b"}})
			return err
		}, codes.PermissionDenied},
	}
	// The services' own calls to each other carry their service tokens
	// in process: an order is paid (order → user, billing) and its letter
	// stored (order → notification).
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+eveToken)
	if _, err := billingv1.NewBillingServiceClient(channel("billing")).Deposit(ctx, &billingv1.DepositRequest{UserId: eve, Amount: 1000, RequestId: "d-1"}); err != nil {
		t.Fatal(err)
	}
	o, err := orderv1.NewOrderServiceClient(channel("order")).CreateOrder(ctx, &orderv1.CreateOrderRequest{UserId: eve, Order: &orderv1.Order{Price: 100}, RequestId: "o-1"})
	if err != nil || o.GetStatus() != orderv1.Order_STATUS_PAID {
		t.Fatalf("CreateOrder = %v, %v; want a paid order", o, err)
	}
	letters, err := notificationv1.NewNotificationServiceClient(channel("notification")).ListNotifications(ctx, &notificationv1.ListNotificationsRequest{UserId: eve})
	if err != nil || len(letters.GetNotifications()) != 1 {
		t.Fatalf("ListNotifications = %v, %v; want the order's letter", letters, err)
	}

	for _, tg := range targets {
		for _, c := range calls {
			t.Run(tg.name+"/"+c.name, func(t *testing.T) {
				withToken := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+eveToken)
				if got := status.Code(c.call(withToken, tg.conn(c.service))); got != c.want {
					t.Errorf("with eve's token: %v, want %v", got, c.want)
				}
				if got := status.Code(c.call(context.Background(), tg.conn(c.service))); got != codes.Unauthenticated {
					t.Errorf("without a token: %v, want Unauthenticated", got)
				}
			})
		}
	}
}

// Every component's settings are its binary's, under its name; the plain
// variable is the fallback of a shared setting but never of a per-instance
// one, and a bad value is reported by the name this process reads.
func TestParse_SettingsByComponent(t *testing.T) {
	base := map[string]string{
		"BILLING_DATABASE_URL": "postgres://b", "USER_DATABASE_URL": "postgres://u",
		"ORDER_DATABASE_URL": "postgres://o", "NOTIFICATION_DATABASE_URL": "postgres://n",
		"ORDER_AUTH_CLIENT_SECRET": "s", "NOTIFICATION_AUTH_CLIENT_SECRET": "s",
	}
	tests := []struct {
		name   string
		set    map[string]string
		args   []string
		check  func(t *testing.T, c config)
		errHas []string
	}{
		{name: "defaults and own databases", check: func(t *testing.T, c config) {
			if c.services["user"].DatabaseURL != "postgres://u" || c.services["billing"].Listen != ":50052" || c.gateway.Listen != ":8080" {
				t.Errorf("user db %q, billing listen %q, gateway listen %q", c.services["user"].DatabaseURL, c.services["billing"].Listen, c.gateway.Listen)
			}
		}},
		{name: "shared fallback, own override", set: map[string]string{"DB_MAX_CONNS": "7", "ORDER_DB_MAX_CONNS": "3"}, check: func(t *testing.T, c config) {
			if c.services["billing"].DBMaxConns != 7 || c.services["order"].DBMaxConns != 3 {
				t.Errorf("billing %d, order %d; want 7 and 3", c.services["billing"].DBMaxConns, c.services["order"].DBMaxConns)
			}
		}},
		{name: "flag beats environment", set: map[string]string{"USER_DB_MAX_CONNS": "5"}, args: []string{"-user-db-max-conns", "9"},
			check: func(t *testing.T, c config) {
				if c.services["user"].DBMaxConns != 9 {
					t.Errorf("user db-max-conns %d, want the flag's 9", c.services["user"].DBMaxConns)
				}
			}},
		{name: "plain DATABASE_URL is no one's", set: map[string]string{"USER_DATABASE_URL": "", "DATABASE_URL": "postgres://shared"},
			errHas: []string{"user: user-database-url (USER_DATABASE_URL) is required"}},
		{name: "bad shared value names every component", set: map[string]string{"LOG_LEVEL": "loud"},
			errHas: []string{"billing: billing-log-level (BILLING_LOG_LEVEL)", "gateway: gateway-log-level (GATEWAY_LOG_LEVEL)"}},
		{name: "bad own value", args: []string{"-order-repair-interval", "0s"},
			errHas: []string{"order: order-repair-interval (ORDER_REPAIR_INTERVAL): want a positive duration"}},
		{name: "unprefixed flag refused", args: []string{"-database-url", "postgres://x"}, errHas: []string{"-database-url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.set {
				env[k] = v
			}
			c, err := parse(components(), tt.args, func(k string) string { return env[k] }, io.Discard)
			if tt.errHas == nil {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, c)
				return
			}
			for _, want := range tt.errHas {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v; want it to contain %q", err, want)
				}
			}
		})
	}
}

// -h lists every component's settings under its name, with the variable
// it is read from.
func TestRun_Help(t *testing.T) {
	var out strings.Builder
	if err := Run(context.Background(), []string{"kassa", "-h"}, func(string) string { return "" }, &out, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"-user-database-url", "(env USER_DATABASE_URL)", "-billing-default-currency", "(env BILLING_DEFAULT_CURRENCY, else DEFAULT_CURRENCY)",
		"-gateway-listen", `(default ":8080")`, "-order-repair-interval", "-notification-admin-listen", `(default ":9104")`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
	for _, gone := range []string{"-user-billing-addr", "-gateway-user-addr", "\n  -database-url"} {
		if strings.Contains(out.String(), gone) {
			t.Errorf("help has %q: peers are in process", gone)
		}
	}
}

// An order through the gateway's port is one trace across the process: the
// gateway's server span, and for each in-process hop (gateway → order,
// order → user, billing, notification) the caller's client span with the
// callee's server span as its child, each span named by the service that
// made it, as in the microservices.
func TestAllInOne_OneTraceAcrossInProcessHops(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	env := testEnv(t)
	sys, stop := startSystem(t, env, keepSpans{sdktrace.NewSimpleSpanProcessor(exp)})
	eve, token := register(t, sys.byName["user"].server.Channel(nil), "tracy")
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
	if _, err := billingv1.NewBillingServiceClient(sys.byName["billing"].server.Channel(nil)).Deposit(ctx, &billingv1.DepositRequest{UserId: eve, Amount: 1000, RequestId: "d-1"}); err != nil {
		t.Fatal(err)
	}
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, err := http.NewRequest("POST", "http://"+env["GATEWAY_LISTEN_ADDR"]+"/v1/users/"+eve+"/orders", strings.NewReader(`{"price":"100"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", "order-1")
	req.Header.Set("Traceparent", "00-"+traceID+"-"+parentID+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST order = %d", resp.StatusCode)
	}
	stop() // every span has ended

	type key struct {
		service string
		kind    trace.SpanKind
		name    string
	}
	spans := map[key]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID().String() != traceID {
			continue
		}
		var service string
		for _, a := range s.Resource.Attributes() {
			if a.Key == "service.name" {
				service = a.Value.AsString()
			}
		}
		spans[key{service, s.SpanKind, s.Name}] = s
	}
	root, ok := spans[key{"gateway", trace.SpanKindServer, "POST /v1/users/{user_id}/orders"}]
	if !ok || root.Parent.SpanID().String() != parentID {
		t.Fatalf("no gateway server span under the client's span; spans of the trace: %v", spanKeys(spans))
	}
	hop := func(parent tracetest.SpanStub, from, to, method string) tracetest.SpanStub {
		t.Helper()
		client, ok := spans[key{from, trace.SpanKindClient, method}]
		if !ok || client.Parent.SpanID() != parent.SpanContext.SpanID() {
			t.Fatalf("%s: no client span of %s under %s; spans: %v", method, from, parent.Name, spanKeys(spans))
		}
		server, ok := spans[key{to, trace.SpanKindServer, method}]
		if !ok || server.Parent.SpanID() != client.SpanContext.SpanID() {
			t.Fatalf("%s: no server span of %s under %s's client span; spans: %v", method, to, from, spanKeys(spans))
		}
		return server
	}
	order := hop(root, "gateway", "order", "kassa.order.v1.OrderService/CreateOrder")
	hop(order, "order", "user", "kassa.user.v1.UserService/GetUser")
	hop(order, "order", "billing", "kassa.billing.v1.BillingService/Withdraw")
	hop(order, "order", "notification", "kassa.notification.v1.NotificationService/SendNotification")
}

func spanKeys[K comparable, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// keepSpans is a span processor whose spans outlive the tracer providers:
// each component's provider shuts its processors down as the process ends,
// and the in-memory exporter forgets its spans when shut down.
type keepSpans struct{ sdktrace.SpanProcessor }

func (keepSpans) Shutdown(context.Context) error { return nil }

// migrate applies each service's migrations to its own database and
// serves nothing.
func TestRun_Migrate_EachServiceItsOwnSchema(t *testing.T) {
	env, dbs := testEnvDBs(t)
	if err := Run(context.Background(), []string{"kassa", "migrate"}, func(k string) string { return env[k] }, io.Discard, Options{}); err != nil {
		t.Fatal(err)
	}
	for service, table := range map[string]string{"user": "users", "billing": "accounts", "order": "orders", "notification": "notifications"} {
		for other, db := range dbs {
			var n int
			if err := db.Get(&n, `SELECT count(*) FROM information_schema.tables WHERE table_name = $1`, table); err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 1, false: 0}[other == service]; n != want {
				t.Errorf("table %s in %s's database: %d, want %d", table, other, n, want)
			}
		}
	}
	if l, err := net.Listen("tcp", env["USER_LISTEN_ADDR"]); err != nil {
		t.Errorf("migrate left the user service's port taken: %v", err)
	} else {
		l.Close()
	}
	if err := Run(context.Background(), []string{"kassa", "upgrade"}, func(k string) string { return env[k] }, io.Discard, Options{}); err == nil || !strings.Contains(err.Error(), `unknown command "upgrade"`) {
		t.Errorf("kassa upgrade = %v, want unknown command", err)
	}
}
