package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/platform/apperr"
)

// cancelled records the refund of o, whose cancellation is requested.
func cancelled(t *testing.T, ctx context.Context, s interface {
	RecordCancel(context.Context, order.Order, int64, order.Letter, time.Duration) (order.Order, bool, error)
}, o order.Order) (order.Order, bool) {
	t.Helper()
	final := o
	final.Status, final.Refunded = order.Cancelled, o.Price
	got, recorded, err := s.RecordCancel(ctx, o, o.Price, order.CancelLetter(final), 0)
	if err != nil {
		t.Fatalf("RecordCancel: %v", err)
	}
	return got, recorded
}

func TestRequestCancel_OnlyPendingOrPaid_FirstReasonKept(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	user := uuid.NewString()
	o := paid(t, s, newOrder(t, s, user, "k"))
	got, err := s.RequestCancel(ctx, user, o.ID, "first", "", 0)
	if err != nil || !got.CancelRequested || got.CancelReason != "first" || got.Status != order.Paid {
		t.Fatalf("RequestCancel = %+v, %v; want paid with the request recorded", got, err)
	}
	again, err := s.RequestCancel(ctx, user, o.ID, "second", "", 0)
	if err != nil || again.CancelReason != "first" || !again.UpdateTime.Equal(got.UpdateTime) {
		t.Errorf("second RequestCancel = %+v, %v; want the first request unchanged", again, err)
	}
	if _, err := s.RequestCancel(ctx, uuid.NewString(), o.ID, "", "", 0); apperr.KindOf(err) != apperr.KindNotFound {
		t.Errorf("RequestCancel of another user's order = %v, want NotFound", err)
	}
	// A key names one order's cancellation: again on that order it is
	// answered with the order, on another order it is refused.
	keyed := paid(t, s, newOrder(t, s, user, "keyed"))
	if _, err := s.RequestCancel(ctx, user, keyed.ID, "", "cancel-1", 0); err != nil {
		t.Fatal(err)
	}
	if got, err := s.RequestCancel(ctx, user, keyed.ID, "", "cancel-1", 0); err != nil || got.ID != keyed.ID {
		t.Errorf("the key again on its order = %+v, %v; want the order", got, err)
	}
	other := paid(t, s, newOrder(t, s, user, "other"))
	if _, err := s.RequestCancel(ctx, user, other.ID, "", "cancel-1", 0); apperr.ReasonOf(err) != apperr.ReasonRequestIDReused {
		t.Errorf("the key on another order = %v, want REQUEST_ID_REUSED", err)
	}
	if got, err := s.Get(ctx, user, other.ID); err != nil || got.CancelRequested {
		t.Errorf("the refused key changed the other order: %+v, %v", got, err)
	}
	rejected := newOrder(t, s, user, "r")
	final := rejected
	final.Status, final.FailureReason = order.Rejected, "no money"
	if _, _, err := s.RecordOutcome(ctx, rejected, order.Declined("no money"), order.OutcomeLetter(final), 0); err != nil {
		t.Fatal(err)
	}
	if got, err := s.RequestCancel(ctx, user, rejected.ID, "", "", 0); err != nil || got.CancelRequested || got.Status != order.Rejected {
		t.Errorf("RequestCancel of a rejected order = %+v, %v; want it unchanged", got, err)
	}
}

// A pending order whose cancellation was requested keeps it when it is
// paid and drops it when it is rejected: nothing was taken to give back.
func TestRecordOutcome_RejectedDropsTheCancellation(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	user := uuid.NewString()
	for _, tt := range []struct {
		name string
		out  order.Outcome
		want bool
	}{
		{"paid", order.Outcome{Status: order.Paid}, true},
		{"rejected", order.Declined("no money"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrder(t, s, user, tt.name)
			if _, err := s.RequestCancel(ctx, user, o.ID, "", "", 0); err != nil {
				t.Fatal(err)
			}
			final := o
			final.Status, final.FailureReason = tt.out.Status, tt.out.Reason
			got, _, err := s.RecordOutcome(ctx, o, tt.out, order.OutcomeLetter(final), 0)
			if err != nil || got.CancelRequested != tt.want {
				t.Errorf("RecordOutcome = %+v, %v; want cancellation requested %v", got, err, tt.want)
			}
		})
	}
}

