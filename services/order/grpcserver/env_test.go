package grpcserver_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/order/app"
	"github.com/kassa-dev/kassa/services/order/grpcserver"
	"github.com/kassa-dev/kassa/services/order/internal/fakepeers"
	"github.com/kassa-dev/kassa/services/order/peers"
	"github.com/kassa-dev/kassa/services/order/postgres"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/platform/retry"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is the order service on a real database and a real gRPC server with
// its access rules enforced, talking over real gRPC, with the service
// identity "order", to fake user, billing and notification services that
// admit only that identity. Calls to it carry a token per call: create,
// get and the helpers below send the owner's; tests that call e.orders
// directly pass e.as(t, user) or e.asAdmin(t).
type env struct {
	iss     *authtest.Issuer
	v       *auth.Verifier
	orders  orderv1.OrderServiceClient
	admin   orderv1.OrderAdminServiceClient
	svc     *app.Service
	db      *sqlx.DB
	reg     *prometheus.Registry // the service's metrics
	users   *fakepeers.Users
	billing *fakepeers.Billing
	letters *fakepeers.Notifier
}

// envSetup is what newEnv's options change.
type envSetup struct {
	db  pgdb.Options
	cfg app.Config
	// store wraps the real store, to inject faults.
	store func(*postgres.Store) app.Store
}

type envOption func(*envSetup)

// withPool gives the order service n pooled database connections.
func withPool(n int) envOption { return func(s *envSetup) { s.db.MaxOpenConns = n } }

// withConfig changes the service's configuration.
func withConfig(f func(*app.Config)) envOption { return func(s *envSetup) { f(&s.cfg) } }

// withStore puts wrap around the real store.
func withStore(wrap func(*postgres.Store) app.Store) envOption {
	return func(s *envSetup) { s.store = wrap }
}

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	setup := envSetup{
		// RepairMinAge 0: the passes see every unfinished item at once.
		// Retries fall due within milliseconds, so the loops' tests poll
		// briefly; they never park unless a test says so.
		cfg: app.Config{DefaultCurrency: "USD", Retry: retry.Policy{
			Base: time.Millisecond, Max: 20 * time.Millisecond, MaxAttempts: 1000,
		}},
		store: func(s *postgres.Store) app.Store { return s },
	}
	for _, o := range opts {
		o(&setup)
	}
	iss := authtest.NewIssuer(t)
	e := &env{
		iss:     iss,
		v:       iss.Verifier(t),
		reg:     prometheus.NewRegistry(),
		db:      pgtest.NewDBWith(t, postgres.Migrations, setup.db),
		users:   fakepeers.NewUsers(),
		billing: fakepeers.NewBilling(),
		letters: fakepeers.NewNotifier(),
	}
	peerConn := e.servePeers(t)
	setup.cfg.Metrics = app.NewMetrics(e.reg, "USD")
	svc, err := app.New(
		setup.store(postgres.New(e.db)),
		peers.NewUsers(userv1.NewUserServiceClient(peerConn)),
		peers.NewPayments(billingv1.NewBillingServiceClient(peerConn)),
		peers.NewLetters(notificationv1.NewNotificationServiceClient(peerConn)),
		setup.cfg,
	)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	e.serve(t, svc)
	return e
}

// servePeers serves the fakes with their access rules and returns a
// connection that carries the order service's token on every call, as
// the production peer connections do.
func (e *env) servePeers(t *testing.T) *grpc.ClientConn {
	t.Helper()
	return authtest.Serve(t, e.v, fakepeers.Rules,
		func(s *grpc.Server) { fakepeers.Register(s, e.users, e.billing, e.letters) },
		authtest.WithToken(e.iss.Service(t, "order")))
}

// serve serves svc as the order and admin APIs, with grpcserver.Rules
// enforced, and points e.orders and e.admin at it.
func (e *env) serve(t *testing.T, svc *app.Service) {
	t.Helper()
	conn := authtest.Serve(t, e.v, grpcserver.Rules, func(s *grpc.Server) {
		orderv1.RegisterOrderServiceServer(s, grpcserver.New(svc))
		orderv1.RegisterOrderAdminServiceServer(s, grpcserver.NewAdmin(svc))
	})
	e.orders, e.admin = orderv1.NewOrderServiceClient(conn), orderv1.NewOrderAdminServiceClient(conn)
}

// as sends the customer userID's token with a call.
func (e *env) as(t *testing.T, userID string) grpc.CallOption {
	t.Helper()
	return authtest.Bearer(e.iss.Customer(t, userID))
}

// asAdmin sends an admin's token with a call.
func (e *env) asAdmin(t *testing.T) grpc.CallOption {
	t.Helper()
	return authtest.Bearer(e.iss.Admin(t, authtest.NewUserID()))
}

// buyer adds a user whose USD account holds balance.
func (e *env) buyer(t *testing.T, balance int64) string {
	t.Helper()
	id := e.users.Add("buyer@example.com")
	e.billing.Open(id, "USD", balance)
	return id
}

func (e *env) create(t *testing.T, userID string, price int64, requestID string) (*orderv1.Order, error) {
	t.Helper()
	return e.orders.CreateOrder(context.Background(), &orderv1.CreateOrderRequest{
		UserId: userID, Order: &orderv1.Order{Price: price}, RequestId: requestID,
	}, e.as(t, userID))
}

func (e *env) mustCreate(t *testing.T, userID string, price int64, requestID string) *orderv1.Order {
	t.Helper()
	o, err := e.create(t, userID, price, requestID)
	if err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	return o
}

func (e *env) get(t *testing.T, userID, id string) *orderv1.Order {
	t.Helper()
	o, err := e.orders.GetOrder(context.Background(), &orderv1.GetOrderRequest{UserId: userID, Id: id}, e.as(t, userID))
	if err != nil {
		t.Fatalf("GetOrder: %v", err)
	}
	return o
}

// rows counts the orders stored in the database.
func (e *env) rows(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.db.Get(&n, `SELECT count(*) FROM orders`); err != nil {
		t.Fatal(err)
	}
	return n
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}
