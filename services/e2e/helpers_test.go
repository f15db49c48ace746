package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"google.golang.org/grpc"
)

type grpcConn = grpc.ClientConn

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newFundedUser registers and logs in a user through the user service
// and deposits amount, as that user, through billing.
func newFundedUser(t *testing.T, amount int64) *customer {
	t.Helper()
	c := newCustomer(t, "e2e-")
	if amount > 0 {
		if _, err := sys.billing.Deposit(c.ctx(), &billingv1.DepositRequest{UserId: c.id, Amount: amount, RequestId: "deposit-" + c.username}); err != nil {
			t.Fatalf("Deposit: %v", err)
		}
	}
	return c
}

func allTransactions(t *testing.T, who *customer, userID string) []*billingv1.Transaction {
	t.Helper()
	var out []*billingv1.Transaction
	token := ""
	for {
		resp, err := sys.billing.ListTransactions(who.ctx(), &billingv1.ListTransactionsRequest{UserId: userID, PageSize: 100, PageToken: token})
		if err != nil {
			t.Fatalf("ListTransactions: %v", err)
		}
		out = append(out, resp.GetTransactions()...)
		if token = resp.GetNextPageToken(); token == "" {
			return out
		}
	}
}

func allLetters(t *testing.T, who *customer, userID string) []*notificationv1.Notification {
	t.Helper()
	var out []*notificationv1.Notification
	token := ""
	for {
		resp, err := sys.notification.ListNotifications(who.ctx(), &notificationv1.ListNotificationsRequest{UserId: userID, PageSize: 100, PageToken: token})
		if err != nil {
			t.Fatalf("ListNotifications: %v", err)
		}
		out = append(out, resp.GetNotifications()...)
		if token = resp.GetNextPageToken(); token == "" {
			return out
		}
	}
}

func allOrders(t *testing.T, who *customer, userID string) []*orderv1.Order {
	t.Helper()
	var out []*orderv1.Order
	token := ""
	for {
		resp, err := sys.orders.ListOrders(who.ctx(), &orderv1.ListOrdersRequest{UserId: userID, PageSize: 100, PageToken: token})
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
