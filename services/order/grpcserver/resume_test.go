package grpcserver_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"github.com/kassa-dev/kassa/services/order/app"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// onlyOrder returns the single order of user, failing when there is not
// exactly one.
func (e *env) onlyOrder(t *testing.T, user string) *orderv1.Order {
	t.Helper()
	resp, err := e.orders.ListOrders(context.Background(), &orderv1.ListOrdersRequest{UserId: user}, e.as(t, user))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetOrders()) != 1 {
		t.Fatalf("user has %d orders, want 1", len(resp.GetOrders()))
	}
	return resp.GetOrders()[0]
}

func TestCreateOrder_BillingDown_PendingThenRetryPaysOnce(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	e.billing.SetDown(true)

	_, err := e.create(t, user, 400, "k")
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
	pending := e.onlyOrder(t, user)
	if !strings.Contains(status.Convert(err).Message(), "order "+pending.GetId()+" is pending") {
		t.Errorf("message = %q, want it to name the pending order", status.Convert(err).Message())
	}
	if got := e.get(t, user, pending.GetId()); got.GetStatus() != orderv1.Order_STATUS_PENDING {
		t.Fatalf("status = %v, want PENDING", got.GetStatus())
	}
	if n := len(e.letters.Letters()); n != 0 {
		t.Errorf("letters = %d before the payment has an outcome, want 0", n)
	}

	e.billing.SetDown(false)
	o := e.mustCreate(t, user, 400, "k")
	if o.GetId() != pending.GetId() || o.GetStatus() != orderv1.Order_STATUS_PAID {
		t.Fatalf("retry = %v, want order %s PAID", o, pending.GetId())
	}
	if e.billing.Balance(user) != 600 || e.billing.DebitsFor(o.GetId()) != 1 {
		t.Errorf("balance %d, debits %d; want 600 and 1", e.billing.Balance(user), e.billing.DebitsFor(o.GetId()))
	}
	if n := len(e.letters.LettersFor(o.GetId())); n != 1 {
		t.Errorf("letters = %d, want 1", n)
	}
}

// Billing took the money but its reply was lost: the retry asks again
// with the same key, and billing's first result makes the order paid
// without a second charge.
func TestCreateOrder_BillingReplyLost_RetryDoesNotChargeTwice(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	e.billing.SetLoseReplies(true)
	if _, err := e.create(t, user, 400, "k"); status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
	if got := e.onlyOrder(t, user); got.GetStatus() != orderv1.Order_STATUS_PENDING {
		t.Fatalf("status = %v, want PENDING", got.GetStatus())
	}
	e.billing.SetLoseReplies(false)
	o := e.mustCreate(t, user, 400, "k")
	if o.GetStatus() != orderv1.Order_STATUS_PAID || e.billing.Balance(user) != 600 || len(e.billing.Debits()) != 1 {
		t.Errorf("order %v, balance %d, debits %d; want PAID, 600, 1", o.GetStatus(), e.billing.Balance(user), len(e.billing.Debits()))
	}
}

// The payment's answer does not wait for the letter: with notification
// down the order comes back PAID at once; its letter waits in the outbox,
// and a retry (or the relay) delivers it once.
func TestCreateOrder_NotificationDown_PaidAtOnceLetterOnRetry(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	e.letters.SetDown(true)

	paid := e.mustCreate(t, user, 250, "k")
	if paid.GetStatus() != orderv1.Order_STATUS_PAID || e.billing.Balance(user) != 750 {
		t.Fatalf("order %v, balance %d; want PAID and 750", paid.GetStatus(), e.billing.Balance(user))
	}
	if n := len(e.letters.Letters()); n != 0 {
		t.Fatalf("letters = %d while notification is down", n)
	}

	e.letters.SetDown(false)
	o := e.mustCreate(t, user, 250, "k")
	if o.GetId() != paid.GetId() || o.GetStatus() != orderv1.Order_STATUS_PAID {
		t.Fatalf("retry = %v", o)
	}
	if n := len(e.letters.LettersFor(o.GetId())); n != 1 {
		t.Errorf("letters = %d, want 1", n)
	}
	if e.billing.Balance(user) != 750 || e.billing.Calls() != 1 {
		t.Errorf("balance %d after %d billing calls; want 750 after 1 (a paid order is not paid again)",
			e.billing.Balance(user), e.billing.Calls())
	}
	// A third call and a relay pass change nothing.
	e.mustCreate(t, user, 250, "k")
	if rep, err := e.svc.Relay(context.Background()); err != nil || rep != (app.RelayReport{}) {
		t.Errorf("relay = %+v, %v; want nothing to do", rep, err)
	}
	if n := len(e.letters.Letters()); n != 1 || e.letters.Calls() != 2 {
		t.Errorf("letters %d after %d sends, want 1 after 2 (a notified order is not notified again)", n, e.letters.Calls())
	}
}

