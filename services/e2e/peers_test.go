package e2e

import (
	"context"
	"testing"
	"time"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	notificationpeertest "github.com/kassa-dev/kassa/services/notification/app/peertest"
	notificationpeers "github.com/kassa-dev/kassa/services/notification/peers"
	"github.com/kassa-dev/kassa/services/order"
	orderpeertest "github.com/kassa-dev/kassa/services/order/app/peertest"
	orderpeers "github.com/kassa-dev/kassa/services/order/peers"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"github.com/kassa-dev/kassa/services/platform/rpcclient"
	userpeertest "github.com/kassa-dev/kassa/services/user/app/peertest"
	"github.com/kassa-dev/kassa/services/user/peers"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The services' tests stand in fakes for their peers, and each fake is
// held to a contract suite of the peer (<service>/app/peertest). Here the
// real services pass the same suites, through the adapters the services
// use in production and with the identity each caller has there, so a
// change of a real service that a fake does not follow fails one side.

// dialAs connects to service with every call carrying the service token of
// caller, as the caller's peer connection does.
func dialAs(t *testing.T, service, caller string) *grpc.ClientConn {
	t.Helper()
	c, err := rpcclient.Dial(sys.stack.Addr(service), 30*time.Second, authtest.WithToken(serviceToken(t, caller)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// accountsAdmin opens and closes billing accounts as the user service does,
// funds them as their owner and reads them as an admin.
type accountsAdmin struct {
	asUser billingv1.BillingServiceClient
	admin  *customer
}

func newAccountsAdmin(t *testing.T) accountsAdmin {
	t.Helper()
	return accountsAdmin{asUser: billingv1.NewBillingServiceClient(dialAs(t, "billing", "user")), admin: admin(t)}
}

func (a accountsAdmin) open(t *testing.T, userID, currency string, balance int64) {
	t.Helper()
	if _, err := a.asUser.CreateAccount(context.Background(), &billingv1.CreateAccountRequest{UserId: userID, Currency: currency}); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	if balance > 0 {
		a.deposit(t, userID, balance)
	}
}

// deposit deposits as the account's owner, the only one who may; the
// suites' users exist in billing alone, so the token is minted for them.
func (a accountsAdmin) deposit(t *testing.T, userID string, amount int64) {
	t.Helper()
	owner, err := stackIssuer(t, nil).Customer(userID, false)
	if err != nil {
		t.Fatal(err)
	}
	req := &billingv1.DepositRequest{UserId: userID, Amount: amount, RequestId: "peertest-" + randomID()}
	if _, err := sys.billing.Deposit(withToken(context.Background(), owner.Token), req); err != nil {
		t.Fatalf("Deposit: %v", err)
	}
}

func (a accountsAdmin) close(t *testing.T, userID string) {
	t.Helper()
	if _, err := a.asUser.CloseAccount(context.Background(), &billingv1.CloseAccountRequest{UserId: userID}); err != nil {
		t.Fatalf("CloseAccount: %v", err)
	}
}

func (a accountsAdmin) account(t *testing.T, userID string) (userpeertest.Account, bool) {
	t.Helper()
	acct, err := sys.billing.GetAccount(a.admin.ctx(), &billingv1.GetAccountRequest{UserId: userID})
	if status.Code(err) == codes.NotFound {
		return userpeertest.Account{}, false
	}
	if err != nil {
		t.Fatalf("GetAccount: %v", err)
	}
	return userpeertest.Account{Currency: acct.GetCurrency(), Closed: acct.GetCloseTime() != nil}, true
}

func TestRealBilling_KeepsTheUserServicesContract(t *testing.T) {
	a := newAccountsAdmin(t)
	userpeertest.RunAccounts(t, func(t *testing.T) userpeertest.Billing {
		return userpeertest.Billing{Accounts: peers.NewAccounts(a.asUser), Account: a.account}
	})
}

func TestRealBilling_KeepsTheOrderServicesContract(t *testing.T) {
	a := newAccountsAdmin(t)
	payments := orderpeers.NewPayments(billingv1.NewBillingServiceClient(dialAs(t, "billing", "order")))
	orderpeertest.RunPayments(t, func(t *testing.T) orderpeertest.Billing {
		return orderpeertest.Billing{Payments: payments, Open: a.open, Deposit: a.deposit, Close: a.close}
	})
}

func TestRealBilling_KeepsTheNotificationServicesContract(t *testing.T) {
	a := newAccountsAdmin(t)
	accounts := notificationpeers.NewAccounts(billingv1.NewBillingServiceClient(dialAs(t, "billing", "notification")))
	notificationpeertest.RunAccounts(t, func(t *testing.T) notificationpeertest.Billing {
		return notificationpeertest.Billing{
			Accounts: accounts,
			Open:     func(t *testing.T, userID string) { a.open(t, userID, "", 0) },
			Close:    a.close,
		}
	})
}

func TestRealUserService_KeepsTheOrderServicesContract(t *testing.T) {
	users := orderpeers.NewUsers(userv1.NewUserServiceClient(dialAs(t, "user", "order")))
	adm := admin(t)
	orderpeertest.RunUsers(t, func(t *testing.T) orderpeertest.Users {
		return orderpeertest.Users{
			Users: users,
			Add: func(t *testing.T) (string, string) {
				c := newCustomer(t, "peertest-")
				return c.id, c.email
			},
			Delete: func(t *testing.T, id string) {
				if _, err := sys.users.DeleteUser(adm.ctx(), &userv1.DeleteUserRequest{Id: id}); err != nil {
					t.Fatalf("DeleteUser: %v", err)
				}
			},
		}
	})
}

func TestRealNotificationService_KeepsTheOrderServicesContract(t *testing.T) {
	letters := orderpeers.NewLetters(notificationv1.NewNotificationServiceClient(dialAs(t, "notification", "order")))
	adm := admin(t)
	orderpeertest.RunLetters(t, func(t *testing.T) orderpeertest.Notifier {
		return orderpeertest.Notifier{
			Letters: letters,
			Stored: func(t *testing.T, userID string) []order.Letter {
				t.Helper()
				resp, err := sys.notification.ListNotifications(adm.ctx(), &notificationv1.ListNotificationsRequest{UserId: userID, PageSize: 100})
				if status.Code(err) == codes.NotFound {
					return nil // no letters, and no account that would make an empty list
				}
				if err != nil {
					t.Fatalf("ListNotifications: %v", err)
				}
				var out []order.Letter
				for _, n := range resp.GetNotifications() {
					out = append(out, order.Letter{
						UserID: n.GetUserId(), Email: n.GetEmail(), Subject: n.GetSubject(), Body: n.GetBody(), OrderID: n.GetOrderId(),
					})
				}
				return out
			},
		}
	})
}
