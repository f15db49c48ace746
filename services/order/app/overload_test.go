package app_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/app"
	"github.com/kassa-dev/kassa/services/order/postgres"
	"github.com/kassa-dev/kassa/services/platform/admission"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
)

// heldPayments pays every withdrawal, but only once the test lets it go:
// the row lock of a busy account, as the orders of one buyer see it.
type heldPayments struct {
	fakePayments
	mu      sync.Mutex
	entered chan struct{}
	release chan struct{}
}

func (h *heldPayments) Withdraw(ctx context.Context, w app.Withdrawal) (bool, string, error) {
	h.entered <- struct{}{}
	<-h.release
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fakePayments.Withdraw(ctx, w)
}

// More orders of one buyer at once than the bound are refused before they
// are recorded, fast and with the overload kind; the admitted ones are
// paid; another buyer is not held up; and nothing is declined.
func TestCreate_BuyerBurstBeyondTheBound_RefusedBeforeRecorded(t *testing.T) {
	db := pgtest.NewDB(t, postgres.Migrations)
	store := postgres.New(db)
	pay := &heldPayments{entered: make(chan struct{}, 32), release: make(chan struct{})}
	limit := admission.Config{MaxInFlight: 2, MaxQueue: 1, MaxWait: 30 * time.Millisecond}
	svc, err := app.New(store, &fakeUsers{}, pay, &fakeLetters{}, app.Config{RepairMinAge: minAge, BuyerLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	hot, other := uuid.NewString(), uuid.NewString()
	ctx := context.Background()

	type answer struct {
		o    order.Order
		err  error
		took time.Duration
	}
	admitted := make(chan answer, limit.MaxInFlight)
	for i := range limit.MaxInFlight {
		go func() {
			o, err := svc.Create(ctx, hot, 100, "", fmt.Sprintf("held-%d", i))
			admitted <- answer{o: o, err: err}
		}()
		<-pay.entered // this one holds a slot, waiting on billing
	}
	const burst = 6
	refused := make(chan answer, burst)
	for i := range burst {
		go func() {
			start := time.Now()
			o, err := svc.Create(ctx, hot, 100, "", fmt.Sprintf("burst-%d", i))
			refused <- answer{o: o, err: err, took: time.Since(start)}
		}()
	}
	for range burst {
		a := <-refused
		if apperr.KindOf(a.err) != apperr.KindOverloaded || apperr.ReasonOf(a.err) != apperr.ReasonOverloaded {
			t.Fatalf("burst order: %v, %v; want refused with KindOverloaded", a.o, a.err)
		}
		var e *apperr.Error
		if !errors.As(a.err, &e) || e.RetryAfter <= 0 {
			t.Errorf("refusal without a retry hint: %v", a.err)
		}
		if a.took > 100*time.Millisecond {
			t.Errorf("refusal took %v, want under 100ms", a.took)
		}
	}
	// Another buyer has slots of its own.
	otherDone := make(chan error, 1)
	go func() { _, err := svc.Create(ctx, other, 100, "", "other-1"); otherDone <- err }()
	<-pay.entered
	close(pay.release)
	if err := <-otherDone; err != nil {
		t.Errorf("another buyer's order: %v", err)
	}
	for range limit.MaxInFlight {
		a := <-admitted
		if a.err != nil || a.o.Status != order.Paid {
			t.Errorf("admitted order: %+v, %v; want paid", a.o, a.err)
		}
	}
	var stored, burstStored, declined int
	if err := db.Get(&stored, `SELECT count(*) FROM orders WHERE user_id = $1`, hot); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&burstStored, `SELECT count(*) FROM orders WHERE request_id LIKE 'burst-%'`); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&declined, `SELECT count(*) FROM orders WHERE status <> 'paid'`); err != nil {
		t.Fatal(err)
	}
	if stored != limit.MaxInFlight || burstStored != 0 || declined != 0 {
		t.Errorf("stored %d orders of the hot buyer (%d of the refused burst, %d not paid); want %d, 0, 0",
			stored, burstStored, declined, limit.MaxInFlight)
	}
	if n := len(pay.calls); n != limit.MaxInFlight+1 {
		t.Errorf("billing was asked %d times, want %d (a refused order asks nothing)", n, limit.MaxInFlight+1)
	}
	// A refused order's key is unused: its retry, now that the buyer has
	// room, is a first attempt and is paid.
	pay.entered = make(chan struct{}, 1)
	o, err := svc.Create(ctx, hot, 100, "", "burst-0")
	if err != nil || o.Status != order.Paid {
		t.Fatalf("retry of a refused order: %+v, %v; want paid", o, err)
	}
}

func TestNew_BadBuyerLimit_Fails(t *testing.T) {
	_, err := app.New(postgres.New(pgtest.NewDB(t, postgres.Migrations)), &fakeUsers{}, &fakePayments{}, &fakeLetters{},
		app.Config{BuyerLimit: admission.Config{MaxInFlight: 2, MaxWait: -time.Second}})
	if err == nil {
		t.Error("New accepted a negative buyer wait")
	}
}
