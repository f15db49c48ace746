package grpcserver_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
)

// With notification stopped, every order still answers its final status;
// once notification is back, the relay loop gives every order exactly one
// letter within a bounded time.
func TestCreateOrder_NotificationStopped_50FinalAnswersThenOneLetterEach(t *testing.T) {
	const orders, price, balance = 50, 100, 2500
	e := newEnv(t)
	user := e.buyer(t, balance)
	e.letters.SetDown(true)

	ids := make([]string, 0, orders)
	paid := 0
	for i := range orders {
		o, err := e.create(t, user, price, fmt.Sprint("k", i))
		if err != nil {
			t.Fatalf("order %d with notification stopped: %v", i, err)
		}
		switch o.GetStatus() {
		case orderv1.Order_STATUS_PAID:
			paid++
		case orderv1.Order_STATUS_REJECTED:
		default:
			t.Fatalf("order %d = %v, want PAID or REJECTED", i, o.GetStatus())
		}
		ids = append(ids, o.GetId())
	}
	if paid != balance/price || len(e.letters.Letters()) != 0 {
		t.Fatalf("paid %d with %d letters stored; want %d and none yet", paid, len(e.letters.Letters()), balance/price)
	}

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan struct{})
	go func() { defer close(done); e.svc.RunRepair(ctx, 20*time.Millisecond) }()
	t.Cleanup(func() { cancel(); <-done })
	// The relay meets the outage first and backs off.
	eventually(t, 10*time.Second, "the relay trying while notification is down", func() bool { return e.letters.Calls() > orders })

	e.letters.SetDown(false)
	back := time.Now()
	eventually(t, 10*time.Second, "a letter for every order", func() bool { return len(e.letters.Letters()) >= orders })
	t.Logf("%d letters delivered %s after notification came back", orders, time.Since(back).Round(time.Millisecond))
	for _, id := range ids {
		if n := len(e.letters.LettersFor(id)); n != 1 {
			t.Errorf("order %s has %d letters, want 1", id, n)
		}
	}
	eventually(t, 10*time.Second, "every order notified", func() bool {
		var unnotified int
		if err := e.db.Get(&unnotified, `SELECT count(*) FROM orders WHERE notified_at IS NULL`); err != nil {
			t.Fatal(err)
		}
		return unnotified == 0
	})
	if n := len(e.letters.Letters()); n != orders {
		t.Errorf("letters = %d, want %d", n, orders)
	}
}
