package peers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/order/app"
	"github.com/kassa-dev/kassa/services/order/peers"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/grpctest"
	"google.golang.org/grpc"
)

// shedBilling refuses every withdrawal for overload, as billing's own
// admission control does.
type shedBilling struct {
	billingv1.UnimplementedBillingServiceServer
}

func (shedBilling) Withdraw(context.Context, *billingv1.WithdrawRequest) (*billingv1.WithdrawResponse, error) {
	return nil, apperr.Overloaded(time.Second, "this account's payments: overloaded")
}

// A withdrawal billing shed was not made, but it is no decline either: the
// order must stay pending, to be resumed with its key, never be rejected
// with a letter that says so.
func TestPayments_Withdraw_BillingOverloadedIsNoAnswerNotADecline(t *testing.T) {
	conn := grpctest.Serve(t, func(s *grpc.Server) { billingv1.RegisterBillingServiceServer(s, shedBilling{}) })
	p := peers.NewPayments(billingv1.NewBillingServiceClient(conn))
	declined, reason, err := p.Withdraw(context.Background(), app.Withdrawal{
		UserID: uuid.NewString(), Amount: 100, Currency: "USD", RequestID: "order/x", OrderID: uuid.NewString(),
	})
	if declined || reason != "" {
		t.Fatalf("Withdraw = declined %v, %q; an overload refusal must not decline the order", declined, reason)
	}
	if err == nil || !strings.Contains(err.Error(), apperr.ReasonOverloaded) {
		t.Fatalf("err = %v, want an error naming %s", err, apperr.ReasonOverloaded)
	}
}
