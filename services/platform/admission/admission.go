// Package admission bounds the work a kassa process takes on at once.
// A Limiter admits up to MaxInFlight calls; a few more may wait a short,
// bounded time for a slot; everything beyond that is refused at once,
// unstarted, with an apperr.KindOverloaded error (RESOURCE_EXHAUSTED,
// HTTP 429 with Retry-After). Under overload a queue only adds waiting to
// every answer: shedding the excess early keeps the admitted calls fast
// and tells the rest to come back, in microseconds instead of at their
// deadline.
//
// The limit is fixed, not adaptive: every kassa service's concurrency is
// already bounded by its database pool, and a limit a little above that
// pool plus a short queue is predictable, cheap and easy to reason about.
// An adaptive limit (Netflix's gradient or Vegas algorithms) would find
// the knee by itself but needs latency samples and tuning of its own.
//
// Waiting is first come, first served while the queue has room, so a
// burst that fits is served in arrival order and nobody is refused. Once
// the queue is full, more arrive than are served: slots go to the newest
// waiter until the queue empties, and a call that finds it full pushes
// out the oldest waiter (see Limiter.Acquire); meanwhile a waiter that
// has waited half of MaxWait is refused then, not at MaxWait. The
// limiter is deadline-aware: it keeps an average of how long an admitted
// call holds its slot. A queue of more than MaxInFlight calls whose last
// would by that estimate wait longer than MaxWait counts as full, and a
// call that would wait longer than MaxWait or than its own deadline
// allows even when served next is refused at once, instead of waiting
// only to be shed or time out.
package admission

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kassa-dev/kassa/services/platform/apperr"
)

// Config sizes a Limiter. The zero value turns it off.
type Config struct {
	// MaxInFlight bounds the calls served at once; 0 admits everything.
	MaxInFlight int
	// MaxQueue bounds the calls waiting for a slot; a call that finds the
	// queue full is refused at once. 0: none wait.
	MaxQueue int
	// MaxWait is the longest a call waits for a slot.
	MaxWait time.Duration
	// RetryAfter is the hint a refusal carries; 0 means DefaultRetryAfter.
	RetryAfter time.Duration
	// What names what is limited, in the refusal's message ("the order
	// service", "this buyer's orders").
	What string
}

// DefaultRetryAfter is the hint of a refusal when Config.RetryAfter is 0:
// the gateway rounds hints up to whole seconds anyway.
const DefaultRetryAfter = time.Second

// Validate reports a setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.MaxInFlight < 0:
		return fmt.Errorf("max in flight: want 0 (off) or more, got %d", c.MaxInFlight)
	case c.MaxQueue < 0:
		return fmt.Errorf("max queue: want 0 or more, got %d", c.MaxQueue)
	case c.MaxWait < 0:
		return fmt.Errorf("max wait: want 0 or more, got %v", c.MaxWait)
	case c.RetryAfter < 0:
		return fmt.Errorf("retry after: want 0 or more, got %v", c.RetryAfter)
	}
	return nil
}

// Cause says why a call was shed; it is the reason label of the metrics.
type Cause string

const (
	// CauseQueueFull: every slot was taken and the queue was full.
	CauseQueueFull Cause = "queue_full"
	// CauseWait: the call waited MaxWait without getting a slot, or would
	// have by the estimate.
	CauseWait Cause = "wait"
	// CauseDeadline: the call's own deadline ends before the expected
	// wait does.
	CauseDeadline Cause = "deadline"
)

// Shed is the error of a refused call. It unwraps to an *apperr.Error of
// KindOverloaded, so the platform's mapping answers it.
type Shed struct {
	Cause Cause
	err   *apperr.Error
}

func (s *Shed) Error() string { return s.err.Error() }

// Unwrap returns the classified error.
func (s *Shed) Unwrap() error { return s.err }

// CauseOf returns the cause of a Shed in err's chain, or "".
func CauseOf(err error) Cause {
	var s *Shed
	if errors.As(err, &s) {
		return s.Cause
	}
	return ""
}

// Limiter is bounded concurrency with a short bounded queue. A nil
// *Limiter admits everything.
type Limiter struct {
	cfg Config
	mu  sync.Mutex
	// slots is the number of calls admitted and not released.
	slots int
	// queue holds the waiting calls, oldest at the front.
	queue list.List
	// newestFirst is set when the queue fills up, and cleared when it
	// empties: see Acquire.
	newestFirst bool
	inFlight    atomic.Int64
	waiting     atomic.Int64
	// hold is the moving average of how long an admitted call held its
	// slot, in nanoseconds: the base of the wait estimate.
	hold atomic.Int64
}

