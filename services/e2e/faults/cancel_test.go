package faults

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Cancellation under faults. A cancellation is recorded in the order row
// before billing is asked for the refund, and the order service's repair
// loop finishes what a call left; these scenarios cut that path at its
// three places (billing, the order service itself, notification) and then
// wait for every cancellation to end as one refund and one letter.

const (
	// cancelsPerScenario paid orders are cancelled by each scenario: enough
	// for the kill of the order service to land among calls in flight,
	// few enough that the three scenarios add well under a minute.
	cancelsPerScenario = 48
	cancelWorkers      = 8
	// cancelSettle bounds the wait for the repair loop: a cancellation
	// left by its call is due after the order service's minimum age
	// (about 11s with the suite's settings), then retried with backoff.
	cancelSettle = 60 * time.Second
)

// cancelled is one cancellation the suite asked for.
type cancelled struct {
	scenario       string
	orderID, user  string
	price          int64
	key            string
	partial        int64  // refunded by a partial refund before the cancellation; 0: none
	status         string // the final answer's status; "" when the call was left unfinished
	err            error  // set when a retrying client got no final answer
	firstCode      int    // single-attempt scenarios: the HTTP status of the one try
	firstBodyShort string
}

// cancelResult is the figures of one cancellation scenario.
type cancelResult struct {
	name                  string
	cancels, unfinished   int
	inWindow              int           // refunded in billing, not yet cancelled in the order row, while order was down
	settled               time.Duration // from the component's return to the last cancellation final with its letter; -1: never
	answeredCancelledDown int           // answered STATUS_CANCELLED while notification was down
}

// cancelFaults are the scenarios; each gets fresh paid orders of the load
// scenarios before it.
func cancelFaults() []struct {
	name string
	run  func(t *testing.T, sys *system, picks []*cancelled) cancelResult
} {
	return []struct {
		name string
		run  func(t *testing.T, sys *system, picks []*cancelled) cancelResult
	}{
		{"cancel with billing down", cancelBillingDown},
		{"SIGKILL order mid-cancel", cancelKillOrder},
		{"cancel with notification down", cancelNotificationDown},
	}
}

// pickPaid takes n paid orders the suite has not cancelled yet, spread over
// the users that have some.
func (sys *system) pickPaid(scenario string, n int) []*cancelled {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	taken := map[string]bool{}
	for _, c := range sys.cancels {
		taken[c.orderID] = true
	}
	var out []*cancelled
	for _, p := range sys.placed {
		if len(out) == n {
			break
		}
		if p.err != nil || p.out.Status != "STATUS_PAID" || taken[p.out.ID] {
			continue
		}
		taken[p.out.ID] = true
		out = append(out, &cancelled{
			scenario: scenario, orderID: p.out.ID, user: p.userID, price: p.price,
			key: fmt.Sprintf("cancel-%s-%s", strings.ReplaceAll(scenario, " ", "-"), p.out.ID),
		})
	}
	sys.cancels = append(sys.cancels, out...)
	return out
}

func (sys *system) userByID(id string) user {
	for _, u := range sys.users {
		if u.id == id {
			return u
		}
	}
	return user{id: id}
}

// cancelPath is the gateway's route of a cancellation.
func cancelPath(c *cancelled) string {
	return "/v1/users/" + c.user + "/orders/" + c.orderID + ":cancel"
}

// cancelOnce sends one attempt of c and no retry: what a client sees while
// a fault lasts.
func (sys *system) cancelOnce(ctx context.Context, c *cancelled) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sys.rest.base+cancelPath(c), strings.NewReader(`{"reason":"fault suite"}`))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", c.key)
	req.Header.Set("Authorization", "Bearer "+sys.userByID(c.user).token)
	resp, err := sys.rest.http.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.firstCode, c.firstBodyShort = resp.StatusCode, string(body[:min(len(body), 300)])
	if resp.StatusCode == http.StatusOK && strings.Contains(string(body), "STATUS_CANCELLED") {
		c.status = "STATUS_CANCELLED"
	}
	return nil
}

