package fakepeers_test

import (
	"testing"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/app/peertest"
	"github.com/kassa-dev/kassa/services/order/internal/fakepeers"
	"github.com/kassa-dev/kassa/services/order/peers"
	"github.com/kassa-dev/kassa/services/platform/grpctest"
	"google.golang.org/grpc"
)

// The fakes are held to the contract suites the real services pass (the
// e2e module runs the same suites against them), through the adapters the
// order service uses in production, so the order tests that lean on a fake
// lean on a rule the real peer keeps.

// serve serves the fakes over real gRPC and returns the connection.
func serve(t *testing.T, u *fakepeers.Users, b *fakepeers.Billing, n *fakepeers.Notifier) *grpc.ClientConn {
	t.Helper()
	return grpctest.Serve(t, func(s *grpc.Server) { fakepeers.Register(s, u, b, n) })
}

func TestUsers_KeepsTheContract(t *testing.T) {
	peertest.RunUsers(t, func(t *testing.T) peertest.Users {
		u := fakepeers.NewUsers()
		conn := serve(t, u, fakepeers.NewBilling(), fakepeers.NewNotifier())
		return peertest.Users{
			Users: peers.NewUsers(userv1.NewUserServiceClient(conn)),
			Add: func(*testing.T) (string, string) {
				const email = "ada@example.com"
				return u.Add(email), email
			},
			Delete: func(_ *testing.T, id string) { u.Delete(id) },
		}
	})
}

func TestBilling_KeepsTheContract(t *testing.T) {
	peertest.RunPayments(t, func(t *testing.T) peertest.Billing {
		b := fakepeers.NewBilling()
		conn := serve(t, fakepeers.NewUsers(), b, fakepeers.NewNotifier())
		return peertest.Billing{
			Payments: peers.NewPayments(billingv1.NewBillingServiceClient(conn)),
			Open:     func(_ *testing.T, user, currency string, balance int64) { b.Open(user, currency, balance) },
			Deposit:  func(_ *testing.T, user string, amount int64) { b.Fund(user, amount) },
			Close:    func(_ *testing.T, user string) { b.Close(user) },
		}
	})
}

func TestNotifier_KeepsTheContract(t *testing.T) {
	peertest.RunLetters(t, func(t *testing.T) peertest.Notifier {
		n := fakepeers.NewNotifier()
		conn := serve(t, fakepeers.NewUsers(), fakepeers.NewBilling(), n)
		return peertest.Notifier{
			Letters: peers.NewLetters(notificationv1.NewNotificationServiceClient(conn)),
			Stored: func(_ *testing.T, user string) []order.Letter {
				var out []order.Letter
				for _, l := range n.Letters() {
					if l.GetUserId() == user {
						out = append(out, order.Letter{
							UserID: l.GetUserId(), Email: l.GetEmail(), Subject: l.GetSubject(), Body: l.GetBody(), OrderID: l.GetOrderId(),
						})
					}
				}
				return out
			},
		}
	})
}
