package app_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/app"
	"github.com/kassa-dev/kassa/services/platform/apperr"
)

// paidOrder places an order of price that billing pays.
func (f *fixture) paidOrder(t *testing.T, buyer string, price int64) order.Order {
	t.Helper()
	o, err := f.svc.Create(context.Background(), buyer, price, "", uuid.NewString())
	if err != nil || o.Status != order.Paid {
		t.Fatalf("setup: Create = %+v, %v", o, err)
	}
	return o
}

// lettersFor counts the letters sent under requestID.
func (f *fixture) lettersFor(requestID string) int {
	n := 0
	for _, l := range f.letters.sent {
		if l.RequestID == requestID {
			n++
		}
	}
	return n
}

// A crash after the cancellation was recorded and before billing was
// asked: the repair loop leaves it alone while its request may still be
// working (RepairMinAge), then refunds it under the order's key and
// writes the letter, once.
func TestRepair_RefundsACancellationItsRequestLeft(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	buyer := uuid.NewString()
	o := f.paidOrder(t, buyer, 300)
	// What the request stored before it went away.
	if _, _, err := f.store.RequestRefund(ctx, buyer, o.ID, 0, "crashed", "", minAge); err != nil {
		t.Fatal(err)
	}
	if rep, err := f.svc.Repair(ctx); err != nil || rep.Refunded+rep.RefundsFailed != 0 {
		t.Fatalf("Repair within RepairMinAge = %+v, %v; want the cancellation left to its request", rep, err)
	}
	f.age(t)
	if rep, err := f.svc.Repair(ctx); err != nil || rep.Refunded != 1 {
		t.Fatalf("Repair = %+v, %v; want one refund", rep, err)
	}
	if rep, err := f.svc.Repair(ctx); err != nil || rep != (app.RepairReport{}) {
		t.Errorf("second Repair = %+v, %v; want nothing left", rep, err)
	}
	got, err := f.svc.Get(ctx, buyer, o.ID)
	if err != nil || got.Status != order.Cancelled || got.Refunded != 300 || got.CancelReason != "crashed" {
		t.Fatalf("order after the repair = %+v, %v; want cancelled, 300 refunded", got, err)
	}
	want := app.Refund{UserID: buyer, OrderID: o.ID, Amount: 300, RequestID: order.RefundRequestID(o.ID), Reason: "crashed"}
	if len(f.payments.refunds) != 1 || f.payments.refunds[0] != want {
		t.Errorf("refunds asked = %+v, want exactly %+v", f.payments.refunds, want)
	}
	if n := f.lettersFor(order.CancelLetterRequestID(o.ID)); n != 1 {
		t.Errorf("%d cancellation letters sent, want 1", n)
	}
}

// A refund billing does not answer is retried later by the retry policy
// and the order stays paid meanwhile.
func TestRepair_RefundBillingSilent_RetriedLater(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	buyer := uuid.NewString()
	o := f.paidOrder(t, buyer, 300)
	f.payments.refundErr = errors.New("billing is down")
	if _, err := f.svc.Cancel(ctx, buyer, o.ID, "", ""); apperr.ReasonOf(err) != app.ReasonNotFinished {
		t.Fatalf("Cancel with billing down = %v, want ORDER_NOT_FINISHED", err)
	}
	for range 3 {
		f.age(t)
		if rep, err := f.svc.Repair(ctx); err != nil || rep.RefundsFailed != 1 || rep.RefundsParked != 0 {
			t.Fatalf("Repair = %+v, %v; want one failed refund, not parked", rep, err)
		}
	}
	var attempts int
	var lastErr string
	if err := f.db.QueryRow(`SELECT attempts, last_error FROM order_refunds WHERE order_id = $1`, o.ID).Scan(&attempts, &lastErr); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.Get(ctx, buyer, o.ID); got.Status != order.Paid || attempts != 3 || lastErr == "" {
		t.Errorf("order %s after failed refunds: %d attempts, last error %q; want paid, 3, an error", got.Status, attempts, lastErr)
	}
	f.payments.refundErr = nil
	f.age(t)
	if rep, err := f.svc.Repair(ctx); err != nil || rep.Refunded != 1 {
		t.Fatalf("Repair with billing back = %+v, %v; want the refund", rep, err)
	}
	if got, _ := f.svc.Get(ctx, buyer, o.ID); got.Status != order.Cancelled || got.Refunded != 300 {
		t.Errorf("order after the repair = %+v, want cancelled", got)
	}
}