// cancelRetrying cancels every pick with the suite's retrying client (the
// same key on every 5xx or transport error until a final answer), on
// cancelWorkers concurrent workers, and returns when every one has its
// final answer or has run out of its deadline.
func (sys *system) cancelRetrying(ctx context.Context, picks []*cancelled) {
	work := make(chan *cancelled)
	var wg sync.WaitGroup
	for range cancelWorkers {
		wg.Go(func() {
			for c := range work {
				var o struct {
					Status string `json:"status"`
				}
				err := sys.rest.call(asUser(ctx, sys.userByID(c.user)), "REST cancel "+c.key, http.MethodPost, cancelPath(c), c.key, map[string]any{"reason": "fault suite"}, &o)
				sys.mu.Lock()
				c.status, c.err = o.Status, err
				sys.mu.Unlock()
				// Pace the workers so the calls spread over seconds, not
				// one burst that ends before a fault can land in it.
				hold(ctx, 30*time.Millisecond)
			}
		})
	}
	for _, c := range picks {
		work <- c
	}
	close(work)
	wg.Wait()
}

// waitCancelled polls the databases until every pick is cancelled in the
// order row and its cancellation letter is stored; last says what was
// still missing.
func (sys *system) waitCancelled(ctx context.Context, picks []*cancelled, timeout time.Duration) (ok bool, last string) {
	ok = waitFor(ctx, timeout, func() bool {
		orders, err := orderStatuses(ctx, sys.db["order"], time.Time{})
		if err != nil {
			last = err.Error()
			return false
		}
		letters, err := countByOrder(ctx, sys.db["notification"], `SELECT order_id::text, count(*) FROM notifications WHERE request_id LIKE 'order/%/cancel-letter' GROUP BY order_id`)
		if err != nil {
			last = err.Error()
			return false
		}
		n, sample := 0, ""
		for _, c := range picks {
			if st := orders[c.orderID].status; st != "cancelled" || letters[c.orderID] == 0 {
				n++
				if sample == "" {
					sample = fmt.Sprintf("order %s %s with %d cancellation letters", c.orderID, st, letters[c.orderID])
				}
			}
		}
		last = fmt.Sprintf("%d of %d cancellations unfinished, e.g. %s", n, len(picks), sample)
		return n == 0
	})
	return ok, last
}

// refundedNotCancelled counts picks whose refund billing has recorded while
// the order row still says paid: the window between the refund and the
// status change.
func (sys *system) refundedNotCancelled(ctx context.Context, picks []*cancelled) (int, error) {
	refunded, err := countByOrder(ctx, sys.db["billing"], `
		SELECT w.order_id::text, count(*) FROM transactions r JOIN transactions w ON w.id = r.refund_of
		WHERE r.kind = 'refund' GROUP BY w.order_id`)
	if err != nil {
		return 0, err
	}
	orders, err := orderStatuses(ctx, sys.db["order"], time.Time{})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range picks {
		if refunded[c.orderID] > 0 && orders[c.orderID].status == "paid" {
			n++
		}
	}
	return n, nil
}

// partialRefunds gives a third of the price of every other pick back with
// the retrying client before the fault, so the cancellation that follows
// refunds the rest: the check then wants the refunds of such an order to
// add up to its price, one each.
func (sys *system) partialRefunds(t *testing.T, picks []*cancelled) {
	ctx := t.Context()
	for i, c := range picks {
		if i%2 == 1 || c.price < 3 {
			continue
		}
		amount := c.price / 3
		var o struct {
			Status   string `json:"status"`
			Refunded string `json:"refunded"`
		}
		key := "partial-" + c.key
		err := sys.rest.call(asUser(ctx, sys.userByID(c.user)), "REST partial refund "+key, http.MethodPost, cancelPath(c), key,
			map[string]any{"amount": amount, "reason": "fault suite, part"}, &o)
		if err != nil || o.Status != "STATUS_PAID" || o.Refunded != fmt.Sprint(amount) {
			t.Errorf("partial refund of %d of order %s: %+v, %v; want PAID with it refunded", amount, c.orderID, o, err)
			continue
		}
		sys.mu.Lock()
		c.partial = amount
		sys.mu.Unlock()
	}
}

