package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/app"
)

// A crash after the cancellation was recorded and before billing was
// asked: the repair loop leaves it alone while its request may still be
// working (RepairMinAge), then refunds it under the order's key and
// writes the letter, once.
func TestRepair_RefundsACancellationItsRequestLeft(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	buyer := uuid.NewString()
	o, err := f.svc.Create(ctx, buyer, 300, "", "k")
	if err != nil || o.Status != order.Paid {
		t.Fatalf("setup: Create = %+v, %v", o, err)
	}
	// What the request stored before it went away.
	if _, err := f.store.RequestCancel(ctx, buyer, o.ID, "crashed", "", minAge); err != nil {
		t.Fatal(err)
	}
	f.payments.refundable = 300
	if rep, err := f.svc.Repair(ctx); err != nil || rep.Refunded+rep.RefundsFailed != 0 {
		t.Fatalf("Repair within RepairMinAge = %+v, %v; want the cancellation left to its request", rep, err)
	}
	if _, err := f.db.Exec(`UPDATE orders SET cancel_next_attempt_time = cancel_next_attempt_time - interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
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
	want := app.Refund{UserID: buyer, OrderID: o.ID, RequestID: order.RefundRequestID(o.ID), Reason: "crashed"}
	if len(f.payments.refunds) != 1 || f.payments.refunds[0] != want {
		t.Errorf("refunds asked = %+v, want exactly %+v", f.payments.refunds, want)
	}
	cancelLetters := 0
	for _, l := range f.letters.sent {
		if l.RequestID == order.CancelLetterRequestID(o.ID) {
			cancelLetters++
		}
	}
	if cancelLetters != 1 {
		t.Errorf("%d cancellation letters sent, want 1", cancelLetters)
	}
}

// A refund billing keeps refusing is retried later, never parked, and the
// order stays paid meanwhile.
func TestRepair_FailedRefund_RetriedNotParked(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	buyer := uuid.NewString()
	o, err := f.svc.Create(ctx, buyer, 300, "", "k")
	if err != nil {
		t.Fatal(err)
	}
	f.payments.refundErr = errors.New("billing is down")
	if _, err := f.svc.Cancel(ctx, buyer, o.ID, "", ""); err == nil {
		t.Fatal("Cancel with billing down succeeded")
	}
	for range 3 {
		if _, err := f.db.Exec(`UPDATE orders SET cancel_next_attempt_time = now() - interval '1 second'`); err != nil {
			t.Fatal(err)
		}
		if rep, err := f.svc.Repair(ctx); err != nil || rep.RefundsFailed != 1 {
			t.Fatalf("Repair = %+v, %v; want one failed refund", rep, err)
		}
	}
	var attempts int
	var lastErr string
	if err := f.db.QueryRow(`SELECT cancel_attempts, cancel_last_error FROM orders WHERE id = $1`, o.ID).Scan(&attempts, &lastErr); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.Get(ctx, buyer, o.ID); got.Status != order.Paid || attempts != 3 || lastErr == "" {
		t.Errorf("order %s after failed refunds: %d attempts, last error %q; want paid, 3, an error", got.Status, attempts, lastErr)
	}
}
