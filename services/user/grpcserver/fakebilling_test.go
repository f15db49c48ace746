package grpcserver_test

import (
	"context"
	"sync"
	"testing"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/grpctest"
	"github.com/kassa-dev/kassa/services/user/app/peertest"
	"github.com/kassa-dev/kassa/services/user/peers"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeBilling is an in-memory BillingService that counts calls per user and
// can fail the next calls with UNAVAILABLE, served over real gRPC so the
// user service's client path is exercised. Without failures it keeps
// billing's contract (TestFakeBilling_KeepsBillingsContract).
type fakeBilling struct {
	billingv1.UnimplementedBillingServiceServer
	mu          sync.Mutex
	accounts    map[string]*billingv1.Account
	createCalls map[string]int
	failCreate  int             // fail the next N CreateAccount calls
	failClose   int             // fail the next N CloseAccount calls
	refuse      map[string]bool // users whose CreateAccount always fails
}

func newFakeBilling() *fakeBilling {
	return &fakeBilling{accounts: make(map[string]*billingv1.Account), createCalls: make(map[string]int), refuse: make(map[string]bool)}
}

func (f *fakeBilling) CreateAccount(_ context.Context, req *billingv1.CreateAccountRequest) (*billingv1.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.createCalls[req.GetUserId()]++
	if f.failCreate > 0 {
		f.failCreate--
		return nil, status.Error(codes.Unavailable, "billing is down")
	}
	if f.refuse[req.GetUserId()] {
		return nil, status.Error(codes.FailedPrecondition, "account refused for this user")
	}
	if a, ok := f.accounts[req.GetUserId()]; ok {
		// Idempotent per user, like the real service, which refuses only
		// another currency explicitly asked for.
		if c := req.GetCurrency(); c != "" && c != a.GetCurrency() {
			return nil, apperr.AlreadyExists("user %s already has an account in %s, not %s", req.GetUserId(), a.GetCurrency(), c).WithReason("ACCOUNT_EXISTS")
		}
		return a, nil
	}
	currency := req.GetCurrency()
	if currency == "" {
		currency = "USD" // billing's default
	}
	a := &billingv1.Account{UserId: req.GetUserId(), Currency: currency, CreateTime: timestamppb.Now()}
	f.accounts[req.GetUserId()] = a
	return a, nil
}

func (f *fakeBilling) CloseAccount(_ context.Context, req *billingv1.CloseAccountRequest) (*billingv1.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failClose > 0 {
		f.failClose--
		return nil, status.Error(codes.Unavailable, "billing is down")
	}
	a, ok := f.accounts[req.GetUserId()]
	if !ok {
		return nil, status.Error(codes.NotFound, "no account")
	}
	if a.CloseTime == nil {
		a.CloseTime = timestamppb.Now()
	}
	return a, nil
}

func (f *fakeBilling) setFailCreate(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failCreate = n
}

// setRefused makes CreateAccount of ids fail (refused) or succeed again.
func (f *fakeBilling) setRefused(refused bool, ids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		f.refuse[id] = refused
	}
}

// totalCalls is the number of CreateAccount calls for any user.
func (f *fakeBilling) totalCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.createCalls {
		n += c
	}
	return n
}

func (f *fakeBilling) setFailClose(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failClose = n
}

// account returns a copy of userID's account, or nil.
func (f *fakeBilling) account(userID string) *billingv1.Account {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.accounts[userID]; ok {
		return &billingv1.Account{UserId: a.UserId, Currency: a.Currency, CloseTime: a.CloseTime}
	}
	return nil
}

func (f *fakeBilling) calls(userID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.createCalls[userID]
}

func (f *fakeBilling) accountCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.accounts)
}

// The fake is held, through the client the service uses, to the contract
// the real billing passes (the e2e module runs the same suite against it).
func TestFakeBilling_KeepsBillingsContract(t *testing.T) {
	peertest.RunAccounts(t, func(t *testing.T) peertest.Billing {
		fb := newFakeBilling()
		conn := grpctest.Serve(t, func(s *grpc.Server) { billingv1.RegisterBillingServiceServer(s, fb) })
		return peertest.Billing{
			Accounts: peers.NewAccounts(billingv1.NewBillingServiceClient(conn)),
			Account: func(_ *testing.T, userID string) (peertest.Account, bool) {
				a := fb.account(userID)
				if a == nil {
					return peertest.Account{}, false
				}
				return peertest.Account{Currency: a.GetCurrency(), Closed: a.GetCloseTime() != nil}, true
			},
		}
	})
}