// partialsByOrder counts the partial refunds the suite made of each order
// before cancelling it.
func (sys *system) partialsByOrder() map[string]int {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	out := map[string]int{}
	for _, c := range sys.cancels {
		if c.partial > 0 {
			out[c.orderID]++
		}
	}
	return out
}

// cancelBillingDown: half the orders get a partial refund first; then
// billing is killed, every cancellation is recorded in the order's refunds
// but cannot be refunded, so each call answers 503 ORDER_NOT_FINISHED. No
// client retries: billing is started again and the repair loop alone must
// finish every one, giving back exactly the rest of each price.
func cancelBillingDown(t *testing.T, sys *system, picks []*cancelled) cancelResult {
	ctx := t.Context()
	res := cancelResult{name: "cancel with billing down", cancels: len(picks), settled: -1}
	sys.partialRefunds(t, picks)
	if err := sys.stack.Kill("billing"); err != nil {
		t.Fatalf("kill billing: %v", err)
	}
	// One attempt each, cancelWorkers at a time: no client retries.
	errs := make([]error, len(picks))
	var wg sync.WaitGroup
	sem := make(chan struct{}, cancelWorkers)
	for i, c := range picks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = sys.cancelOnce(ctx, c)
		})
	}
	wg.Wait()
	for i, c := range picks {
		if errs[i] != nil {
			t.Errorf("cancel %s while billing is down: %v", c.orderID, errs[i])
			continue
		}
		if c.firstCode != http.StatusServiceUnavailable || !strings.Contains(c.firstBodyShort, "ORDER_NOT_FINISHED") {
			t.Errorf("cancel %s while billing is down answered %d %s, want 503 ORDER_NOT_FINISHED", c.orderID, c.firstCode, c.firstBodyShort)
			continue
		}
		res.unfinished++
	}
	back := time.Now()
	if err := sys.stack.Start(ctx, "billing"); err != nil {
		t.Fatalf("start billing: %v", err)
	}
	if ok, last := sys.waitCancelled(ctx, picks, cancelSettle); ok {
		res.settled = time.Since(back)
	} else {
		t.Errorf("cancellations left while billing was down not finished %v after it came back: %s", cancelSettle, last)
	}
	return res
}

