package grpcserver_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/app"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func (e *env) cancel(t *testing.T, userID, id, reason string) (*orderv1.Order, error) {
	t.Helper()
	return e.orders.CancelOrder(context.Background(), &orderv1.CancelOrderRequest{UserId: userID, Id: id, Reason: reason}, e.as(t, userID))
}

// cancelLetters counts the cancellation letters the notifier stored for
// order id.
func (e *env) cancelLetters(id string) int { return e.lettersTitled(id, "Order "+id+" was cancelled") }

func TestCancelOrder_Paid_RefundsOnceWithOneLetter(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	o := e.mustCreate(t, user, 250, "paid")
	if got := e.billing.Balance(user); got != 750 {
		t.Fatalf("setup: balance %d after the order, want 750", got)
	}
	c, err := e.cancel(t, user, o.GetId(), "changed my mind")
	if err != nil {
		t.Fatalf("CancelOrder: %v", err)
	}
	if c.GetStatus() != orderv1.Order_STATUS_CANCELLED || c.GetRefunded() != 250 ||
		c.GetCancelReason() != "changed my mind" || c.GetCancelTime() == nil {
		t.Fatalf("CancelOrder = %v, want CANCELLED, 250 refunded, the reason and a time", c)
	}
	if got := e.billing.Balance(user); got != 1000 {
		t.Errorf("balance %d after the cancellation, want the 1000 before the order", got)
	}
	letters := e.letters.LettersFor(o.GetId())
	if len(letters) != 2 || e.cancelLetters(o.GetId()) != 1 {
		t.Fatalf("letters of the order: %v, want the paid one and one cancellation", letters)
	}
	for _, l := range letters {
		if l.GetSubject() == "Order "+o.GetId()+" was cancelled" &&
			!strings.Contains(l.GetBody(), "your order "+o.GetId()+" was cancelled, 2.50 USD was refunded") {
			t.Errorf("cancellation letter %q does not say what was refunded", l.GetBody())
		}
	}
	if got := e.get(t, user, o.GetId()); got.GetStatus() != orderv1.Order_STATUS_CANCELLED || got.GetRefunded() != 250 {
		t.Errorf("GetOrder after the cancellation = %v", got)
	}
	if got := e.cancellations(t, "refunded"); got != 1 {
		t.Errorf("cancellations refunded = %v, want 1", got)
	}

	// Cancelling again, with another reason, changes nothing.
	again, err := e.cancel(t, user, o.GetId(), "again")
	if err != nil || again.GetStatus() != orderv1.Order_STATUS_CANCELLED || again.GetRefunded() != 250 ||
		again.GetCancelReason() != "changed my mind" || !again.GetUpdateTime().AsTime().Equal(c.GetUpdateTime().AsTime()) {
		t.Fatalf("second CancelOrder = %v, %v; want the cancelled order unchanged", again, err)
	}
	if got := e.billing.Balance(user); got != 1000 || len(e.billing.Refunds()) != 1 || e.cancelLetters(o.GetId()) != 1 {
		t.Errorf("after the second cancel: balance %d, refunds %v, %d letters; want 1000, one, one",
			got, e.billing.Refunds(), e.cancelLetters(o.GetId()))
	}
	if got := e.cancellations(t, "unchanged"); got != 1 {
		t.Errorf("cancellations unchanged = %v, want 1", got)
	}
}

// cancellations reads kassa_order_cancellations_total of outcome.
func (e *env) cancellations(t *testing.T, outcome string) float64 {
	t.Helper()
	return metrictest.Gather(t, e.reg).Value(t, "kassa_order_cancellations_total", "outcome", outcome)
}

// A rejected order took nothing: cancelling it answers it as it is.
func TestCancelOrder_Rejected_NoOp(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 100)
	o := e.mustCreate(t, user, 500, "too dear")
	if o.GetStatus() != orderv1.Order_STATUS_REJECTED {
		t.Fatalf("setup: %v, want REJECTED", o)
	}
	before := e.snapshot(t)
	c, err := e.cancel(t, user, o.GetId(), "")
	if err != nil || c.GetStatus() != orderv1.Order_STATUS_REJECTED || c.GetRefunded() != 0 ||
		!c.GetUpdateTime().AsTime().Equal(o.GetUpdateTime().AsTime()) {
		t.Fatalf("CancelOrder of a rejected order = %v, %v; want it unchanged", c, err)
	}
	if after := e.snapshot(t); after != before || e.billing.RefundCalls() != 0 || e.balance(t, user) != 100 {
		t.Errorf("cancelling a rejected order changed state: %+v -> %+v, %d refund calls", before, after, e.billing.RefundCalls())
	}
}

func (e *env) balance(t *testing.T, user string) int64 { t.Helper(); return e.billing.Balance(user) }

