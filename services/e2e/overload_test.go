package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// overloaded reports a refusal for overload and its retry hint.
func overloaded(err error) (time.Duration, bool) {
	if status.Code(err) != codes.ResourceExhausted || grpcstatus.ReasonOf(err) != apperr.ReasonOverloaded {
		return 0, false
	}
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, true
}

// createOrder is CreateOrder as a well-behaved client calls it: a refusal
// for overload is retried with the same key after the hint (a fraction of
// it, with the other clients' retries spread out), at most a few times.
func createOrder(ctx context.Context, req *orderv1.CreateOrderRequest) (*orderv1.Order, error) {
	for attempt := 1; ; attempt++ {
		o, err := sys.orders.CreateOrder(ctx, req)
		delay, shed := overloaded(err)
		if !shed || attempt == 20 {
			return o, err
		}
		if delay <= 0 {
			delay = time.Second
		}
		// Waiting out a refusal, bounded by the attempts.
		time.Sleep(delay / 10 * time.Duration(1+attempt%3))
	}
}

// A burst of orders on one account, far more at once than the order
// service admits for one buyer: the excess is refused fast, before it is
// recorded, and retried with its key it is paid once; no order is declined
// for the overload, and the money adds up.
func TestCreateOrder_BurstOnOneAccount_RefusedFastThenPaidOnce(t *testing.T) {
	const (
		burst = 40
		price = 100
	)
	u := newFundedUser(t, burst*price)
	ctx := u.ctx()
	type answer struct {
		o    *orderv1.Order
		err  error
		took time.Duration
	}
	answers := make([]answer, burst)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range burst {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			o, err := sys.orders.CreateOrder(ctx, &orderv1.CreateOrderRequest{UserId: u.id, Order: &orderv1.Order{Price: price}, RequestId: fmt.Sprintf("burst-%d", i)})
			answers[i] = answer{o, err, time.Since(t0)}
		})
	}
	close(start)
	wg.Wait()

	var paid, refused []int
	var slowest time.Duration
	for i, a := range answers {
		switch delay, shed := overloaded(a.err); {
		case a.err == nil && a.o.GetStatus() == orderv1.Order_STATUS_PAID:
			paid = append(paid, i)
		case shed:
			refused = append(refused, i)
			slowest = max(slowest, a.took)
			if delay <= 0 {
				t.Errorf("order %d refused without a retry hint: %v", i, a.err)
			}
		default:
			t.Errorf("order %d: %v, %v; want paid or refused for overload", i, a.o.GetStatus(), a.err)
		}
	}
	if len(refused) == 0 {
		t.Fatalf("all %d orders at once were admitted; the per-buyer bound did nothing", burst)
	}
	// Well under a second on a loaded machine; about a millisecond idle.
	if slowest > time.Second {
		t.Errorf("the slowest refusal took %v, want it refused fast, not queued", slowest)
	}
	t.Logf("%d paid, %d refused at once (slowest refusal %v)", len(paid), len(refused), slowest)
	// Nothing of a refused order exists: only the paid ones are recorded.
	if got := len(allOrders(t, u, u.id)); got != len(paid) {
		t.Errorf("%d orders recorded, want the %d admitted", got, len(paid))
	}

	// The refused keys retried as a client would: each paid once.
	for _, i := range refused {
		o, err := createOrder(ctx, &orderv1.CreateOrderRequest{UserId: u.id, Order: &orderv1.Order{Price: price}, RequestId: fmt.Sprintf("burst-%d", i)})
		if err != nil || o.GetStatus() != orderv1.Order_STATUS_PAID {
			t.Fatalf("retry of refused order %d: %v, %v; want paid", i, o.GetStatus(), err)
		}
	}
	orders := allOrders(t, u, u.id)
	if len(orders) != burst {
		t.Errorf("%d orders after the retries, want %d", len(orders), burst)
	}
	debits := map[string]int{}
	var ledger int64
	for _, tx := range allTransactions(t, u, u.id) {
		switch tx.GetKind() {
		case billingv1.Transaction_KIND_DEPOSIT:
			ledger += tx.GetAmount()
		case billingv1.Transaction_KIND_WITHDRAWAL:
			ledger -= tx.GetAmount()
			debits[tx.GetOrderId()]++
		}
	}
	for _, o := range orders {
		if o.GetStatus() != orderv1.Order_STATUS_PAID || debits[o.GetId()] != 1 {
			t.Errorf("order %s: %v with %d debits, want paid with 1", o.GetId(), o.GetStatus(), debits[o.GetId()])
		}
	}
	acct, err := sys.billing.GetAccount(ctx, &billingv1.GetAccountRequest{UserId: u.id})
	if err != nil {
		t.Fatal(err)
	}
	if acct.GetBalance() != 0 || ledger != 0 {
		t.Errorf("balance %d, ledger sum %d; want both 0 (funded for exactly %d orders)", acct.GetBalance(), ledger, burst)
	}
}
