package grpcserver_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// refund asks for amount of order id back under key, as userID.
func (e *env) refund(t *testing.T, userID, id string, amount int64, key string) (*orderv1.Order, error) {
	t.Helper()
	return e.orders.CancelOrder(context.Background(), &orderv1.CancelOrderRequest{
		UserId: userID, Id: id, Amount: proto.Int64(amount), RequestId: key,
	}, e.as(t, userID))
}

// refundLetters counts the partial refund letters the notifier stored for
// order id.
func (e *env) refundLetters(id string) int {
	return e.lettersTitled(id, "Part of order "+id+" was refunded")
}

// lettersTitled counts the letters the notifier stored for order id under
// subject.
func (e *env) lettersTitled(id, subject string) int {
	n := 0
	for _, l := range e.letters.LettersFor(id) {
		if l.GetSubject() == subject {
			n++
		}
	}
	return n
}

// pendingOrder places an order of price that stays pending, billing being
// down while it is placed, and returns its id with billing back.
func (e *env) pendingOrder(t *testing.T, user string, price int64) string {
	t.Helper()
	e.billing.SetDown(true)
	if _, err := e.create(t, user, price, "pending"); status.Code(err) != codes.Unavailable {
		t.Fatalf("setup: CreateOrder with billing down = %v", err)
	}
	var id string
	if err := e.db.Get(&id, `SELECT id FROM orders WHERE status = 'pending'`); err != nil {
		t.Fatal(err)
	}
	e.billing.SetDown(false)
	return id
}

// One order of 500 through a partial refund, its retries and refusals, and
// the cancel that gives back the rest. Every refused step changes no table
// and asks billing nothing.
func TestCancelOrder_PartialRefunds_Scenario(t *testing.T) {
	e := newEnv(t)
	user, other := e.buyer(t, 1000), e.buyer(t, 1000)
	o := e.mustCreate(t, user, 500, "paid")
	id := o.GetId()
	type want struct {
		code           codes.Code
		reason, field  string
		status         orderv1.Order_Status
		refunded       int64
		balance        int64
		refunds, notes int // billing's refunds, refund letters stored
	}
	paidWith := func(refunded int64, refunds int) want {
		return want{status: orderv1.Order_STATUS_PAID, refunded: refunded, balance: 500 + refunded, refunds: refunds, notes: refunds}
	}
	refused := func(code codes.Code, reason, field string) want {
		return want{code: code, reason: reason, field: field}
	}
	for _, step := range []struct {
		name   string
		user   string
		id     string
		amount *int64 // nil: a cancel
		key    string
		want   want
	}{
		{"a partial refund", user, id, proto.Int64(120), "part-1", paidWith(120, 1)},
		{"its retry", user, id, proto.Int64(120), "part-1", paidWith(120, 1)},
		{"its key with another amount", user, id, proto.Int64(130), "part-1", refused(codes.AlreadyExists, apperr.ReasonRequestIDReused, "")},
		{"its key as a cancel", user, id, nil, "part-1", refused(codes.AlreadyExists, apperr.ReasonRequestIDReused, "")},
		{"more than remains", user, id, proto.Int64(381), "part-2", refused(codes.FailedPrecondition, order.ReasonRefundExceedsRemaining, "")},
		{"zero", user, id, proto.Int64(0), "part-2", refused(codes.InvalidArgument, "", "amount")},
		{"negative", user, id, proto.Int64(-1), "part-2", refused(codes.InvalidArgument, "", "amount")},
		{"above the price", user, id, proto.Int64(501), "part-2", refused(codes.InvalidArgument, "", "amount")},
		{"without a key", user, id, proto.Int64(10), "", refused(codes.InvalidArgument, "", "request_id")},
		{"another user's order", other, id, proto.Int64(10), "part-2", refused(codes.NotFound, "ORDER_NOT_FOUND", "")},
		{"a malformed id", user, "not-a-uuid", proto.Int64(10), "part-2", refused(codes.InvalidArgument, "", "id")},
		{"a second partial refund", user, id, proto.Int64(80), "part-2", paidWith(200, 2)},
		{"the cancel", user, id, nil, "cancel", want{status: orderv1.Order_STATUS_CANCELLED, refunded: 500, balance: 1000, refunds: 3, notes: 2}},
		{"a partial refund of the cancelled order", user, id, proto.Int64(1), "part-3", refused(codes.FailedPrecondition, order.ReasonRefundExceedsRemaining, "")},
		{"the cancel again", user, id, nil, "", want{status: orderv1.Order_STATUS_CANCELLED, refunded: 500, balance: 1000, refunds: 3, notes: 2}},
	} {
		t.Run(step.name, func(t *testing.T) {
			before, calls := e.snapshot(t), e.billing.RefundCalls()
			req := &orderv1.CancelOrderRequest{UserId: step.user, Id: step.id, Amount: step.amount, RequestId: step.key}
			got, err := e.orders.CancelOrder(context.Background(), req, e.as(t, step.user))
			w := step.want
			if w.code != codes.OK {
				if status.Code(err) != w.code || grpcstatus.ReasonOf(err) != w.reason || badField(err) != w.field {
					t.Fatalf("CancelOrder = %v, %v; want %v, reason %q, field %q", got, err, w.code, w.reason, w.field)
				}
				if after := e.snapshot(t); after != before || e.billing.RefundCalls() != calls {
					t.Errorf("the refused request changed state: %+v -> %+v, %d -> %d refund calls", before, after, calls, e.billing.RefundCalls())
				}
				return
			}
			if err != nil || got.GetStatus() != w.status || got.GetRefunded() != w.refunded {
				t.Fatalf("CancelOrder = %v, %v; want %v with %d refunded", got, err, w.status, w.refunded)
			}
			if b := e.balance(t, user); b != w.balance || len(e.billing.Refunds()) != w.refunds || e.refundLetters(id) != w.notes {
				t.Errorf("balance %d, billing's refunds %d, refund letters %d; want %d, %d, %d",
					b, len(e.billing.Refunds()), e.refundLetters(id), w.balance, w.refunds, w.notes)
			}
		})
	}
	if n := e.cancelLetters(id); n != 1 {
		t.Errorf("%d cancellation letters, want 1", n)
	}
	if got := e.get(t, user, id); got.GetStatus() != orderv1.Order_STATUS_CANCELLED || got.GetRefunded() != 500 || got.GetCancelReason() != "" {
		t.Errorf("GetOrder at the end = %v, want CANCELLED with 500 refunded", got)
	}
}

