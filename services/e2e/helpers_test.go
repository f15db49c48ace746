package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"google.golang.org/grpc"
)

type grpcConn = grpc.ClientConn

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newFundedUser creates a user through the user service and deposits
// amount through billing.
func newFundedUser(t *testing.T, amount int64) *userv1.User {
	t.Helper()
	ctx := context.Background()
	id := randomID()
	u, err := sys.users.CreateUser(ctx, &userv1.CreateUserRequest{
		User:      &userv1.User{Username: "e2e-" + id, Email: "e2e-" + id + "@example.com"},
		RequestId: "user-" + id,
	})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if amount > 0 {
		if _, err := sys.billing.Deposit(ctx, &billingv1.DepositRequest{UserId: u.GetId(), Amount: amount, RequestId: "deposit-" + id}); err != nil {
			t.Fatalf("Deposit: %v", err)
		}
	}
	return u
}

func allTransactions(t *testing.T, userID string) []*billingv1.Transaction {
	t.Helper()
	var out []*billingv1.Transaction
	token := ""
	for {
		resp, err := sys.billing.ListTransactions(context.Background(), &billingv1.ListTransactionsRequest{UserId: userID, PageSize: 100, PageToken: token})
		if err != nil {
			t.Fatalf("ListTransactions: %v", err)
		}
		out = append(out, resp.GetTransactions()...)
		if token = resp.GetNextPageToken(); token == "" {
			return out
		}
	}
}

func allLetters(t *testing.T, userID string) []*notificationv1.Notification {
	t.Helper()
	var out []*notificationv1.Notification
	token := ""
	for {
		resp, err := sys.notification.ListNotifications(context.Background(), &notificationv1.ListNotificationsRequest{UserId: userID, PageSize: 100, PageToken: token})
		if err != nil {
			t.Fatalf("ListNotifications: %v", err)
		}
		out = append(out, resp.GetNotifications()...)
		if token = resp.GetNextPageToken(); token == "" {
			return out
		}
	}
}

func allOrders(t *testing.T, userID string) []*orderv1.Order {
	t.Helper()
	var out []*orderv1.Order
	token := ""
	for {
		resp, err := sys.orders.ListOrders(context.Background(), &orderv1.ListOrdersRequest{UserId: userID, PageSize: 100, PageToken: token})
		if err != nil {
			t.Fatalf("ListOrders: %v", err)
		}
		out = append(out, resp.GetOrders()...)
		if token = resp.GetNextPageToken(); token == "" {
			return out
		}
	}
}

// processesUnder lists running processes whose command line mentions dir.
func processesUnder(dir string) string {
	out, err := exec.Command("pgrep", "-af", dir).Output()
	if err != nil { // exit status 1: none
		return ""
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.Contains(l, "pgrep") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
