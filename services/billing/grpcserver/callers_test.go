package grpcserver_test

import (
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/billing/app"
	"github.com/kassa-dev/kassa/services/billing/grpcserver"
	"github.com/kassa-dev/kassa/services/billing/postgres"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/platform/validate"
	"google.golang.org/grpc"
)

// billingEnv is the billing API served over a fresh database with the
// production access checks: tokens verified against a test issuer and
// grpcserver.Rules enforced.
type billingEnv struct {
	iss *authtest.Issuer
	// raw sends no token of its own: pass authtest.Bearer per call.
	raw billingv1.BillingServiceClient
	// conn is raw's connection, for requests no generated client sends.
	conn *grpc.ClientConn
	db   *sqlx.DB
}

func serve(t *testing.T) *billingEnv {
	t.Helper()
	return serveWith(t, app.Config{DefaultCurrency: "USD"})
}

// serveWith is serve with the service configured by cfg.
func serveWith(t *testing.T, cfg app.Config) *billingEnv {
	t.Helper()
	db := pgtest.NewDB(t, postgres.Migrations)
	svc, err := app.New(postgres.New(db), cfg)
	if err != nil {
		t.Fatal(err)
	}
	iss := authtest.NewIssuer(t)
	conn := authtest.Serve(t, iss.Verifier(t), grpcserver.Rules, func(s *grpc.Server) {
		billingv1.RegisterBillingServiceServer(s, grpcserver.New(svc))
	})
	return &billingEnv{iss: iss, raw: billingv1.NewBillingServiceClient(conn), conn: conn, db: db}
}

// newClient serves the billing API and returns a client that makes every
// call as its production caller would (see asCallers), with the database
// for checks behind the API's back.
func newClient(t *testing.T) (billingv1.BillingServiceClient, *sqlx.DB) {
	t.Helper()
	e := serve(t)
	return e.asCallers(t), e.db
}

// asCallers returns a client that sends each call with the identity that
// makes it in production: the user service opens and closes accounts, the
// order service pays orders (Withdraw with order_id) and refunds them, and everything else
// comes from the account's own customer. A user_id that is not a UUID has
// no owner, so a customer of another id sends it. An explicit
// authtest.Bearer in a call's options wins over the chosen identity.
func (e *billingEnv) asCallers(t *testing.T) billingv1.BillingServiceClient {
	t.Helper()
	return &callers{
		BillingServiceClient: e.raw,
		t:                    t,
		iss:                  e.iss,
		userService:          e.iss.Service(t, "user"),
		orderService:         e.iss.Service(t, "order"),
		stranger:             uuid.NewString(),
		customers:            map[string]string{},
	}
}

type callers struct {
	billingv1.BillingServiceClient
	t                         *testing.T
	iss                       *authtest.Issuer
	userService, orderService string
	stranger                  string

	mu        sync.Mutex
	customers map[string]string // user id → token
}

// customer is the token of userID's customer. Tokens are minted once per
// user, so concurrent calls share them.
func (c *callers) customer(userID string) string {
	id, err := validate.ID("user_id", userID)
	if err != nil {
		id = c.stranger
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	tok, ok := c.customers[id]
	if !ok {
		tok = c.iss.Customer(c.t, id)
		c.customers[id] = tok
	}
	return tok
}

func with(token string, opts []grpc.CallOption) []grpc.CallOption {
	return append([]grpc.CallOption{authtest.Bearer(token)}, opts...)
}

func (c *callers) CreateAccount(ctx context.Context, in *billingv1.CreateAccountRequest, opts ...grpc.CallOption) (*billingv1.Account, error) {
	return c.BillingServiceClient.CreateAccount(ctx, in, with(c.userService, opts)...)
}

func (c *callers) CloseAccount(ctx context.Context, in *billingv1.CloseAccountRequest, opts ...grpc.CallOption) (*billingv1.Account, error) {
	return c.BillingServiceClient.CloseAccount(ctx, in, with(c.userService, opts)...)
}

func (c *callers) GetAccount(ctx context.Context, in *billingv1.GetAccountRequest, opts ...grpc.CallOption) (*billingv1.Account, error) {
	return c.BillingServiceClient.GetAccount(ctx, in, with(c.customer(in.GetUserId()), opts)...)
}

func (c *callers) Deposit(ctx context.Context, in *billingv1.DepositRequest, opts ...grpc.CallOption) (*billingv1.DepositResponse, error) {
	return c.BillingServiceClient.Deposit(ctx, in, with(c.customer(in.GetUserId()), opts)...)
}

func (c *callers) Withdraw(ctx context.Context, in *billingv1.WithdrawRequest, opts ...grpc.CallOption) (*billingv1.WithdrawResponse, error) {
	tok := c.orderService
	if in.GetOrderId() == "" {
		tok = c.customer(in.GetUserId())
	}
	return c.BillingServiceClient.Withdraw(ctx, in, with(tok, opts)...)
}

func (c *callers) ListTransactions(ctx context.Context, in *billingv1.ListTransactionsRequest, opts ...grpc.CallOption) (*billingv1.ListTransactionsResponse, error) {
	return c.BillingServiceClient.ListTransactions(ctx, in, with(c.customer(in.GetUserId()), opts)...)
}

func (c *callers) Refund(ctx context.Context, in *billingv1.RefundRequest, opts ...grpc.CallOption) (*billingv1.RefundResponse, error) {
	return c.BillingServiceClient.Refund(ctx, in, with(c.orderService, opts)...)
}