// A partial refund keeps the order paid with the running total; its key
// again moves no money, another amount under it is refused, and the cancel
// gives back the rest under the order's old refund key.
func TestPartialRefund_ThenCancel_RefundsTheRest(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	buyer := uuid.NewString()
	o := f.paidOrder(t, buyer, 300)
	got, err := f.svc.PartialRefund(ctx, buyer, o.ID, 120, "one broken", "part-1")
	if err != nil || got.Status != order.Paid || got.Refunded != 120 {
		t.Fatalf("PartialRefund(120) = %+v, %v; want paid with 120 refunded", got, err)
	}
	if again, err := f.svc.PartialRefund(ctx, buyer, o.ID, 120, "one broken", "part-1"); err != nil || again.Refunded != 120 || len(f.payments.refunds) != 1 {
		t.Errorf("the retry = %+v, %v, %d refunds asked; want the same order and no new refund", again, err, len(f.payments.refunds))
	}
	if _, err := f.svc.PartialRefund(ctx, buyer, o.ID, 121, "", "part-1"); apperr.ReasonOf(err) != apperr.ReasonRequestIDReused {
		t.Errorf("the key with another amount = %v, want REQUEST_ID_REUSED", err)
	}
	if _, err := f.svc.PartialRefund(ctx, buyer, o.ID, 181, "", "part-2"); apperr.ReasonOf(err) != order.ReasonRefundExceedsRemaining {
		t.Errorf("181 of the 180 that remain = %v, want REFUND_EXCEEDS_REMAINING", err)
	}
	c, err := f.svc.Cancel(ctx, buyer, o.ID, "changed my mind", "")
	if err != nil || c.Status != order.Cancelled || c.Refunded != 300 {
		t.Fatalf("Cancel = %+v, %v; want cancelled with 300 refunded", c, err)
	}
	want := []app.Refund{
		{UserID: buyer, OrderID: o.ID, Amount: 120, RequestID: order.PartialRefundRequestID(o.ID, 1), Reason: "one broken"},
		{UserID: buyer, OrderID: o.ID, Amount: 180, RequestID: order.RefundRequestID(o.ID), Reason: "changed my mind"},
	}
	if fmt.Sprint(f.payments.refunds) != fmt.Sprint(want) {
		t.Errorf("refunds asked = %+v, want %+v", f.payments.refunds, want)
	}
	if f.lettersFor(order.RefundLetterRequestID(o.ID, 1)) != 1 || f.lettersFor(order.CancelLetterRequestID(o.ID)) != 1 {
		t.Errorf("letters = %+v, want one refund letter and one cancellation letter", f.payments.refunds)
	}
}

// Bad input is refused before anything is read or written, and nothing
// asks billing.
func TestPartialRefund_BadInput_ChangesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	buyer := uuid.NewString()
	o := f.paidOrder(t, buyer, 300)
	for _, tt := range []struct {
		name, user, id string
		amount         int64
		key, field     string
	}{
		{"zero", buyer, o.ID, 0, "k", "amount"},
		{"negative", buyer, o.ID, -1, "k", "amount"},
		{"above the price", buyer, o.ID, 301, "k", "amount"},
		{"above any price", buyer, o.ID, 1e15 + 1, "k", "amount"},
		{"no key", buyer, o.ID, 10, "", "request_id"},
		{"malformed id", buyer, "not-a-uuid", 10, "k", "id"},
		{"malformed user", "nobody", o.ID, 10, "k", "user_id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.PartialRefund(ctx, tt.user, tt.id, tt.amount, "", tt.key)
			if apperr.KindOf(err) != apperr.KindInvalid {
				t.Fatalf("PartialRefund = %v, want INVALID_ARGUMENT", err)
			}
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Field != tt.field {
				t.Errorf("PartialRefund = %#v, want a violation of %s", err, tt.field)
			}
		})
	}
	var rows int
	if err := f.db.Get(&rows, `SELECT count(*) FROM order_refunds`); err != nil || rows != 0 || len(f.payments.refunds) != 0 {
		t.Errorf("bad input left %d refunds, %v, and asked billing %d times; want nothing", rows, err, len(f.payments.refunds))
	}
}

// A refund billing refuses for good is parked at once, not retried; an
// operator releases it once the cause is fixed and the repair loop makes
// it.
func TestPartialRefund_RefusedForGood_ParkedThenReleased(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	buyer := uuid.NewString()
	o := f.paidOrder(t, buyer, 300)
	f.payments.refundErr = fmt.Errorf("refund (TRANSACTION_NOT_FOUND): %w", app.ErrRefundRefused)
	if _, err := f.svc.PartialRefund(ctx, buyer, o.ID, 50, "", "part-1"); apperr.ReasonOf(err) != order.ReasonRefundRefused {
		t.Fatalf("PartialRefund refused by billing = %v, want REFUND_REFUSED", err)
	}
	page, err := f.svc.ListParked(ctx, 0, "")
	if err != nil || len(page.Items) != 1 || page.Items[0].Step != order.StepRefund || page.Items[0].OrderID != o.ID {
		t.Fatalf("ListParked = %+v, %v; want the refund", page, err)
	}
	f.age(t)
	if rep, err := f.svc.Repair(ctx); err != nil || rep.Refunded+rep.RefundsFailed != 0 || len(f.payments.refunds) != 1 {
		t.Fatalf("Repair = %+v, %v, %d refunds asked; want the parked refund left alone", rep, err, len(f.payments.refunds))
	}
	f.payments.refundErr = nil
	if n, err := f.svc.RetryParked(ctx, []string{o.ID}); err != nil || n != 1 {
		t.Fatalf("RetryParked = %d, %v; want 1", n, err)
	}
	if rep, err := f.svc.Repair(ctx); err != nil || rep.Refunded != 1 {
		t.Fatalf("Repair after the release = %+v, %v; want the refund made", rep, err)
	}
	if got, _ := f.svc.Get(ctx, buyer, o.ID); got.Status != order.Paid || got.Refunded != 50 {
		t.Errorf("order after the release = %+v, want paid with 50 refunded", got)
	}
	if page, _ := f.svc.ListParked(ctx, 0, ""); len(page.Items) != 0 {
		t.Errorf("parked after the refund = %+v, want none", page.Items)
	}
}
