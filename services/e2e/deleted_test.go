package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// revocationDeadline bounds how long a deletion takes to reach every
// verifier: each polls the user service's revocation list every 2 s.
const revocationDeadline = 6 * time.Second

// A deleted user's token stays signed and unexpired, but the user service
// lists its subject as revoked and every service's verifier refuses it
// within one refresh: 401 with a Bearer invalid_token challenge on every
// REST route of every service, UNAUTHENTICATED over direct gRPC to billing,
// order and notification, and none of the refused calls changes anything.
func TestDeletedUsersToken_EveryService_401AndChangesNothing(t *testing.T) {
	gone := restFundedUser(t, 1000)
	ok(t, "order before the delete", gone.call(t, "POST", "/v1/users/"+gone.id+"/orders", map[string]any{"price": "100", "requestId": "before"}, nil))
	ok(t, "delete", gone.call(t, "DELETE", "/v1/users/"+gone.id, nil, nil))
	a := admin(t)
	before := adminView(t, a, gone.id)

	// Poll rather than wait a fixed time: each verifier refreshes on its
	// own schedule. At the deadline, report what still let the token in.
	var failures []string
	for end := time.Now().Add(revocationDeadline); ; time.Sleep(100 * time.Millisecond) {
		if failures = deletedTokenAccepted(t, gone); len(failures) == 0 || time.Now().After(end) {
			break
		}
	}
	if len(failures) > 0 {
		t.Errorf("after %v the deleted user's token is still not refused by:\n%s", revocationDeadline, strings.Join(failures, "\n"))
	}
	if after := adminView(t, a, gone.id); after != before {
		t.Errorf("the deleted user's token changed something:\n%s", changes(before, after))
	}
}

// deletedTokenAccepted tries c's token on every service and returns the
// calls not refused as an invalid token.
func deletedTokenAccepted(t *testing.T, c *customer) []string {
	t.Helper()
	base := "/v1/users/" + c.id
	var failed []string
	for _, req := range []struct {
		service, method, path string
		body                  any
	}{
		{"user", "GET", base, nil},
		{"user", "PATCH", base, map[string]any{"firstName": "Back"}},
		{"user", "DELETE", base, nil},
		{"billing", "GET", base + "/account", nil},
		{"billing", "GET", base + "/account/transactions?pageSize=1000", nil},
		{"billing", "POST", base + "/account:withdraw", map[string]any{"amount": "100", "requestId": "after-withdraw"}},
		{"billing", "POST", base + "/account:deposit", map[string]any{"amount": "100", "requestId": "after-deposit"}},
		{"order", "GET", base + "/orders?pageSize=1000", nil},
		{"order", "POST", base + "/orders", map[string]any{"price": "100", "requestId": "after"}},
		{"notification", "GET", base + "/notifications?pageSize=1000", nil},
	} {
		r := c.call(t, req.method, req.path, req.body, nil)
		if ch := r.header.Get("WWW-Authenticate"); r.status != 401 || !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `error="invalid_token"`) {
			failed = append(failed, fmt.Sprintf("  %s: REST %s %s = %s, challenge %q; want 401 Bearer invalid_token", req.service, req.method, req.path, r, ch))
		}
	}
	ctx, cancel := context.WithTimeout(c.ctx(), 5*time.Second)
	defer cancel()
	for _, rpc := range []struct {
		name string
		call func() error
	}{
		{"billing GetAccount", func() error {
			_, err := sys.billing.GetAccount(ctx, &billingv1.GetAccountRequest{UserId: c.id})
			return err
		}},
		{"billing ListTransactions", func() error {
			_, err := sys.billing.ListTransactions(ctx, &billingv1.ListTransactionsRequest{UserId: c.id, PageSize: 1000})
			return err
		}},
		{"billing Withdraw", func() error {
			_, err := sys.billing.Withdraw(ctx, &billingv1.WithdrawRequest{UserId: c.id, Amount: 100, RequestId: "after-grpc"})
			return err
		}},
		{"order ListOrders", func() error {
			_, err := sys.orders.ListOrders(ctx, &orderv1.ListOrdersRequest{UserId: c.id, PageSize: 1000})
			return err
		}},
		{"order CreateOrder", func() error {
			_, err := sys.orders.CreateOrder(ctx, &orderv1.CreateOrderRequest{UserId: c.id, Order: &orderv1.Order{Price: 100}, RequestId: "after-grpc"})
			return err
		}},
		{"notification ListNotifications", func() error {
			_, err := sys.notification.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{UserId: c.id, PageSize: 1000})
			return err
		}},
	} {
		if err := rpc.call(); status.Code(err) != codes.Unauthenticated {
			failed = append(failed, fmt.Sprintf("  gRPC %s = %v; want UNAUTHENTICATED", rpc.name, err))
		}
	}
	return failed
}