// A pending order is settled first: paid, then cancelled; one that
// billing declines answers as REJECTED with nothing refunded.
func TestCancelOrder_Pending_SettledFirst(t *testing.T) {
	for _, tt := range []struct {
		name        string
		balance     int64
		want        orderv1.Order_Status
		wantBalance int64
		wantRefunds int
	}{
		{"paid then cancelled", 1000, orderv1.Order_STATUS_CANCELLED, 1000, 1},
		{"rejected", 100, orderv1.Order_STATUS_REJECTED, 100, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			user := e.buyer(t, tt.balance)
			id := e.pendingOrder(t, user, 300)
			c, err := e.cancel(t, user, id, "")
			if err != nil || c.GetStatus() != tt.want {
				t.Fatalf("CancelOrder of a pending order = %v, %v; want %v", c, err, tt.want)
			}
			if got := e.balance(t, user); got != tt.wantBalance || len(e.billing.Refunds()) != tt.wantRefunds ||
				e.cancelLetters(id) != tt.wantRefunds || len(e.letters.LettersFor(id)) != 1+tt.wantRefunds {
				t.Errorf("balance %d, refunds %v, letters %d; want %d, %d refunds, %d letters",
					got, e.billing.Refunds(), len(e.letters.LettersFor(id)), tt.wantBalance, tt.wantRefunds, 1+tt.wantRefunds)
			}
			// Nothing is left for the repair loop.
			if rep, err := e.svc.Repair(context.Background()); err != nil || rep != (app.RepairReport{}) {
				t.Errorf("Repair after the cancellation = %+v, %v; want nothing to do", rep, err)
			}
		})
	}
}

