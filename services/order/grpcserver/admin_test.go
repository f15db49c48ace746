package grpcserver_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"github.com/kassa-dev/kassa/services/order/app"
	"github.com/kassa-dev/kassa/services/platform/retry"
	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// passTime makes every scheduled background attempt due now, as if the
// backoff had passed, so a test need not wait for it.
func (e *env) passTime(t *testing.T) {
	t.Helper()
	for _, q := range []string{
		`UPDATE orders SET pay_next_attempt_time = now() WHERE status = 'pending'`,
		`UPDATE order_letters SET next_attempt_time = now() WHERE sent_time IS NULL`,
		`UPDATE order_refunds SET next_attempt_time = now() WHERE refund_time IS NULL`,
	} {
		if _, err := e.db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}

// parked lists every parked item through the admin API, page by page.
func (e *env) parked(t *testing.T, pageSize int32) []*orderv1.ParkedItem {
	t.Helper()
	var all []*orderv1.ParkedItem
	token := ""
	for {
		resp, err := e.admin.ListParked(context.Background(), &orderv1.ListParkedRequest{PageSize: pageSize, PageToken: token}, e.asAdmin(t))
		if err != nil {
			t.Fatalf("ListParked: %v", err)
		}
		all = append(all, resp.GetItems()...)
		if token = resp.GetNextPageToken(); token == "" {
			return all
		}
	}
}

func TestRepair_150Unfinishable_DoNotStarveANewerOrder(t *testing.T) {
	const stuck, maxAttempts = 150, 3
	e := newEnv(t, withConfig(func(c *app.Config) {
		c.Retry = retry.Policy{Base: time.Hour, Max: time.Hour, MaxAttempts: maxAttempts}
	}))
	ctx := context.Background()
	loser := e.buyer(t, 1_000_000)
	e.billing.FailFor(loser, true) // billing never answers for these orders
	for i := range stuck {
		if _, err := e.create(t, loser, 100, fmt.Sprint("stuck-", i)); status.Code(err) != codes.Unavailable {
			t.Fatalf("stuck order %d: err = %v, want Unavailable", i, err)
		}
	}
	winner := e.buyer(t, 1000)
	e.billing.FailFor(winner, true)
	if _, err := e.create(t, winner, 100, "newer"); status.Code(err) != codes.Unavailable {
		t.Fatalf("newer order: err = %v, want Unavailable", err)
	}
	e.billing.FailFor(winner, false)

	// The batch is 100 and the 150 fell due first, but each failure pushes
	// its order back: the newer order is paid by the second pass.
	const boundPasses = (stuck + 1 + 99) / 100
	passes := 0
	for e.onlyOrder(t, winner).GetStatus() != orderv1.Order_STATUS_PAID {
		if passes++; passes > boundPasses {
			t.Fatalf("newer order still %v after %d passes", e.onlyOrder(t, winner).GetStatus(), boundPasses)
		}
		if _, err := e.svc.Repair(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var tried, future int
	if err := e.db.QueryRow(`SELECT count(*) FILTER (WHERE pay_attempts > 0), count(*) FILTER (WHERE pay_next_attempt_time > now())
		FROM orders WHERE user_id = $1 AND status = 'pending'`, loser).Scan(&tried, &future); err != nil {
		t.Fatal(err)
	}
	if tried != stuck || future != stuck {
		t.Errorf("of %d stuck orders %d were tried and %d have their next attempt in the future; want all", stuck, tried, future)
	}

	// After the cap they are parked: listed, counted, and no longer tried.
	for range 3 * maxAttempts {
		e.passTime(t)
		if _, err := e.svc.Repair(ctx); err != nil {
			t.Fatal(err)
		}
	}
	items := e.parked(t, 40)
	if len(items) != stuck {
		t.Fatalf("parked items = %d, want %d", len(items), stuck)
	}
	for i, it := range items {
		if it.GetStep() != orderv1.ParkedItem_STEP_PAYMENT || it.GetUserId() != loser || it.GetAttempts() != maxAttempts || it.GetLastError() == "" {
			t.Fatalf("parked item %+v, want a payment of the stuck user after %d attempts with its error", it, maxAttempts)
		}
		if i > 0 && it.GetParkTime().AsTime().After(items[i-1].GetParkTime().AsTime()) {
			t.Fatalf("item %d parked later than item %d: not newest first", i, i-1)
		}
	}
	m := metrictest.Gather(t, e.reg)
	if got := m.Value(t, "kassa_order_parked_items", "step", "payment"); got != stuck {
		t.Errorf("kassa_order_parked_items{payment} = %v, want %d", got, stuck)
	}
	if got := m.Value(t, "kassa_order_parked_total", "step", "payment"); got != stuck {
		t.Errorf("kassa_order_parked_total{payment} = %v, want %d", got, stuck)
	}
	e.passTime(t)
	if rep, err := e.svc.Repair(ctx); err != nil || rep != (app.RepairReport{}) {
		t.Errorf("pass over parked orders = %+v, %v; want nothing tried", rep, err)
	}

	// Released, they are due at once with a fresh count.
	resp, err := e.admin.RetryParked(ctx, &orderv1.RetryParkedRequest{}, e.asAdmin(t))
	if err != nil || resp.GetReleased() != stuck {
		t.Fatalf("RetryParked = %v, %v; want %d released", resp, err, stuck)
	}
	if n := len(e.parked(t, 0)); n != 0 {
		t.Errorf("parked after RetryParked = %d", n)
	}
	e.billing.FailFor(loser, false)
	paid := 0
	for range boundPasses {
		rep, err := e.svc.Repair(ctx)
		if err != nil {
			t.Fatal(err)
		}
		paid += rep.Finished
	}
	if paid != stuck {
		t.Errorf("paid %d released orders in %d passes, want %d", paid, boundPasses, stuck)
	}
	if got := metrictest.Gather(t, e.reg).Value(t, "kassa_order_parked_items", "step", "payment"); got != 0 {
		t.Errorf("kassa_order_parked_items{payment} = %v after the release, want 0", got)
	}
}

// A letter the notification service keeps refusing is parked after the
// cap, listed as a letter, and delivered once released.
func TestRelay_LetterParkedAfterCap_ReleasedAndDelivered(t *testing.T) {
	e := newEnv(t, withConfig(func(c *app.Config) {
		c.Retry = retry.Policy{Base: time.Hour, Max: time.Hour, MaxAttempts: 2}
	}))
	ctx := context.Background()
	user := e.buyer(t, 1000)
	e.letters.SetDown(true)
	o := e.mustCreate(t, user, 100, "k")
	for range 3 {
		e.passTime(t)
		if _, err := e.svc.Relay(ctx); err != nil {
			t.Fatal(err)
		}
	}
	items := e.parked(t, 0)
	if len(items) != 1 || items[0].GetStep() != orderv1.ParkedItem_STEP_LETTER || items[0].GetOrderId() != o.GetId() || items[0].GetAttempts() != 2 {
		t.Fatalf("parked = %v, want the order's letter after 2 attempts", items)
	}
	if e.letters.Calls() != 3 { // the hand-over and two relay attempts
		t.Errorf("notification calls = %d, want 3", e.letters.Calls())
	}
	e.letters.SetDown(false)
	if _, err := e.admin.RetryParked(ctx, &orderv1.RetryParkedRequest{OrderIds: []string{"nope"}}, e.asAdmin(t)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("RetryParked with a bad id = %v, want InvalidArgument", err)
	}
	if resp, err := e.admin.RetryParked(ctx, &orderv1.RetryParkedRequest{OrderIds: []string{o.GetId()}}, e.asAdmin(t)); err != nil || resp.GetReleased() != 1 {
		t.Fatalf("RetryParked = %v, %v", resp, err)
	}
	if rep, err := e.svc.Relay(ctx); err != nil || rep.Sent != 1 {
		t.Fatalf("relay after release = %+v, %v; want 1 sent", rep, err)
	}
	if n := len(e.letters.LettersFor(o.GetId())); n != 1 {
		t.Errorf("letters = %d, want 1", n)
	}
}
