package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/postgres"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/paging"
)

// refundState is what the tables hold of an order's refunds.
type refundState struct {
	Rows     int   `db:"rows"`
	Amounts  int64 `db:"amounts"`
	Reserved int64 `db:"reserved"`
	Refunded int64 `db:"refunded"`
	Letters  int   `db:"letters"`
}

func refundsOf(t *testing.T, db *sqlx.DB, id string) refundState {
	t.Helper()
	var st refundState
	if err := db.Get(&st, `SELECT
		(SELECT count(*) FROM order_refunds WHERE order_id = $1) AS rows,
		(SELECT coalesce(sum(amount), 0) FROM order_refunds WHERE order_id = $1) AS amounts,
		(SELECT refund_reserved FROM orders WHERE id = $1) AS reserved,
		(SELECT refunded FROM orders WHERE id = $1) AS refunded,
		(SELECT count(*) FROM order_letters WHERE order_id = $1) AS letters`, id); err != nil {
		t.Fatal(err)
	}
	return st
}

// record records refund r as made by billing, giving back its amount.
func record(t *testing.T, s *postgres.Store, r order.Refund) (order.Order, bool) {
	t.Helper()
	got, recorded, err := s.RecordRefund(context.Background(), r, r.Amount, 0)
	if err != nil {
		t.Fatalf("RecordRefund(%d): %v", r.Seq, err)
	}
	return got, recorded
}

// A paid order of 100 takes refunds up to its price, one row each with its
// own key; whatever is refused writes nothing.
func TestRequestRefund_ReservesUpToThePrice(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	user := uuid.NewString()
	o := paid(t, s, newOrder(t, s, user, "k"))
	other := paid(t, s, newOrder(t, s, user, "other"))

	_, due, err := s.RequestRefund(ctx, user, o.ID, 30, "scratched", "part-1", 0)
	want := order.Refund{OrderID: o.ID, UserID: user, Seq: 1, RequestID: "part-1", Amount: 30, Asked: 30,
		BillingKey: order.PartialRefundRequestID(o.ID, 1), Reason: "scratched"}
	if err != nil || len(due) != 1 || due[0] != want {
		t.Fatalf("RequestRefund(30) = %+v, %v; want %+v", due, err, want)
	}
	before := refundsOf(t, db, o.ID)
	if before != (refundState{Rows: 1, Amounts: 30, Reserved: 30, Letters: 1}) {
		t.Fatalf("after one partial refund: %+v", before)
	}
	for _, tt := range []struct {
		name       string
		user, id   string
		amount     int64
		key        string
		wantReason string
		wantKind   apperr.Kind
	}{
		{"more than remains", user, o.ID, 71, "part-2", order.ReasonRefundExceedsRemaining, apperr.KindFailedPrecondition},
		{"above the price", user, o.ID, 101, "part-2", "", apperr.KindInvalid},
		{"the key with another amount", user, o.ID, 31, "part-1", apperr.ReasonRequestIDReused, apperr.KindAlreadyExists},
		{"the key as a cancel", user, o.ID, 0, "part-1", apperr.ReasonRequestIDReused, apperr.KindAlreadyExists},
		{"the key on another order", user, other.ID, 30, "part-1", apperr.ReasonRequestIDReused, apperr.KindAlreadyExists},
		{"another user's order", uuid.NewString(), o.ID, 10, "part-2", "ORDER_NOT_FOUND", apperr.KindNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, due, err := s.RequestRefund(ctx, tt.user, tt.id, tt.amount, "", tt.key, 0)
			if apperr.KindOf(err) != tt.wantKind || apperr.ReasonOf(err) != tt.wantReason || due != nil {
				t.Errorf("RequestRefund = %+v, %v; want kind %v reason %q", due, err, tt.wantKind, tt.wantReason)
			}
			if got := refundsOf(t, db, o.ID); got != before {
				t.Errorf("the refused request changed the order's refunds: %+v -> %+v", before, got)
			}
			if got := refundsOf(t, db, other.ID); got.Rows != 0 || got.Reserved != 0 {
				t.Errorf("the refused request changed the other order: %+v", got)
			}
		})
	}
	// The key again with its amount is the same refund, not a second one.
	if _, again, err := s.RequestRefund(ctx, user, o.ID, 30, "", "part-1", 0); err != nil || len(again) != 1 || again[0] != want {
		t.Errorf("the key again = %+v, %v; want the first refund", again, err)
	}
	if got := refundsOf(t, db, o.ID); got != before {
		t.Errorf("the key again changed the refunds: %+v", got)
	}
	// The cancel reserves the 70 that remain, under the order's old key,
	// and is to make both refunds.
	c, due, err := s.RequestRefund(ctx, user, o.ID, 0, "changed my mind", "", 0)
	if err != nil || !c.CancelRequested || c.CancelReason != "changed my mind" || len(due) != 2 ||
		due[0].Seq != 0 || due[0].Amount != 70 || due[0].Asked != 70 || due[0].BillingKey != order.RefundRequestID(o.ID) || due[1] != want {
		t.Fatalf("cancel = %+v, %+v, %v; want the cancellation requested, refunds 0 (70) and 1 (30)", c, due, err)
	}
	if _, _, err := s.RequestRefund(ctx, user, o.ID, 1, "", "part-3", 0); apperr.ReasonOf(err) != order.ReasonRefundExceedsRemaining {
		t.Errorf("a partial refund after the cancel = %v, want REFUND_EXCEEDS_REMAINING", err)
	}
	if got := refundsOf(t, db, o.ID); got.Rows != 2 || got.Amounts != 100 || got.Reserved != 100 {
		t.Errorf("after the cancel: %+v, want two refunds reserving the price", got)
	}
}