// A partial refund of all that remains cancels the order: one
// cancellation letter (no refund letter for it) and CANCELLED.
func TestCancelOrder_PartialRefundOfTheRest_Cancels(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	o := e.mustCreate(t, user, 300, "paid")
	if _, err := e.refund(t, user, o.GetId(), 100, "first"); err != nil {
		t.Fatal(err)
	}
	c, err := e.refund(t, user, o.GetId(), 200, "the rest")
	if err != nil || c.GetStatus() != orderv1.Order_STATUS_CANCELLED || c.GetRefunded() != 300 || c.GetCancelTime() == nil {
		t.Fatalf("partial refund of the rest = %v, %v; want CANCELLED with 300 refunded", c, err)
	}
	if e.refundLetters(o.GetId()) != 1 || e.cancelLetters(o.GetId()) != 1 || e.balance(t, user) != 1000 {
		t.Errorf("refund letters %d, cancellation letters %d, balance %d; want 1, 1, 1000",
			e.refundLetters(o.GetId()), e.cancelLetters(o.GetId()), e.balance(t, user))
	}
}

// Thirty concurrent cancels and partial refunds of one order give back
// exactly its price, once: the cancels take what the partial refunds
// left, the partial refunds that come after it are refused, and the order
// ends CANCELLED with one cancellation letter.
func TestCancelOrder_ConcurrentCancelsAndPartialRefunds_PriceBackOnce(t *testing.T) {
	e := newEnv(t, withPool(8))
	user := e.buyer(t, 1000)
	o := e.mustCreate(t, user, 500, "paid")
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range cap(errs) {
		wg.Go(func() {
			var c *orderv1.Order
			var err error
			if i%3 == 0 {
				c, err = e.cancel(t, user, o.GetId(), "at once")
				if err == nil && c.GetStatus() != orderv1.Order_STATUS_CANCELLED {
					err = fmt.Errorf("cancel answered %v", c)
				}
			} else {
				c, err = e.refund(t, user, o.GetId(), 40, fmt.Sprintf("part-%d", i))
				if grpcstatus.ReasonOf(err) == order.ReasonRefundExceedsRemaining {
					err = nil
				}
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a concurrent refund: %v", err)
	}
	var given int64
	for _, r := range e.billing.Refunds() {
		given += r.Amount
	}
	got := e.get(t, user, o.GetId())
	if given != 500 || e.balance(t, user) != 1000 || got.GetStatus() != orderv1.Order_STATUS_CANCELLED || got.GetRefunded() != 500 {
		t.Errorf("billing gave back %d, balance %d, order %v; want 500, 1000, CANCELLED with 500", given, e.balance(t, user), got)
	}
	var rows int
	if err := e.db.Get(&rows, `SELECT count(*) FROM order_refunds WHERE order_id = $1`, o.GetId()); err != nil {
		t.Fatal(err)
	}
	if len(e.billing.Refunds()) != rows || e.cancelLetters(o.GetId()) != 1 || e.refundLetters(o.GetId()) != rows-1 {
		t.Errorf("%d refund rows, %d refunds in billing, %d cancellation and %d refund letters; want one refund and letter per row, one cancellation",
			rows, len(e.billing.Refunds()), e.cancelLetters(o.GetId()), e.refundLetters(o.GetId()))
	}
}

// A refund billing refuses for good is parked at once and listed by the
// admin API; the repair loop leaves it alone until an operator releases
// it, and then makes it.
func TestCancelOrder_RefundRefusedByBilling_ParkedAndRetriedByAdmin(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	o := e.mustCreate(t, user, 300, "paid")
	e.billing.SetLostPayments(true)
	if _, err := e.refund(t, user, o.GetId(), 100, "part-1"); status.Code(err) != codes.FailedPrecondition || grpcstatus.ReasonOf(err) != order.ReasonRefundRefused {
		t.Fatalf("partial refund refused by billing = %v, want FAILED_PRECONDITION %s", err, order.ReasonRefundRefused)
	}
	m := metrictest.Gather(t, e.reg)
	if refused, parked := m.Value(t, "kassa_order_refunds_total", "outcome", "refused"), m.Value(t, "kassa_order_parked_total", "step", "refund"); refused != 1 || parked != 1 {
		t.Errorf("refunds refused %v, refunds parked %v; want 1 and 1", refused, parked)
	}
	items := e.parked(t, 10)
	if len(items) != 1 || items[0].GetStep() != orderv1.ParkedItem_STEP_REFUND || items[0].GetOrderId() != o.GetId() || items[0].GetLastError() == "" {
		t.Fatalf("parked = %v, want the refund with its error", items)
	}
	e.passTime(t)
	calls := e.billing.RefundCalls()
	if rep, err := e.svc.Repair(context.Background()); err != nil || rep.Refunded+rep.RefundsFailed != 0 || e.billing.RefundCalls() != calls {
		t.Fatalf("Repair = %+v, %v; want the parked refund left alone", rep, err)
	}
	e.billing.SetLostPayments(false)
	resp, err := e.admin.RetryParked(context.Background(), &orderv1.RetryParkedRequest{OrderIds: []string{o.GetId()}}, e.asAdmin(t))
	if err != nil || resp.GetReleased() != 1 {
		t.Fatalf("RetryParked = %v, %v; want one released", resp, err)
	}
	if rep, err := e.svc.Repair(context.Background()); err != nil || rep.Refunded != 1 {
		t.Fatalf("Repair after the release = %+v, %v; want the refund made", rep, err)
	}
	if got := e.get(t, user, o.GetId()); got.GetStatus() != orderv1.Order_STATUS_PAID || got.GetRefunded() != 100 || e.balance(t, user) != 800 {
		t.Errorf("order %v, balance %d; want PAID with 100 refunded, 800", got, e.balance(t, user))
	}
	if items := e.parked(t, 10); len(items) != 0 {
		t.Errorf("parked after the refund = %v, want none", items)
	}
	m = metrictest.Gather(t, e.reg)
	if made, money := m.Value(t, "kassa_order_refunds_total", "outcome", "refunded"), m.Value(t, "kassa_order_refunded_minor_units_total", "currency", "USD"); made != 1 || money != 100 {
		t.Errorf("refunds made %v, money refunded %v; want 1 and 100", made, money)
	}
}

// A partial refund of a pending order settles it first: paid, then part
// refunded; declined, it is ORDER_NOT_PAID and leaves no refund behind.
func TestCancelOrder_PartialRefundOfAPendingOrder_SettledFirst(t *testing.T) {
	for _, tt := range []struct {
		name        string
		balance     int64
		code        codes.Code
		reason      string
		wantBalance int64
	}{
		{"paid then part refunded", 1000, codes.OK, "", 800},
		{"declined", 100, codes.FailedPrecondition, order.ReasonNotPaid, 100},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			user := e.buyer(t, tt.balance)
			id := e.pendingOrder(t, user, 300)
			got, err := e.refund(t, user, id, 100, "part")
			if status.Code(err) != tt.code || grpcstatus.ReasonOf(err) != tt.reason {
				t.Fatalf("partial refund of a pending order = %v, %v; want %v %s", got, err, tt.code, tt.reason)
			}
			if err == nil && (got.GetStatus() != orderv1.Order_STATUS_PAID || got.GetRefunded() != 100) {
				t.Errorf("partial refund of a pending order = %v, want PAID with 100 refunded", got)
			}
			var rows int
			if err := e.db.Get(&rows, `SELECT count(*) FROM order_refunds WHERE order_id = $1 AND refund_time IS NULL`, id); err != nil || rows != 0 {
				t.Errorf("%d refunds left to make, %v; want none", rows, err)
			}
			if b := e.balance(t, user); b != tt.wantBalance {
				t.Errorf("balance %d, want %d", b, tt.wantBalance)
			}
		})
	}
}
