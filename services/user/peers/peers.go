// Package peers adapts the generated billing client to the small interface
// the user use cases need (app.Accounts). The billing service's gRPC codes
// become outcomes here, so the use cases never look at a status code.
package peers

import (
	"context"
	"fmt"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Accounts implements app.Accounts over the billing service.
type Accounts struct {
	c billingv1.BillingServiceClient
}

// NewAccounts returns Accounts over client c.
func NewAccounts(c billingv1.BillingServiceClient) *Accounts { return &Accounts{c: c} }

// Open calls CreateAccount, which billing makes idempotent per user.
func (a *Accounts) Open(ctx context.Context, userID, currency string) error {
	if _, err := a.c.CreateAccount(ctx, &billingv1.CreateAccountRequest{UserId: userID, Currency: currency}); err != nil {
		return fmt.Errorf("billing CreateAccount for user %s: %w", userID, err)
	}
	return nil
}

// Close calls CloseAccount. A user without an account (NOT_FOUND) has
// nothing to close, which is success.
func (a *Accounts) Close(ctx context.Context, userID string) error {
	_, err := a.c.CloseAccount(ctx, &billingv1.CloseAccountRequest{UserId: userID})
	if err != nil && status.Code(err) != codes.NotFound {
		return fmt.Errorf("billing CloseAccount for user %s: %w", userID, err)
	}
	return nil
}
