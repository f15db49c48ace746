package peers_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/app"
	"github.com/kassa-dev/kassa/services/order/internal/fakepeers"
	"github.com/kassa-dev/kassa/services/order/peers"
	"github.com/kassa-dev/kassa/services/platform/grpctest"
	"google.golang.org/grpc"
)

type world struct {
	users    *fakepeers.Users
	billing  *fakepeers.Billing
	notifier *fakepeers.Notifier
	u        *peers.Users
	p        *peers.Payments
	l        *peers.Letters
	// buyer and order are set by pay.
	buyer, order string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{users: fakepeers.NewUsers(), billing: fakepeers.NewBilling(), notifier: fakepeers.NewNotifier()}
	conn := grpctest.Serve(t, func(s *grpc.Server) { fakepeers.Register(s, w.users, w.billing, w.notifier) })
	w.u = peers.NewUsers(userv1.NewUserServiceClient(conn))
	w.p = peers.NewPayments(billingv1.NewBillingServiceClient(conn))
	w.l = peers.NewLetters(notificationv1.NewNotificationServiceClient(conn))
	return w
}

func TestUsers_TranslatesNotFoundAndFailures(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	id := w.users.Add("ada@example.com")
	if email, err := w.u.Email(ctx, id); err != nil || email != "ada@example.com" {
		t.Errorf("Email = %q, %v", email, err)
	}
	if _, err := w.u.Email(ctx, uuid.NewString()); !errors.Is(err, order.ErrUnknownUser) {
		t.Errorf("unknown user: err = %v, want ErrUnknownUser", err)
	}
	w.users.SetDown(true)
	if _, err := w.u.Email(ctx, id); err == nil || errors.Is(err, order.ErrUnknownUser) {
		t.Errorf("user service down: err = %v, want a failure that is not ErrUnknownUser", err)
	}
}

func TestPayments_TranslatesBillingAnswers(t *testing.T) {
	rich, poor, closed, nobody := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	tests := []struct {
		name         string
		user         string
		down         bool
		wantDeclined bool
		wantReason   string
		wantErr      bool
	}{
		{"paid", rich, false, false, "", false},
		{"insufficient funds", poor, false, true, "insufficient funds: balance 10, withdrawal needs 100", false},
		{"closed account", closed, false, true, "is closed", false},
		{"no account", nobody, false, true, "not found", false},
		{"billing down", rich, true, false, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.billing.Open(rich, "USD", 1000)
			w.billing.Open(poor, "USD", 10)
			w.billing.Open(closed, "USD", 1000)
			w.billing.Close(closed)
			w.billing.SetDown(tt.down)
			declined, reason, err := w.p.Withdraw(context.Background(), app.Withdrawal{
				UserID: tt.user, Amount: 100, Currency: "USD", RequestID: "order/x", OrderID: uuid.NewString(),
			})
			if (err != nil) != tt.wantErr || declined != tt.wantDeclined || !strings.Contains(reason, tt.wantReason) {
				t.Errorf("Withdraw = %v, %q, %v; want declined %v, reason with %q, error %v",
					declined, reason, err, tt.wantDeclined, tt.wantReason, tt.wantErr)
			}
		})
	}
}

func TestLetters_StoredOrAlreadyThereIsSent(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	l := order.Letter{UserID: uuid.NewString(), Email: "a@example.com", Subject: "s", Body: "b", OrderID: uuid.NewString(), RequestID: "order/x/letter"}
	if err := w.l.Send(ctx, l); err != nil {
		t.Fatal(err)
	}
	reworded := l
	reworded.Body = "other wording"
	if err := w.l.Send(ctx, reworded); err != nil {
		t.Errorf("letter already stored under the key: err = %v, want nil", err)
	}
	if n := len(w.notifier.Letters()); n != 1 {
		t.Errorf("letters = %d, want 1", n)
	}
	w.notifier.SetDown(true)
	l.RequestID = "order/y/letter"
	if err := w.l.Send(ctx, l); err == nil {
		t.Error("notification down: err = nil")
	}
}

// An account, open or closed, means the user exists; NOT_FOUND that it
// never did; billing down is an error, never a no.
func TestPayments_HasAccount_TranslatesBillingAnswers(t *testing.T) {
	open, closed, nobody := uuid.NewString(), uuid.NewString(), uuid.NewString()
	tests := []struct {
		name    string
		user    string
		down    bool
		want    bool
		wantErr bool
	}{
		{"open account", open, false, true, false},
		{"closed account (deleted user)", closed, false, true, false},
		{"no account", nobody, false, false, false},
		{"billing down", open, true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.billing.Open(open, "USD", 0)
			w.billing.Open(closed, "USD", 0)
			w.billing.Close(closed)
			w.billing.SetDown(tt.down)
			got, err := w.p.HasAccount(context.Background(), tt.user)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("HasAccount = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// A refund billing made gives its amount; one it refused for good, by any
// rule, is app.ErrRefundRefused; no answer is neither, so it is retried.
func TestPayments_Refund_TranslatesBillingAnswers(t *testing.T) {
	tests := []struct {
		name        string
		arrange     func(t *testing.T, w *world)
		amount      int64
		key         string
		want        int64
		wantRefused bool
		wantErr     bool
	}{
		{"refunded", func(*testing.T, *world) {}, 40, "r1", 40, false, false},
		{"the rest", func(*testing.T, *world) {}, 0, "r1", 100, false, false},
		{"more than remains", func(*testing.T, *world) {}, 101, "r1", 0, true, true},
		{"the key with another amount", func(t *testing.T, w *world) { w.refund(t, 10, "r1") }, 20, "r1", 0, true, true},
		{"no such payment", func(_ *testing.T, w *world) { w.billing.SetLostPayments(true) }, 10, "r1", 0, true, true},
		{"billing down", func(_ *testing.T, w *world) { w.billing.SetDown(true) }, 10, "r1", 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.pay(t)
			tt.arrange(t, w)
			got, err := w.p.Refund(context.Background(), app.Refund{UserID: w.buyer, OrderID: w.order, Amount: tt.amount, RequestID: tt.key})
			if got != tt.want || (err != nil) != tt.wantErr || errors.Is(err, app.ErrRefundRefused) != tt.wantRefused {
				t.Errorf("Refund = %d, %v; want %d, error %v, refused for good %v", got, err, tt.want, tt.wantErr, tt.wantRefused)
			}
		})
	}
}

// pay makes the world's buyer pay an order of 100.
func (w *world) pay(t *testing.T) {
	t.Helper()
	w.buyer, w.order = uuid.NewString(), uuid.NewString()
	w.billing.Open(w.buyer, "USD", 1000)
	if declined, _, err := w.p.Withdraw(context.Background(), app.Withdrawal{UserID: w.buyer, Amount: 100, Currency: "USD",
		RequestID: order.PaymentRequestID(w.order), OrderID: w.order}); declined || err != nil {
		t.Fatalf("setup: Withdraw = %v, %v", declined, err)
	}
}

// refund refunds amount of the world's order under key.
func (w *world) refund(t *testing.T, amount int64, key string) {
	t.Helper()
	if _, err := w.p.Refund(context.Background(), app.Refund{UserID: w.buyer, OrderID: w.order, Amount: amount, RequestID: key}); err != nil {
		t.Fatalf("setup: Refund = %v", err)
	}
}
