package main

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/freeport"

	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/order/internal/fakepeers"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/platform/rpcclient"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const secret = "the-order-secret"

// tokenIssuer plays the user service's AuthService.Token: it hands the
// client "order" with the right secret token, a service token.
type tokenIssuer struct {
	userv1.UnimplementedAuthServiceServer
	token string

	mu    sync.Mutex
	calls int
}

func (s *tokenIssuer) Token(_ context.Context, req *userv1.TokenRequest) (*userv1.TokenResponse, error) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	if req.GetGrantType() != "client_credentials" || req.GetClientId() != "order" || req.GetClientSecret() != secret {
		return nil, apperr.Invalid("client", "unknown client or wrong secret")
	}
	return &userv1.TokenResponse{AccessToken: s.token, TokenType: "Bearer", ExpiresIn: 900}, nil
}

func (s *tokenIssuer) Calls() int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// The whole process as deployed: the order service gets its token from
// the user service with client credentials, once, and every call to user,
// billing and notification carries it; its own API refuses a call
// without a token.
func TestRun_PeersGetTheServiceOrderToken(t *testing.T) {
	iss := authtest.NewIssuer(t)
	users, billing, letters := fakepeers.NewUsers(), fakepeers.NewBilling(), fakepeers.NewNotifier()
	tokens := &tokenIssuer{token: iss.Service(t, "order")}
	rules := map[string]auth.Rule{userv1.AuthService_Token_FullMethodName: auth.Public}
	for m, r := range fakepeers.Rules {
		rules[m] = r
	}
	peers := authtest.Serve(t, iss.Verifier(t), rules, func(s *grpc.Server) {
		fakepeers.Register(s, users, billing, letters)
		userv1.RegisterAuthServiceServer(s, tokens)
	})
	buyer := users.Add("buyer@example.com")
	billing.Open(buyer, "USD", 1000)

	addr := freeport.TestAddr(t)
	db := pgtest.NewDB(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"order", "-listen", addr, "-admin-listen", "", "-database-url", pgtest.URL(t, db),
			"-user-addr", peers.Target(), "-billing-addr", peers.Target(), "-notification-addr", peers.Target(),
			"-auth-issuer", iss.URL, "-auth-jwks-url", iss.JWKSURL, "-auth-client-secret", secret,
		}, func(string) string { return "" }, out)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v\n%s", err, out.String())
		}
	})
	conn, err := rpcclient.Dial(addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("health: %v\n%s", err, out.String())
	}

	orders := orderv1.NewOrderServiceClient(conn)
	req := func(key string) *orderv1.CreateOrderRequest {
		return &orderv1.CreateOrderRequest{UserId: buyer, Order: &orderv1.Order{Price: 100}, RequestId: key}
	}
	if _, err := orders.CreateOrder(ctx, req("no-token")); status.Code(err) != codes.Unauthenticated {
		t.Errorf("CreateOrder without a token = %v, want Unauthenticated", err)
	}
	for _, key := range []string{"first", "second"} {
		o, err := orders.CreateOrder(ctx, req(key), authtest.Bearer(iss.Customer(t, buyer)))
		if err != nil || o.GetStatus() != orderv1.Order_STATUS_PAID {
			t.Fatalf("CreateOrder %s = %v, %v; want PAID\n%s", key, o, err, out.String())
		}
	}
	if n := tokens.Calls(); n != 1 {
		t.Errorf("AuthService.Token called %d times for two orders, want 1 (the token is cached)", n)
	}
	for name, who := range map[string][]string{
		"user": users.Callers(), "billing": billing.Callers(), "notification": letters.Callers(),
	} {
		if len(who) != 2 || slices.ContainsFunc(who, func(s string) bool { return s != "service:order" }) {
			t.Errorf("%s was called by %v, want service:order twice", name, who)
		}
	}
}

func TestRun_NoClientSecret_RefusesToStartNamingIt(t *testing.T) {
	db := pgtest.NewDB(t, nil)
	var out syncBuffer
	err := run(context.Background(), []string{"order", "-listen", "127.0.0.1:0", "-admin-listen", "", "-database-url", pgtest.URL(t, db)},
		func(string) string { return "" }, &out)
	if err == nil || !strings.Contains(err.Error(), "AUTH_CLIENT_SECRET") {
		t.Fatalf("run without a client secret = %v; want an error naming AUTH_CLIENT_SECRET", err)
	}
}
