package grpcserver_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
)

// A stalled billing holds no database connection and no order lock: with
// more payments waiting on billing than the pool has connections, the
// orders can still be read, and the payments finish once billing answers.
func TestCreateOrder_BillingStalled_ReadsOfTheOrderStillAnswer(t *testing.T) {
	const pool, stalled = 2, 3
	e := newEnv(t, withPool(pool))
	user := e.buyer(t, 1000)
	release := e.billing.Hold()
	t.Cleanup(release)

	type result struct {
		o   *orderv1.Order
		err error
	}
	results := make(chan result, stalled)
	for i := range stalled {
		go func() {
			o, err := e.create(t, user, 100, fmt.Sprint("k", i))
			results <- result{o, err}
		}()
	}
	eventually(t, 10*time.Second, "every payment waiting on billing", func() bool { return e.billing.Waiting() == stalled })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	list, err := e.orders.ListOrders(ctx, &orderv1.ListOrdersRequest{UserId: user}, e.as(t, user))
	if err != nil || len(list.GetOrders()) != stalled {
		t.Fatalf("ListOrders while billing stalls = %d orders, %v; want %d within the deadline", len(list.GetOrders()), err, stalled)
	}
	for _, o := range list.GetOrders() {
		got, err := e.orders.GetOrder(ctx, &orderv1.GetOrderRequest{UserId: user, Id: o.GetId()}, e.as(t, user))
		if err != nil || got.GetStatus() != orderv1.Order_STATUS_PENDING {
			t.Errorf("GetOrder while billing stalls = %v, %v; want PENDING within the deadline", got.GetStatus(), err)
		}
	}

	release()
	for range stalled {
		r := <-results
		if r.err != nil || r.o.GetStatus() != orderv1.Order_STATUS_PAID {
			t.Errorf("CreateOrder after billing answered = %v, %v; want PAID", r.o.GetStatus(), r.err)
		}
	}
	if got := e.billing.Balance(user); got != 1000-stalled*100 {
		t.Errorf("balance = %d, want %d", got, 1000-stalled*100)
	}
}
