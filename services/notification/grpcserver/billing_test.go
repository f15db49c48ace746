package grpcserver_test

import (
	"context"
	"sync"
	"testing"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/notification/app/peertest"
	"github.com/kassa-dev/kassa/services/notification/peers"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"google.golang.org/grpc"
)

// fakeBilling answers GetAccount the way billing does for the question the
// notification service asks: an account (open or closed) or NOT_FOUND.
// Served over real gRPC behind a rule that admits only the service
// identity "notification", so a lookup made without the service's own
// token fails. It remembers who asked. Without failures it keeps billing's
// contract (TestFakeBilling_KeepsBillingsContract).
type fakeBilling struct {
	billingv1.UnimplementedBillingServiceServer
	mu       sync.Mutex
	accounts map[string]bool // user id → closed
	down     bool
	lookups  int
	callers  []string
}

func (f *fakeBilling) GetAccount(ctx context.Context, req *billingv1.GetAccountRequest) (*billingv1.Account, error) {
	p, _ := auth.FromContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	f.callers = append(f.callers, p.String())
	if f.down {
		return nil, apperr.Unavailable("billing is down (fake)")
	}
	if _, ok := f.accounts[req.GetUserId()]; !ok {
		return nil, apperr.NotFound("account of user %s not found", req.GetUserId()).WithReason("ACCOUNT_NOT_FOUND")
	}
	return &billingv1.Account{UserId: req.GetUserId(), Currency: "USD"}, nil
}

// open gives userID an account; closed as when the user was deleted.
func (f *fakeBilling) open(userID string, closed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accounts[userID] = closed
}

func (f *fakeBilling) setDown(down bool) { f.mu.Lock(); f.down = down; f.mu.Unlock() }

func (f *fakeBilling) stats() (lookups int, callers []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups, append([]string(nil), f.callers...)
}

// serveBilling serves a fake billing and returns it with a connection that
// carries the notification service's token, as the production peer
// connection does.
func serveBilling(t *testing.T, iss *authtest.Issuer) (*fakeBilling, *grpc.ClientConn) {
	t.Helper()
	f := &fakeBilling{accounts: map[string]bool{}}
	conn := authtest.Serve(t, iss.Verifier(t),
		map[string]auth.Rule{billingv1.BillingService_GetAccount_FullMethodName: auth.Services("notification")},
		func(s *grpc.Server) { billingv1.RegisterBillingServiceServer(s, f) },
		authtest.WithToken(iss.Service(t, "notification")))
	return f, conn
}

// The fake is held, through the adapter the service uses, to the contract
// the real billing passes (the e2e module runs the same suite against it).
func TestFakeBilling_KeepsBillingsContract(t *testing.T) {
	iss := authtest.NewIssuer(t)
	peertest.RunAccounts(t, func(t *testing.T) peertest.Billing {
		f, conn := serveBilling(t, iss)
		return peertest.Billing{
			Accounts: peers.NewAccounts(billingv1.NewBillingServiceClient(conn)),
			Open:     func(_ *testing.T, user string) { f.open(user, false) },
			Close:    func(_ *testing.T, user string) { f.open(user, true) },
		}
	})
}
