package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The load of a scenario: a few clients placing orders without pause
// through the gateway and directly on the order service, each order under
// a fresh key it keeps until the order's final answer.

const (
	restWorkers = 6
	grpcWorkers = 2
	// pace is a worker's pause between orders: about a hundred orders a
	// second in all, enough to have calls in flight at every fault while
	// the two cores still have room for the restarts.
	pace = 60 * time.Millisecond
)

// placed is one order a client set out to place.
type placed struct {
	scenario string
	via      string // REST or gRPC
	userID   string
	key      string
	price    int64
	started  time.Time
	answered time.Time // zero while the client waits
	out      outcome
	err      error // set when the client got no final answer
}

type load struct {
	sys      *system
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	inflight atomic.Int32
	reverted atomic.Int32 // set by postgresCrash

	mu     sync.Mutex
	orders []*placed
}

func (sys *system) startLoad(ctx context.Context, scenario string) *load {
	l := &load{sys: sys, stop: make(chan struct{})}
	for i := range restWorkers + grpcWorkers {
		via := "REST"
		if i >= restWorkers {
			via = "gRPC"
		}
		l.wg.Go(func() { l.worker(ctx, scenario, via, i) })
	}
	return l
}

func (l *load) worker(ctx context.Context, scenario, via string, i int) {
	for n := 0; ; n++ {
		select {
		case <-l.stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		u := l.sys.users[rand.N(len(l.sys.users))]
		p := &placed{
			scenario: scenario, via: via, userID: u.id, price: 50 + rand.Int64N(351),
			key: fmt.Sprintf("f-%s-%s%d-%d", scenario, via, i, n), started: time.Now(),
		}
		l.mu.Lock()
		l.orders = append(l.orders, p)
		l.mu.Unlock()
		l.inflight.Add(1)
		var out outcome
		var err error
		if via == "REST" {
			out, err = l.sys.rest.order(asUser(ctx, u), p.userID, p.key, p.price)
		} else {
			out, err = grpcOrder(asUser(ctx, u), l.sys.orders, l.sys.ev, p.userID, p.key, p.price)
		}
		l.inflight.Add(-1)
		l.mu.Lock()
		p.answered, p.out, p.err = time.Now(), out, err
		l.mu.Unlock()
		select {
		case <-l.stop:
			return
		case <-ctx.Done():
			return
		case <-time.After(pace):
		}
	}
}

// stopAndWait lets every worker finish the order it is placing and stop.
func (l *load) stopAndWait() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// count is the number of orders for which ok holds.
func (l *load) count(ok func(*placed) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, p := range l.orders {
		if ok(p) {
			n++
		}
	}
	return n
}

// answeredBefore is the ids of the orders answered final before t.
func (l *load) answeredBefore(t time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for _, p := range l.orders {
		if succeeded(p) && p.answered.Before(t) {
			ids = append(ids, p.out.ID)
		}
	}
	return ids
}

func succeeded(p *placed) bool { return !p.answered.IsZero() && p.err == nil }

// firstSuccessAfter is the first final answer at or after t, or the zero
// time when there was none.
func (l *load) firstSuccessAfter(t time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for _, p := range l.orders {
		if succeeded(p) && !p.answered.Before(t) && (first.IsZero() || p.answered.Before(first)) {
			first = p.answered
		}
	}
	return first
}

// waitFor polls cond until it holds or timeout passes; it reports whether
// cond held.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// hold keeps a fault in place for d: the length of an outage, not a wait
// for something to happen.
func hold(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// waitSettled polls the databases until every order recorded since since
// (all of them for the zero time) is final and has a letter, and returns
// when that first held; ok is false after timeout.
func (sys *system) waitSettled(ctx context.Context, since time.Time, timeout time.Duration) (at time.Time, ok bool, last string) {
	ok = waitFor(ctx, timeout, func() bool {
		n, sample, err := sys.unsettled(ctx, since)
		switch {
		case err != nil:
			last = err.Error()
		case n > 0:
			last = fmt.Sprintf("%d orders unsettled, e.g. %s", n, sample)
		}
		return err == nil && n == 0
	})
	return time.Now(), ok, last
}

// unsettled counts orders recorded since since that are not final or have
// no letter yet.
func (sys *system) unsettled(ctx context.Context, since time.Time) (int, string, error) {
	status, err := orderStatuses(ctx, sys.db["order"], since)
	if err != nil {
		return 0, "", err
	}
	letters, err := countByOrder(ctx, sys.db["notification"], `SELECT order_id::text, count(*) FROM notifications WHERE order_id IS NOT NULL GROUP BY order_id`)
	if err != nil {
		return 0, "", err
	}
	n, sample := 0, ""
	for id, o := range status {
		if (o.status != "paid" && o.status != "rejected" && o.status != "cancelled") || letters[id] == 0 {
			n++
			if sample == "" {
				sample = fmt.Sprintf("order %s %s with %d letters", id, o.status, letters[id])
			}
		}
	}
	return n, sample, nil
}

// retriesSoFar is the clients' retry count.
func (e *evidence) retriesSoFar() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.retries
}

// inFlightAt counts the attempts that were under way at t: answered and
// cut (transport error).
func (e *evidence) inFlightAt(t time.Time) (answered, cut int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.attempts {
		if a.start.Before(t) && a.end.After(t) {
			if a.cut {
				cut++
			} else {
				answered++
			}
		}
	}
	return answered, cut
}

// logOrderErrors fails the scenario for each order that got no final answer.
func logOrderErrors(t *testing.T, orders []*placed) {
	t.Helper()
	shown := 0
	for _, p := range orders {
		if p.err == nil {
			continue
		}
		if shown < 10 {
			t.Errorf("no final answer: %v", p.err)
		}
		shown++
	}
	if shown > 10 {
		t.Errorf("... and %d more orders without a final answer", shown-10)
	}
}
