// Package billingclient adapts the billing service's gRPC client to the
// small app.Accounts interface the user use cases depend on.
package billingclient

import (
	"context"
	"fmt"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Accounts opens and closes users' billing accounts over gRPC.
type Accounts struct {
	client billingv1.BillingServiceClient
}

// New returns Accounts over a billing client.
func New(client billingv1.BillingServiceClient) *Accounts {
	return &Accounts{client: client}
}

// Open calls CreateAccount, which billing makes idempotent per user.
func (a *Accounts) Open(ctx context.Context, userID, currency string) error {
	if _, err := a.client.CreateAccount(ctx, &billingv1.CreateAccountRequest{UserId: userID, Currency: currency}); err != nil {
		return fmt.Errorf("billing CreateAccount for user %s: %w", userID, err)
	}
	return nil
}

// Close calls CloseAccount. A user without an account (NOT_FOUND) has
// nothing to close, which is success.
func (a *Accounts) Close(ctx context.Context, userID string) error {
	_, err := a.client.CloseAccount(ctx, &billingv1.CloseAccountRequest{UserId: userID})
	if err != nil && status.Code(err) != codes.NotFound {
		return fmt.Errorf("billing CloseAccount for user %s: %w", userID, err)
	}
	return nil
}