// Refunds are recorded once each, with a letter each; the last one of an
// order whose cancellation is requested cancels it and says so, whichever
// of them it is.
func TestRecordRefund_RunningTotalAndTheLastCancels(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	user := uuid.NewString()
	o := paid(t, s, newOrder(t, s, user, "k"))
	_, first, err := s.RequestRefund(ctx, user, o.ID, 60, "", "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	// 40 is the rest: this partial refund requests the cancellation.
	req, last, err := s.RequestRefund(ctx, user, o.ID, 40, "the rest", "b", 0)
	if err != nil || !req.CancelRequested || req.CancelReason != "the rest" {
		t.Fatalf("the partial refund of the rest = %+v, %v; want the cancellation requested", req, err)
	}
	got, recorded := record(t, s, last[0])
	if !recorded || got.Status != order.Paid || got.Refunded != 40 {
		t.Fatalf("first record = %+v, %v; want paid with 40 refunded", got, recorded)
	}
	if again, recorded := record(t, s, last[0]); recorded || again.Refunded != 40 {
		t.Errorf("the same refund again = %+v, %v; want it recorded once", again, recorded)
	}
	got, recorded = record(t, s, first[0])
	if !recorded || got.Status != order.Cancelled || got.Refunded != 100 || got.CancelTime.IsZero() {
		t.Fatalf("last record = %+v, %v; want cancelled with the price refunded", got, recorded)
	}
	var letters []string
	if err := db.Select(&letters, `SELECT request_id FROM order_letters WHERE order_id = $1 ORDER BY create_time, request_id`, o.ID); err != nil {
		t.Fatal(err)
	}
	wantLetters := []string{order.LetterRequestID(o.ID), order.RefundLetterRequestID(o.ID, 2), order.CancelLetterRequestID(o.ID)}
	if fmt.Sprint(letters) != fmt.Sprint(wantLetters) {
		t.Errorf("letters = %q, want %q", letters, wantLetters)
	}
	var body string
	if err := db.Get(&body, `SELECT body FROM order_letters WHERE order_id = $1 AND request_id = $2`, o.ID, order.RefundLetterRequestID(o.ID, 2)); err != nil {
		t.Fatal(err)
	}
	if want := order.RefundLetter(order.Order{ID: o.ID, UserID: user, Price: 100, Currency: "USD", Refunded: 40}, last[0], 40).Body; body != want {
		t.Errorf("refund letter %q, want %q", body, want)
	}
	if c, due, err := s.RequestRefund(ctx, user, o.ID, 0, "", "", 0); err != nil || c.Status != order.Cancelled || due != nil {
		t.Errorf("cancel of the cancelled order = %+v, %+v, %v; want it as it is", c, due, err)
	}
	if _, _, err := s.RequestRefund(ctx, user, o.ID, 1, "", "c", 0); apperr.ReasonOf(err) != order.ReasonRefundExceedsRemaining {
		t.Errorf("a partial refund of the cancelled order = %v, want REFUND_EXCEEDS_REMAINING", err)
	}
}

// A pending order's refunds wait for its payment: kept when it is paid,
// dropped with their reservation when it is rejected, as nothing was
// taken. A rejected order takes no partial refund.
func TestRecordOutcome_RejectedDropsTheRefunds(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	user := uuid.NewString()
	for _, tt := range []struct {
		name string
		out  order.Outcome
		want refundState
	}{
		{"paid", order.Outcome{Status: order.Paid}, refundState{Rows: 2, Amounts: 100, Reserved: 100, Letters: 1}},
		{"rejected", order.Declined("no money"), refundState{Letters: 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrder(t, s, user, tt.name)
			if _, _, err := s.RequestRefund(ctx, user, o.ID, 25, "", tt.name+"/part", 0); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.RequestRefund(ctx, user, o.ID, 0, "", "", 0); err != nil {
				t.Fatal(err)
			}
			claimed, err := s.ClaimRefunds(ctx, time.Minute, 10, time.Now())
			for _, r := range claimed {
				if r.OrderID == o.ID || err != nil {
					t.Errorf("ClaimRefunds took a pending order's refund: %+v, %v", r, err)
				}
			}
			final := o
			final.Status, final.FailureReason = tt.out.Status, tt.out.Reason
			got, _, err := s.RecordOutcome(ctx, o, tt.out, order.OutcomeLetter(final), 0)
			if err != nil || got.CancelRequested != (tt.out.Status == order.Paid) {
				t.Errorf("RecordOutcome = %+v, %v", got, err)
			}
			if st := refundsOf(t, db, o.ID); st != tt.want {
				t.Errorf("refunds after the outcome: %+v, want %+v", st, tt.want)
			}
			if tt.out.Status == order.Rejected {
				if _, _, err := s.RequestRefund(ctx, user, o.ID, 10, "", tt.name+"/again", 0); apperr.ReasonOf(err) != order.ReasonNotPaid {
					t.Errorf("a partial refund of the rejected order = %v, want ORDER_NOT_PAID", err)
				}
				if c, due, err := s.RequestRefund(ctx, user, o.ID, 0, "", "", 0); err != nil || c.Status != order.Rejected || due != nil {
					t.Errorf("cancel of the rejected order = %+v, %+v, %v; want it as it is", c, due, err)
				}
			}
		})
	}
}

// 30 concurrent partial refunds and cancels of one order reserve exactly
// its price, never more; the ones that come too late are refused.
func TestRequestRefund_Concurrent_NeverBeyondThePrice(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	user := uuid.NewString()
	o := paid(t, s, newOrder(t, s, user, "k"))
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 30 {
		wg.Go(func() {
			var err error
			if i%5 == 0 {
				_, _, err = s.RequestRefund(ctx, user, o.ID, 0, "", "", 0)
			} else {
				_, _, err = s.RequestRefund(ctx, user, o.ID, 7, "", fmt.Sprintf("part-%d", i), 0)
			}
			if err != nil && apperr.ReasonOf(err) != order.ReasonRefundExceedsRemaining {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a concurrent refund request: %v", err)
	}
	if st := refundsOf(t, db, o.ID); st.Amounts != 100 || st.Reserved != 100 {
		t.Errorf("refunds after 30 concurrent requests: %+v, want exactly the price 100 reserved", st)
	}
	var cancels int
	if err := db.Get(&cancels, `SELECT count(*) FROM order_refunds WHERE order_id = $1 AND seq = 0`, o.ID); err != nil || cancels > 1 {
		t.Errorf("%d cancellation rows, %v; want at most one", cancels, err)
	}
}

// The repair loop's claim takes due refunds of paid orders; a refund
// parked shows in the parked list and is released there.
func TestClaimRefunds_DueThenParkedAndReleased(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	user := uuid.NewString()
	due := paid(t, s, newOrder(t, s, user, "due"))
	later := paid(t, s, newOrder(t, s, user, "later"))
	if _, _, err := s.RequestRefund(ctx, user, due.ID, 10, "", "due", 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RequestRefund(ctx, user, later.ID, 10, "", "later", time.Hour); err != nil {
		t.Fatal(err)
	}
	claimed, err := s.ClaimRefunds(ctx, time.Minute, 10, time.Now())
	if err != nil || len(claimed) != 1 || claimed[0].OrderID != due.ID || claimed[0].Attempts != 1 {
		t.Fatalf("ClaimRefunds = %+v, %v; want only the due one, one attempt", claimed, err)
	}
	if again, err := s.ClaimRefunds(ctx, time.Minute, 10, time.Now()); err != nil || len(again) != 0 {
		t.Errorf("ClaimRefunds within the lease = %+v, %v; want nothing", again, err)
	}
	if err := s.RefundFailed(ctx, claimed[0], 0, true, "billing refused: NOT_REFUNDABLE"); err != nil {
		t.Fatal(err)
	}
	if again, err := s.ClaimRefunds(ctx, time.Minute, 10, time.Now()); err != nil || len(again) != 0 {
		t.Errorf("ClaimRefunds of a parked refund = %+v, %v; want nothing", again, err)
	}
	if n, err := s.CountParked(ctx); err != nil || n[order.StepRefund] != 1 {
		t.Errorf("CountParked = %v, %v; want one refund", n, err)
	}
	items, err := s.ListParked(ctx, paging.Cursor{}, 10)
	if err != nil || len(items) != 1 || items[0].Step != order.StepRefund || items[0].OrderID != due.ID ||
		items[0].Attempts != 1 || items[0].LastError != "billing refused: NOT_REFUNDABLE" {
		t.Fatalf("ListParked = %+v, %v; want the refund", items, err)
	}
	if n, err := s.RetryParked(ctx, []string{due.ID}); err != nil || n != 1 {
		t.Fatalf("RetryParked = %d, %v; want 1", n, err)
	}
	if again, err := s.ClaimRefunds(ctx, time.Minute, 10, time.Now()); err != nil || len(again) != 1 || again[0].Attempts != 1 {
		t.Errorf("ClaimRefunds after the release = %+v, %v; want the refund with a fresh count", again, err)
	}
}
