package main

import (
	"testing"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/notification/app/peertest"
	"github.com/kassa-dev/kassa/services/notification/peers"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"google.golang.org/grpc"
)

// The fake billing of the process tests passes the contract the real
// billing passes (the e2e module runs the same suite against it). It keeps
// no close time: a closed account is still an account, which is all the
// contract asks.
func TestFakePeers_KeepBillingsContract(t *testing.T) {
	iss := authtest.NewIssuer(t)
	peertest.RunAccounts(t, func(t *testing.T) peertest.Billing {
		p := &fakePeers{accounts: map[string]bool{}}
		conn := authtest.Serve(t, iss.Verifier(t),
			map[string]auth.Rule{billingv1.BillingService_GetAccount_FullMethodName: auth.Services("notification")},
			func(s *grpc.Server) { billingv1.RegisterBillingServiceServer(s, p) },
			authtest.WithToken(iss.Service(t, "notification")))
		return peertest.Billing{
			Accounts: peers.NewAccounts(billingv1.NewBillingServiceClient(conn)),
			Open: func(_ *testing.T, userID string) {
				p.mu.Lock()
				defer p.mu.Unlock()
				p.accounts[userID] = true
			},
			Close: func(*testing.T, string) {},
		}
	})
}