func TestRepairAndRelay_FinishPendingAndUndeliveredOrders(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	payer, rejected := e.buyer(t, 1000), e.buyer(t, 10)

	e.billing.SetDown(true)
	if _, err := e.create(t, payer, 400, "k"); status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
	e.billing.SetDown(false)
	e.letters.SetDown(true)
	if o := e.mustCreate(t, rejected, 400, "k"); o.GetStatus() != orderv1.Order_STATUS_REJECTED {
		t.Fatalf("order = %v, want REJECTED although its letter is not delivered", o.GetStatus())
	}

	// Billing answers again but notification is still down: the pending
	// order gets paid, and both letters stay in the outbox.
	if rep, err := e.svc.Repair(ctx); err != nil || rep.Finished != 1 || rep.Failed != 0 {
		t.Errorf("repair = %+v, %v; want 1 finished", rep, err)
	}
	if got := e.onlyOrder(t, payer); got.GetStatus() != orderv1.Order_STATUS_PAID {
		t.Errorf("pending order after repair = %v, want PAID", got.GetStatus())
	}
	if rep, err := e.svc.Relay(ctx); err != nil || rep.Sent != 0 || rep.Failed != 2 {
		t.Errorf("relay with notification down = %+v, %v; want 2 failed", rep, err)
	}

	e.letters.SetDown(false)
	sent := 0 // the failed letters fall due again after the env's few-millisecond backoff
	eventually(t, 5*time.Second, "both letters relayed", func() bool {
		rep, err := e.svc.Relay(ctx)
		if err != nil || rep.Failed != 0 {
			t.Fatalf("relay = %+v, %v; want no failures", rep, err)
		}
		sent += rep.Sent
		return sent == 2
	})
	p, r := e.onlyOrder(t, payer), e.onlyOrder(t, rejected)
	if p.GetStatus() != orderv1.Order_STATUS_PAID || r.GetStatus() != orderv1.Order_STATUS_REJECTED {
		t.Errorf("statuses %v, %v; want PAID, REJECTED", p.GetStatus(), r.GetStatus())
	}
	if e.billing.DebitsFor(p.GetId()) != 1 || e.billing.Balance(payer) != 600 || e.billing.Balance(rejected) != 10 {
		t.Errorf("debits %d, balances %d/%d; want 1, 600/10", e.billing.DebitsFor(p.GetId()), e.billing.Balance(payer), e.billing.Balance(rejected))
	}
	if len(e.letters.LettersFor(p.GetId())) != 1 || len(e.letters.LettersFor(r.GetId())) != 1 {
		t.Errorf("letters %d/%d, want 1/1", len(e.letters.LettersFor(p.GetId())), len(e.letters.LettersFor(r.GetId())))
	}

	// Nothing is left to do.
	rep, err := e.svc.Repair(ctx)
	if err != nil || rep != (app.RepairReport{}) {
		t.Errorf("repair with nothing to do = %+v, %v", rep, err)
	}
	if rep, err := e.svc.Relay(ctx); err != nil || rep != (app.RelayReport{}) {
		t.Errorf("relay with nothing to do = %+v, %v", rep, err)
	}
	if len(e.letters.Letters()) != 2 {
		t.Errorf("letters = %d after passes with nothing to do, want 2", len(e.letters.Letters()))
	}
}

func TestCreateOrder_ConcurrentOrdersOnOneAccount_ExactlyAffordablePaid(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	const n = 40
	results := make([]*orderv1.Order, n)
	errs := make([]error, n)
	owner := e.as(t, user)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = e.orders.CreateOrder(context.Background(), &orderv1.CreateOrderRequest{
				UserId: user, Order: &orderv1.Order{Price: 100}, RequestId: fmt.Sprintf("race-%d", i),
			}, owner)
		})
	}
	wg.Wait()
	paid, rejected := 0, 0
	ids := map[string]bool{}
	for i, o := range results {
		if errs[i] != nil {
			t.Errorf("order %d: %v", i, errs[i])
			continue
		}
		ids[o.GetId()] = true
		switch o.GetStatus() {
		case orderv1.Order_STATUS_PAID:
			paid++
			if e.billing.DebitsFor(o.GetId()) != 1 {
				t.Errorf("paid order %s has %d debits", o.GetId(), e.billing.DebitsFor(o.GetId()))
			}
		case orderv1.Order_STATUS_REJECTED:
			rejected++
			if !strings.Contains(o.GetFailureReason(), "insufficient funds") {
				t.Errorf("rejected order reason = %q", o.GetFailureReason())
			}
		default:
			t.Errorf("order %d status = %v", i, o.GetStatus())
		}
		if n := len(e.letters.LettersFor(o.GetId())); n != 1 {
			t.Errorf("order %s has %d letters, want 1", o.GetId(), n)
		}
	}
	if paid != 10 || rejected != 30 || len(ids) != n {
		t.Errorf("%d paid, %d rejected, %d distinct orders; want 10, 30, 40", paid, rejected, len(ids))
	}
	if got := e.billing.Balance(user); got != 0 {
		t.Errorf("balance = %d, want 0", got)
	}
	if got := len(e.letters.Letters()); got != n {
		t.Errorf("letters = %d, want %d", got, n)
	}
	if got := e.rows(t); got != n {
		t.Errorf("orders stored = %d, want %d", got, n)
	}
}

func TestCreateOrder_ConcurrentRetriesOfOneRequest_OneOrderOneDebitOneLetter(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	const n = 10
	results := make([]*orderv1.Order, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i], errs[i] = e.create(t, user, 300, "same-key") })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if results[i].GetId() != results[0].GetId() || results[i].GetStatus() != orderv1.Order_STATUS_PAID {
			t.Errorf("call %d returned %s %v, want %s PAID", i, results[i].GetId(), results[i].GetStatus(), results[0].GetId())
		}
	}
	if e.rows(t) != 1 || len(e.billing.Debits()) != 1 || e.billing.Balance(user) != 700 || len(e.letters.Letters()) != 1 {
		t.Errorf("orders %d, debits %d, balance %d, letters %d; want 1, 1, 700, 1",
			e.rows(t), len(e.billing.Debits()), e.billing.Balance(user), len(e.letters.Letters()))
	}
}