// Thirty customers' retries of one cancellation at once: one refund of
// the price, one letter, and every call answers the cancelled order.
func TestCancelOrder_Concurrent_RefundedOnce(t *testing.T) {
	e := newEnv(t, withPool(8))
	user := e.buyer(t, 1000)
	o := e.mustCreate(t, user, 400, "paid")
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for range cap(errs) {
		wg.Go(func() {
			c, err := e.cancel(t, user, o.GetId(), "at once")
			if err == nil && (c.GetStatus() != orderv1.Order_STATUS_CANCELLED || c.GetRefunded() != 400) {
				err = status.Errorf(codes.Unknown, "answered %v", c)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a concurrent cancel: %v", err)
	}
	if got := e.balance(t, user); got != 1000 || len(e.billing.Refunds()) != 1 || e.cancelLetters(o.GetId()) != 1 {
		t.Errorf("balance %d, refunds %v, %d cancellation letters; want 1000, one, one",
			got, e.billing.Refunds(), e.cancelLetters(o.GetId()))
	}
	var outbox int
	if err := e.db.Get(&outbox, `SELECT count(*) FROM order_letters WHERE order_id = $1`, o.GetId()); err != nil || outbox != 2 {
		t.Errorf("outbox rows of the order = %d, %v; want 2", outbox, err)
	}
	if got := e.cancellations(t, "refunded"); got != 1 {
		t.Errorf("cancellations refunded = %v, want 1", got)
	}
}

// Billing down during the cancel: UNAVAILABLE, the order stays paid with
// its cancellation recorded, and the repair loop refunds it once billing
// is back; neither the retried refund nor a later cancel pays twice.
func TestCancelOrder_BillingDown_RepairFinishes(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	o := e.mustCreate(t, user, 250, "paid")
	e.billing.SetDown(true)
	_, err := e.cancel(t, user, o.GetId(), "billing is out")
	if status.Code(err) != codes.Unavailable || grpcstatus.ReasonOf(err) != app.ReasonNotFinished {
		t.Fatalf("CancelOrder with billing down = %v, want UNAVAILABLE %s", err, app.ReasonNotFinished)
	}
	if got := e.get(t, user, o.GetId()); got.GetStatus() != orderv1.Order_STATUS_PAID {
		t.Fatalf("order after the failed cancel = %v, want still PAID", got)
	}
	if rep, err := e.svc.Repair(context.Background()); err != nil || rep.RefundsFailed != 1 {
		t.Fatalf("Repair with billing still down = %+v, %v; want one failed refund", rep, err)
	}
	e.billing.SetDown(false)
	var rep app.RepairReport
	eventually(t, 5*time.Second, "the repair loop refunds the order", func() bool {
		r, err := e.svc.Repair(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		rep.Refunded += r.Refunded
		return rep.Refunded == 1
	})
	c := e.get(t, user, o.GetId())
	if c.GetStatus() != orderv1.Order_STATUS_CANCELLED || c.GetRefunded() != 250 || c.GetCancelReason() != "billing is out" {
		t.Fatalf("order after the repair = %v, want CANCELLED with 250 refunded and the first reason", c)
	}
	if again, err := e.cancel(t, user, o.GetId(), ""); err != nil || again.GetStatus() != orderv1.Order_STATUS_CANCELLED {
		t.Fatalf("CancelOrder after the repair = %v, %v", again, err)
	}
	if got := e.balance(t, user); got != 1000 || len(e.billing.Refunds()) != 1 || e.cancelLetters(o.GetId()) != 1 {
		t.Errorf("balance %d, refunds %v, %d letters; want 1000, one refund, one letter", got, e.billing.Refunds(), e.cancelLetters(o.GetId()))
	}
}

// The refund went through but its answer was lost: the order is not
// cancelled until billing's answer arrives, and the retry gets the same
// refund rather than a second one.
func TestCancelOrder_LostReply_RefundedOnce(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	o := e.mustCreate(t, user, 250, "paid")
	e.billing.SetLoseReplies(true)
	if _, err := e.cancel(t, user, o.GetId(), ""); status.Code(err) != codes.Unavailable {
		t.Fatalf("CancelOrder with the reply lost = %v, want UNAVAILABLE", err)
	}
	e.billing.SetLoseReplies(false)
	c, err := e.cancel(t, user, o.GetId(), "")
	if err != nil || c.GetStatus() != orderv1.Order_STATUS_CANCELLED || c.GetRefunded() != 250 {
		t.Fatalf("retried CancelOrder = %v, %v", c, err)
	}
	if got := e.balance(t, user); got != 1000 || len(e.billing.Refunds()) != 1 {
		t.Errorf("balance %d, refunds %v; want 1000 and one refund", got, e.billing.Refunds())
	}
}

// The notification service down during the cancel: the order is
// cancelled all the same and the relay delivers its letter, once.
func TestCancelOrder_NotifierDown_RelayDeliversTheLetter(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	o := e.mustCreate(t, user, 250, "paid")
	e.letters.SetDown(true)
	c, err := e.cancel(t, user, o.GetId(), "")
	if err != nil || c.GetStatus() != orderv1.Order_STATUS_CANCELLED {
		t.Fatalf("CancelOrder with notification down = %v, %v; want CANCELLED", c, err)
	}
	if n := e.cancelLetters(o.GetId()); n != 0 {
		t.Fatalf("%d cancellation letters stored while notification was down", n)
	}
	e.letters.SetDown(false)
	e.passTime(t)
	if rep, err := e.svc.Relay(context.Background()); err != nil || rep.Sent != 1 {
		t.Fatalf("Relay = %+v, %v; want the cancellation letter sent", rep, err)
	}
	e.passTime(t)
	if rep, err := e.svc.Relay(context.Background()); err != nil || rep.Sent != 0 {
		t.Errorf("second Relay = %+v, %v; want nothing left", rep, err)
	}
	if n, all := e.cancelLetters(o.GetId()), len(e.letters.LettersFor(o.GetId())); n != 1 || all != 2 {
		t.Errorf("%d cancellation letters of %d; want one of two", n, all)
	}
}

// Bad input changes nothing: another customer's order is missing, a
// malformed id or an overlong reason is INVALID_ARGUMENT.
func TestCancelOrder_BadInput(t *testing.T) {
	e := newEnv(t)
	user, other := e.buyer(t, 1000), e.buyer(t, 1000)
	o := e.mustCreate(t, user, 100, "paid")
	for _, tt := range []struct {
		name, user, id, reason string
		code                   codes.Code
	}{
		{"another user's order", other, o.GetId(), "", codes.NotFound},
		{"no such order", user, "6f1c8f5e-0000-4000-8000-000000000000", "", codes.NotFound},
		{"malformed id", user, "not-a-uuid", "", codes.InvalidArgument},
		{"malformed user id", "nobody", o.GetId(), "", codes.InvalidArgument},
		{"reason too long", user, o.GetId(), strings.Repeat("x", order.MaxCancelReasonLen+1), codes.InvalidArgument},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot(t)
			var err error
			if tt.user == "nobody" {
				_, err = e.orders.CancelOrder(context.Background(), &orderv1.CancelOrderRequest{UserId: tt.user, Id: tt.id}, e.as(t, user))
			} else {
				_, err = e.cancel(t, tt.user, tt.id, tt.reason)
			}
			if status.Code(err) != tt.code {
				t.Fatalf("CancelOrder = %v, want %v", err, tt.code)
			}
			if after := e.snapshot(t); after != before || e.billing.RefundCalls() != 0 {
				t.Errorf("refused cancel changed state: %+v -> %+v", before, after)
			}
		})
	}
	if got := e.get(t, user, o.GetId()); got.GetStatus() != orderv1.Order_STATUS_PAID {
		t.Errorf("order after the refused cancels = %v, want PAID", got)
	}
}