func TestRecordCancel_OnceWithASecondLetter(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	user := uuid.NewString()
	o := paid(t, s, newOrder(t, s, user, "k"))
	if _, recorded := cancelled(t, ctx, s, o); recorded {
		t.Fatal("RecordCancel recorded a refund nobody asked for")
	}
	o, err := s.RequestCancel(ctx, user, o.ID, "why", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	got, recorded := cancelled(t, ctx, s, o)
	if !recorded || got.Status != order.Cancelled || got.Refunded != o.Price || got.CancelTime.IsZero() {
		t.Fatalf("RecordCancel = %+v, %v; want cancelled with the price refunded", got, recorded)
	}
	if again, recorded := cancelled(t, ctx, s, o); recorded || again.CancelTime != got.CancelTime {
		t.Errorf("second RecordCancel = %+v, %v; want the first refund unchanged", again, recorded)
	}
	var letters []string
	if err := db.Select(&letters, `SELECT request_id FROM order_letters WHERE order_id = $1 ORDER BY request_id`, o.ID); err != nil {
		t.Fatal(err)
	}
	if len(letters) != 2 || letters[0] != order.CancelLetterRequestID(o.ID) || letters[1] != order.LetterRequestID(o.ID) {
		t.Errorf("outbox of the order = %q, want its outcome and its cancellation letter", letters)
	}
	// Marking the cancellation letter sent leaves the outcome letter due.
	if _, err := s.MarkSent(ctx, o.ID, order.CancelLetterRequestID(o.ID)); err != nil {
		t.Fatal(err)
	}
	due, err := s.ClaimLetters(ctx, time.Minute, 10, time.Now())
	if err != nil || len(due) != 1 || due[0].RequestID != order.LetterRequestID(o.ID) {
		t.Errorf("ClaimLetters = %+v, %v; want only the outcome letter", due, err)
	}
}

func TestClaimCancels_OnlyRequestedPaidAndDue(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	user := uuid.NewString()
	due := paid(t, s, newOrder(t, s, user, "due"))
	later := paid(t, s, newOrder(t, s, user, "later"))
	pending := newOrder(t, s, user, "pending")
	paid(t, s, newOrder(t, s, user, "not asked"))
	for _, c := range []struct {
		id    string
		grace time.Duration
	}{{due.ID, 0}, {later.ID, time.Hour}, {pending.ID, 0}} {
		if _, err := s.RequestCancel(ctx, user, c.id, "", "", c.grace); err != nil {
			t.Fatal(err)
		}
	}
	claimed, err := s.ClaimCancels(ctx, time.Minute, 10, time.Now())
	if err != nil || len(claimed) != 1 || claimed[0].ID != due.ID || claimed[0].CancelAttempts != 1 {
		t.Fatalf("ClaimCancels = %+v, %v; want only the due paid order, one attempt", claimed, err)
	}
	if again, err := s.ClaimCancels(ctx, time.Minute, 10, time.Now()); err != nil || len(again) != 0 {
		t.Errorf("ClaimCancels within the lease = %+v, %v; want nothing", again, err)
	}
	if err := s.CancelFailed(ctx, due.ID, 0, "billing is down"); err != nil {
		t.Fatal(err)
	}
	if again, err := s.ClaimCancels(ctx, time.Minute, 10, time.Now()); err != nil || len(again) != 1 || again[0].CancelAttempts != 2 {
		t.Errorf("ClaimCancels after the failure = %+v, %v; want the order again, two attempts", again, err)
	}
}
