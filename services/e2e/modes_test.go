package e2e

import (
	"net/http"
	"testing"

	"github.com/kassa-dev/kassa/dev/stack"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The suite runs against the mode it says (make test runs it in both): five
// processes, or one that every component's name leads to.
func TestMode_ProcessesMatchTheMode(t *testing.T) {
	procs := sys.stack.Processes()
	names := []string{"gateway", "user", "billing", "order", "notification"}
	if sys.allInOne {
		if len(procs) != 1 || procs[stack.AllInOne] == 0 {
			t.Fatalf("all-in-one mode: processes %v, want %s alone", procs, stack.AllInOne)
		}
		for _, n := range names {
			if got := sys.stack.PID(n); got != procs[stack.AllInOne] {
				t.Errorf("PID(%s) = %d, want the one process %d", n, got, procs[stack.AllInOne])
			}
		}
		return
	}
	seen := map[int]string{}
	for _, n := range names {
		pid := procs[n]
		if pid == 0 || seen[pid] != "" {
			t.Fatalf("microservices mode: processes %v, want five of their own", procs)
		}
		seen[pid] = n
	}
}

// A customer's token reaches neither another user's account nor an
// internal RPC, over REST and over gRPC, in the mode the suite runs in:
// in the all-in-one mode the REST calls reach the services in process,
// the gRPC ones over the services' ports of the same process. (The full
// matrix of every RPC and caller is TestAuthz_EveryRPC_EveryCaller.)
func TestAuthz_CustomerToken_NoOtherAccountNoInternalRPC(t *testing.T) {
	eve, ada := restFundedUser(t, 500), restFundedUser(t, 1000)
	// Over REST: another user's account answers as a missing one; the
	// internal RPCs have no route at all.
	for _, c := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", "/v1/users/" + ada.id + "/account", nil, http.StatusNotFound},
		{"GET", "/v1/users/" + ada.id + "/account/transactions", nil, http.StatusNotFound},
		{"POST", "/v1/users/" + ada.id + "/account:withdraw", map[string]any{"amount": "1", "requestId": "eve-w-" + randomID()}, http.StatusNotFound},
		{"GET", "/v1/users/" + ada.id + "/orders", nil, http.StatusNotFound},
		{"GET", "/v1/users/" + ada.id + "/notifications", nil, http.StatusNotFound},
		{"POST", "/v1/users/" + ada.id + "/account:refund", map[string]any{"amount": "1"}, http.StatusNotFound},
		{"GET", "/v1/admin/orders:parked", nil, http.StatusNotFound},
	} {
		if a := eve.call(t, c.method, c.path, c.body, nil); a.status != c.status {
			t.Errorf("REST %s %s with eve's token = %s, want %d", c.method, c.path, a, c.status)
		}
	}
	// Over gRPC.
	ctx := eve.ctx()
	for _, c := range []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"GetAccount of another user", func() error {
			_, err := sys.billing.GetAccount(ctx, &billingv1.GetAccountRequest{UserId: ada.id})
			return err
		}, codes.NotFound},
		{"Withdraw from another user", func() error {
			_, err := sys.billing.Withdraw(ctx, &billingv1.WithdrawRequest{UserId: ada.id, Amount: 1, RequestId: "eve-" + randomID()})
			return err
		}, codes.NotFound},
		{"billing Refund", func() error {
			_, err := sys.billing.Refund(ctx, &billingv1.RefundRequest{UserId: eve.id, Original: &billingv1.RefundRequest_OrderId{OrderId: newUUID()}, RequestId: "eve-" + randomID()})
			return err
		}, codes.PermissionDenied},
		{"billing CreateAccount", func() error {
			_, err := sys.billing.CreateAccount(ctx, &billingv1.CreateAccountRequest{UserId: newUUID(), Currency: "USD"})
			return err
		}, codes.PermissionDenied},
		{"OrderAdminService ListParked", func() error {
			_, err := orderv1.NewOrderAdminServiceClient(sys.conns["order"]).ListParked(ctx, &orderv1.ListParkedRequest{})
			return err
		}, codes.PermissionDenied},
		{"UserAdminService ListParked", func() error {
			_, err := userv1.NewUserAdminServiceClient(sys.conns["user"]).ListParked(ctx, &userv1.ListParkedRequest{})
			return err
		}, codes.PermissionDenied},
		{"NotificationService SendNotification", func() error {
			_, err := sys.notification.SendNotification(ctx, &notificationv1.SendNotificationRequest{UserId: eve.id, RequestId: "eve-" + randomID(),
				Notification: &notificationv1.Notification{Email: eve.email, Subject: "s", Body: "b"}})
			return err
		}, codes.PermissionDenied},
	} {
		if got := status.Code(c.call()); got != c.want {
			t.Errorf("gRPC %s with eve's token = %v, want %v", c.name, got, c.want)
		}
	}
	// Nothing moved: ada still has her deposit, eve hers.
	for who, want := range map[*customer]string{ada: "1000", eve: "500"} {
		if a := ok(t, "balance", who.call(t, "GET", "/v1/users/"+who.id+"/account", nil, nil)); str(a, "balance") != want {
			t.Errorf("%s balance %s, want %s", who, str(a, "balance"), want)
		}
	}
}