// waiter is a queued call. Whoever takes it off the queue (a release
// handing it a slot, a newer call pushing it out, its own timeout) sets
// elem to nil under the limiter's lock, so exactly one of them decides
// its outcome; the first two send it on ready.
type waiter struct {
	elem   *list.Element
	ready  chan error // nil: admitted; else the refusal
	queued time.Time
}

// New returns a limiter of cfg, or nil when cfg.MaxInFlight is 0.
func New(cfg Config) *Limiter {
	if cfg.MaxInFlight <= 0 {
		return nil
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.What == "" {
		cfg.What = "the service"
	}
	return &Limiter{cfg: cfg}
}

// InFlight is the number of calls admitted and not yet released.
func (l *Limiter) InFlight() int64 {
	if l == nil {
		return 0
	}
	return l.inFlight.Load()
}

// Waiting is the number of calls waiting for a slot.
func (l *Limiter) Waiting() int64 {
	if l == nil {
		return 0
	}
	return l.waiting.Load()
}

// Acquire admits the call of ctx, or refuses it with a *Shed. On
// admission the caller must call release exactly once when the call is
// done. A ctx that ends while the call waits returns ctx's error.
//
// Waiting is first come, first served while the queue has room: a burst
// that fits waits its turn and nobody is refused. A full queue (MaxQueue
// calls, or more than MaxInFlight and more than MaxWait covers by the
// expected wait) means more arrive than are served: from then until the
// queue empties again, freed slots go to the newest waiter, and a call
// that finds the queue full pushes out the oldest, which is refused.
// Under overload the admitted calls are then the ones that have hardly
// waited, rather than every one having waited through the whole queue,
// and the refusals are those that would have waited longest (adaptive
// LIFO, as in Facebook's "Fail at Scale"). While the queue is newest
// first, a waiter that has waited half of MaxWait is refused at the
// next arrival or release (see expire).
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	l.mu.Lock()
	if l.slots < l.cfg.MaxInFlight && l.queue.Len() == 0 {
		l.slots++
		l.mu.Unlock()
		return l.admitted(), nil
	}
	if l.cfg.MaxQueue == 0 {
		l.mu.Unlock()
		return nil, l.shed(CauseQueueFull, "%d calls in flight and no queue", l.cfg.MaxInFlight)
	}
	now := time.Now()
	expired := l.expire(now)
	// The expected wait: the calls ahead, served MaxInFlight at a time,
	// each holding its slot for the average hold. Newest first (or about
	// to be, the queue being full), a call is the next one served.
	hold, slots := l.hold.Load(), int64(l.cfg.MaxInFlight)
	wait := l.cfg.MaxWait
	full := l.queue.Len() >= l.cfg.MaxQueue
	// A queue longer than a round of slots whose last call would wait
	// longer than MaxWait is full too, by time rather than by count: more
	// arrive than are served. Refusing the newcomer instead would keep
	// that queue standing, and every call admitted from it would have
	// waited about MaxWait. Up to a round waiting is a burst that clears
	// in about one hold (a client keeping twice the slots outstanding):
	// turning that newest first would only starve its oldest call.
	overflow := !l.newestFirst && !full && int64(l.queue.Len()) >= slots &&
		time.Duration(hold*int64(l.queue.Len()+1)/slots) > wait
	pos := int64(l.queue.Len() + 1)
	if l.newestFirst || full || overflow {
		pos = 1
	}
	expect := time.Duration(hold * pos / slots)
	var refuse error
	if expect > wait {
		refuse = l.shed(CauseWait, "the expected wait of %v is longer than %v", expect.Round(time.Microsecond), wait)
	} else if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= expect {
			refuse = l.shed(CauseDeadline, "the call's deadline (%v left) ends before the expected wait of %v", left.Round(time.Microsecond), expect.Round(time.Microsecond))
		}
		wait = min(wait, left)
	}
	// Only a call that will wait pushes out the oldest waiter: one refused
	// anyway leaves the queue as it was.
	var w, pushed *waiter
	if refuse == nil {
		if full {
			pushed = l.dequeue(l.queue.Front())
		}
		w = &waiter{ready: make(chan error, 1), queued: now}
		w.elem = l.queue.PushBack(w)
		l.waiting.Add(1)
		if overflow || l.queue.Len() >= l.cfg.MaxQueue {
			l.newestFirst = true
		}
	}
	l.mu.Unlock()
	l.refuse(expired)
	if pushed != nil {
		pushed.ready <- l.shed(CauseQueueFull, "%d calls in flight and %d waiting; the oldest waiter gives way", l.cfg.MaxInFlight, l.cfg.MaxQueue)
	}
	if refuse != nil {
		return nil, refuse
	}

	timer := time.NewTimer(wait)
	defer timer.Stop()
	var gaveUp error
	select {
	case err := <-w.ready:
		if err != nil {
			return nil, err
		}
		return l.admitted(), nil
	case <-ctx.Done():
		gaveUp = ctx.Err()
	case <-timer.C:
		gaveUp = l.shed(CauseWait, "no slot free within %v", wait)
	}
	l.mu.Lock()
	queued := w.elem != nil
	if queued {
		l.dequeue(w.elem)
	}
	l.mu.Unlock()
	if queued {
		return nil, gaveUp
	}
	// A slot or a refusal was sent as the call gave up.
	if err := <-w.ready; err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		l.pass() // the call is gone: the slot goes on
		return nil, ctx.Err()
	}
	return l.admitted(), nil
}