// cancelKillOrder: the order service is SIGKILLed after billing refunded
// an order and before the order row says cancelled. That window is one
// SQL statement long, too short to hit by timing a kill, so the suite
// holds it open: in a transaction of its own it inserts, uncommitted, the
// outbox row under the cancellation letter's key of every other pick. The
// service's cancellation asks billing first and only then records the
// status together with that letter in one statement, which waits on the
// suite's uncommitted row; the refund is in billing, the row still says
// paid. With calls held there and others going through, order is killed,
// the statements it left waiting are ended as the dead process's would be
// (pg_terminate_backend: not committed), the suite's rows are rolled
// back, and order is started again. The clients keep retrying with their
// keys; a retry or the repair loop must finish each cancellation without
// a second refund.
func cancelKillOrder(t *testing.T, sys *system, picks []*cancelled) cancelResult {
	ctx := t.Context()
	res := cancelResult{name: "SIGKILL order mid-cancel", cancels: len(picks), settled: -1}
	var held []string
	for i, c := range picks {
		if i%2 == 1 {
			held = append(held, c.orderID)
		}
	}
	tx, err := sys.db["order"].BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("begin the holding transaction: %v", err)
	}
	defer tx.Rollback()
	var holder int
	if err := tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&holder); err != nil {
		t.Fatalf("holding transaction: %v", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO order_letters (order_id, user_id, request_id, email, subject, body)
		SELECT id, user_id, 'order/' || id || '/cancel-letter', email, 'held by the fault suite', 'held'
		FROM orders WHERE id::text = ANY (string_to_array($1, ','))`, strings.Join(held, ",")); err != nil {
		t.Fatalf("hold the cancellation letters: %v", err)
	}
	waiting := func() int {
		var n int
		if err := sys.db["order"].QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))`, holder).Scan(&n); err != nil {
			return 0
		}
		return n
	}
	var done sync.WaitGroup
	done.Go(func() { sys.cancelRetrying(ctx, picks) })
	if !waitFor(ctx, 30*time.Second, func() bool { return waiting() >= cancelWorkers/2 }) {
		t.Errorf("fewer than %d cancellations waiting to record their refund after 30s", cancelWorkers/2)
	}
	if err := sys.stack.Kill("order"); err != nil {
		t.Fatalf("kill order: %v", err)
	}
	if _, err := sys.db["order"].ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))`, holder); err != nil {
		t.Errorf("end the statements the killed order service left: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Errorf("roll the held letters back: %v", err)
	}
	if res.inWindow, err = sys.refundedNotCancelled(ctx, picks); err != nil {
		t.Errorf("count refunds without cancellation: %v", err)
	}
	if res.inWindow == 0 {
		t.Errorf("no order refunded and still paid when order was killed: the scenario missed its window")
	}
	back := time.Now()
	if err := sys.stack.Start(ctx, "order"); err != nil {
		t.Fatalf("start order: %v", err)
	}
	done.Wait()
	for _, c := range picks {
		switch {
		case c.err != nil:
			t.Errorf("cancel %s: no final answer: %v", c.orderID, c.err)
		case c.status != "STATUS_CANCELLED":
			t.Errorf("cancel %s answered %s, want STATUS_CANCELLED", c.orderID, c.status)
		}
	}
	if ok, last := sys.waitCancelled(ctx, picks, cancelSettle); ok {
		res.settled = time.Since(back)
	} else {
		t.Errorf("cancellations cut by the kill not finished %v after order came back: %s", cancelSettle, last)
	}
	return res
}

// cancelNotificationDown: notification is stopped; a cancellation must
// still answer STATUS_CANCELLED at once, its letter waiting in the
// outbox, and every letter must arrive once notification is back.
func cancelNotificationDown(t *testing.T, sys *system, picks []*cancelled) cancelResult {
	ctx := t.Context()
	res := cancelResult{name: "cancel with notification down", cancels: len(picks), settled: -1}
	termErr := sys.stack.Terminate("notification", terminateGrace)
	if sys.stack.Running("notification") {
		t.Fatalf("stop notification: %v", termErr)
	}
	sys.cancelRetrying(ctx, picks)
	for _, c := range picks {
		switch {
		case c.err != nil:
			t.Errorf("cancel %s while notification is down: %v", c.orderID, c.err)
		case c.status != "STATUS_CANCELLED":
			t.Errorf("cancel %s while notification is down answered %s, want STATUS_CANCELLED", c.orderID, c.status)
		default:
			res.answeredCancelledDown++
		}
	}
	back := time.Now()
	if err := sys.stack.Start(ctx, "notification"); err != nil {
		t.Fatalf("start notification: %v", err)
	}
	if ok, last := sys.waitCancelled(ctx, picks, cancelSettle); ok {
		res.settled = time.Since(back)
	} else {
		t.Errorf("cancellation letters not all delivered %v after notification came back: %s", cancelSettle, last)
	}
	return res
}

// runCancel runs one cancellation scenario on fresh paid orders.
func (sys *system) runCancel(t *testing.T, name string, run func(*testing.T, *system, []*cancelled) cancelResult) cancelResult {
	sys.ensureRunning(t)
	picks := sys.pickPaid(name, cancelsPerScenario)
	if len(picks) < cancelsPerScenario {
		t.Fatalf("only %d paid orders left to cancel, want %d", len(picks), cancelsPerScenario)
	}
	return run(t, sys, picks)
}
