// Package peers adapts the generated billing client to the one question
// the notification use cases ask another service (app.Accounts): does a
// user exist. The billing service's gRPC codes become a yes, a no or an
// error here, so the use cases never look at a status code.
package peers

import (
	"context"
	"fmt"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
)

// Accounts implements app.Accounts over the billing service.
type Accounts struct {
	c billingv1.BillingServiceClient
}

// NewAccounts returns Accounts over client c.
func NewAccounts(c billingv1.BillingServiceClient) *Accounts { return &Accounts{c: c} }

// HasAccount asks billing for userID's account: OK (open or closed) is
// true, NOT_FOUND false, anything else (UNAVAILABLE, DEADLINE_EXCEEDED,
// PERMISSION_DENIED from a misconfigured identity) an error.
func (a *Accounts) HasAccount(ctx context.Context, userID string) (bool, error) {
	_, err := a.c.GetAccount(ctx, &billingv1.GetAccountRequest{UserId: userID})
	found, err := grpcstatus.Found(err)
	if err != nil {
		return false, fmt.Errorf("get account of %s: %w", userID, err)
	}
	return found, nil
}