// dequeue takes e's waiter off the queue; the caller holds l.mu.
func (l *Limiter) dequeue(e *list.Element) *waiter {
	w := l.queue.Remove(e).(*waiter)
	w.elem = nil
	l.waiting.Add(-1)
	if l.queue.Len() == 0 {
		l.newestFirst = false
	}
	return w
}

// admitted counts a call that holds a slot (l.slots already counts it)
// and returns its release.
func (l *Limiter) admitted() func() {
	l.inFlight.Add(1)
	start := time.Now()
	var once atomic.Bool
	return func() {
		if !once.CompareAndSwap(false, true) {
			return
		}
		// An exponential moving average over about the last eight calls:
		// quick to follow a slowdown, and lossy under races, which only
		// blurs an estimate.
		d := int64(time.Since(start))
		old := l.hold.Load()
		l.hold.Store(old + (d-old)/8)
		l.inFlight.Add(-1)
		l.pass()
	}
}

// pass gives a freed slot to the next waiter, or frees it. The slot goes
// to the waiter without being freed first, so that no call arriving
// meanwhile can take it ahead of the queue.
func (l *Limiter) pass() {
	l.mu.Lock()
	expired := l.expire(time.Now())
	if l.queue.Len() == 0 {
		l.slots--
		l.mu.Unlock()
		l.refuse(expired)
		return
	}
	e := l.queue.Front()
	if l.newestFirst {
		e = l.queue.Back()
	}
	w := l.dequeue(e)
	l.mu.Unlock()
	w.ready <- nil
	l.refuse(expired)
}

// expire takes off a newest-first queue the waiters that have waited half
// of MaxWait or longer, all but the newest; the caller holds l.mu
// and refuses them after unlocking it. While the queue is newest first
// more arrive than are served, and the oldest waiter is the last in line
// for as long as that lasts: waiting out the rest of MaxWait would most
// likely end in the same refusal, later, after the client could have
// retried elsewhere. So under overload a refusal comes within about half
// the bound (a shop's target for refusals is then the bound itself), and
// a burst, served first come, first served, still waits the whole bound.
// The newest waiter stays: it is the next one served, nobody has been
// served ahead of it, and refusing it could leave a freed slot unused.
func (l *Limiter) expire(now time.Time) []*waiter {
	var out []*waiter
	for l.newestFirst {
		e := l.queue.Front()
		if e == nil || e == l.queue.Back() || now.Sub(e.Value.(*waiter).queued) < l.cfg.MaxWait/2 {
			break
		}
		out = append(out, l.dequeue(e))
	}
	return out
}

// refuse answers the waiters expire took off the queue.
func (l *Limiter) refuse(expired []*waiter) {
	for _, w := range expired {
		w.ready <- l.shed(CauseWait, "waited %v while newer calls went first", l.cfg.MaxWait/2)
	}
}

func (l *Limiter) shed(cause Cause, format string, args ...any) error {
	e := apperr.Overloaded(l.cfg.RetryAfter, "%s: overloaded (%s); retry after %v",
		l.cfg.What, fmt.Sprintf(format, args...), l.cfg.RetryAfter)
	return &Shed{Cause: cause, err: e}
}
