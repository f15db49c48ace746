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

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
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

const secret = "the-notification-secret"

// fakePeers plays the user service's AuthService.Token (client "notification"
// with the right secret gets a service token) and billing's GetAccount
// (every user in accounts exists; held to billing's contract by
// TestFakePeers_KeepBillingsContract), recording who called.
type fakePeers struct {
	userv1.UnimplementedAuthServiceServer
	billingv1.UnimplementedBillingServiceServer
	token    string
	accounts map[string]bool

	mu          sync.Mutex
	tokenCalls  int
	billingSeen []string
}

func (p *fakePeers) Token(_ context.Context, req *userv1.TokenRequest) (*userv1.TokenResponse, error) {
	p.mu.Lock()
	p.tokenCalls++
	p.mu.Unlock()
	if req.GetGrantType() != "client_credentials" || req.GetClientId() != "notification" || req.GetClientSecret() != secret {
		return nil, apperr.Invalid("client", "unknown client or wrong secret")
	}
	return &userv1.TokenResponse{AccessToken: p.token, TokenType: "Bearer", ExpiresIn: 900}, nil
}

func (p *fakePeers) GetAccount(ctx context.Context, req *billingv1.GetAccountRequest) (*billingv1.Account, error) {
	who, _ := auth.FromContext(ctx)
	p.mu.Lock()
	p.billingSeen = append(p.billingSeen, who.String())
	known := p.accounts[req.GetUserId()]
	p.mu.Unlock()
	if !known {
		return nil, apperr.NotFound("account of user %s not found", req.GetUserId()).WithReason("ACCOUNT_NOT_FOUND")
	}
	return &billingv1.Account{UserId: req.GetUserId()}, nil
}

func (p *fakePeers) seen() (int, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tokenCalls, append([]string(nil), p.billingSeen...)
}

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

// start runs the process with its peers at userAddr and billingAddr and
// returns a client of its API once it serves.
func start(t *testing.T, iss *authtest.Issuer, userAddr, billingAddr string) notificationv1.NotificationServiceClient {
	t.Helper()
	addr := freeport.TestAddr(t)
	db := pgtest.NewDB(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"notification", "-listen", addr, "-admin-listen", "", "-database-url", pgtest.URL(t, db),
			"-user-addr", userAddr, "-billing-addr", billingAddr, "-call-timeout", "2s",
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
	t.Cleanup(func() { conn.Close() })
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("health: %v\n%s", err, out.String())
	}
	return notificationv1.NewNotificationServiceClient(conn)
}

// The whole process as deployed: an admin's list of an unknown user's
// letters makes the service fetch its own token with client credentials
// (once) and ask billing as service:notification; the answer follows
// billing's. With billing unreachable the answer is UNAVAILABLE.
func TestRun_AsksBillingAsServiceNotification(t *testing.T) {
	iss := authtest.NewIssuer(t)
	known := authtest.NewUserID()
	p := &fakePeers{token: iss.Service(t, "notification"), accounts: map[string]bool{known: true}}
	conn := authtest.Serve(t, iss.Verifier(t), map[string]auth.Rule{
		userv1.AuthService_Token_FullMethodName:            auth.Public,
		billingv1.BillingService_GetAccount_FullMethodName: auth.Services("notification"),
	}, func(s *grpc.Server) {
		userv1.RegisterAuthServiceServer(s, p)
		billingv1.RegisterBillingServiceServer(s, p)
	})
	admin := authtest.Bearer(iss.Admin(t, authtest.NewUserID()))
	ctx := context.Background()

	api := start(t, iss, conn.Target(), conn.Target())
	if _, err := api.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{UserId: known}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ListNotifications without a token = %v, want Unauthenticated", err)
	}
	if _, err := api.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{UserId: authtest.NewUserID()}, admin); status.Code(err) != codes.NotFound {
		t.Errorf("unknown user: %v, want NotFound", err)
	}
	if resp, err := api.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{UserId: known}, admin); err != nil || len(resp.GetNotifications()) != 0 {
		t.Errorf("known user without letters: %v, %v; want an empty list", resp, err)
	}
	tokens, who := p.seen()
	if tokens != 1 {
		t.Errorf("AuthService.Token called %d times for two lookups, want 1 (the token is cached)", tokens)
	}
	if len(who) != 2 || slices.ContainsFunc(who, func(s string) bool { return s != "service:notification" }) {
		t.Errorf("billing was called by %v, want service:notification twice", who)
	}

	down := start(t, iss, conn.Target(), freeport.TestAddr(t))
	_, err := down.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{UserId: known}, admin)
	if status.Code(err) != codes.Unavailable {
		t.Errorf("billing unreachable: %v, want Unavailable", err)
	}
}

func TestRun_NoClientSecret_RefusesToStartNamingIt(t *testing.T) {
	db := pgtest.NewDB(t, nil)
	var out syncBuffer
	err := run(context.Background(), []string{"notification", "-listen", "127.0.0.1:0", "-admin-listen", "", "-database-url", pgtest.URL(t, db)},
		func(string) string { return "" }, &out)
	if err == nil || !strings.Contains(err.Error(), "AUTH_CLIENT_SECRET") {
		t.Fatalf("run without a client secret = %v; want an error naming AUTH_CLIENT_SECRET", err)
	}
}
