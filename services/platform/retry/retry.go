// Package retry is the schedule of kassa's background work that failed and
// will be tried again: the repair loops (orders not settled, accounts not
// opened) and the letter relay. A failed item is kept in its table with an
// attempt count and the time of its next attempt; Policy turns the count
// into that time, with exponential backoff and jitter, and says when to
// stop trying and park the item for a person to look at.
//
// The schedule lives with the item, not in the loop, so a pass that meets
// an item that can never finish pushes it back and goes on with the next
// one: however many such items there are, newer work is never starved.
package retry

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Policy is a retry schedule. The zero value is not usable; use Default or
// fill every field.
type Policy struct {
	// Base is the delay after the first failure; each further failure
	// doubles it, up to Max.
	Base time.Duration
	Max  time.Duration
	// MaxAttempts is the number of failed attempts after which an item is
	// parked: no more automatic attempts, counted and alerted on.
	MaxAttempts int
}

// Default is the schedule of the repair loops and the relay: 1 s, 2 s, 4 s,
// ... capped at 5 minutes, parked after 20 failed attempts (about an hour
// and a quarter of trying).
var Default = Policy{Base: time.Second, Max: 5 * time.Minute, MaxAttempts: 20}

// Validate reports a policy that cannot schedule anything.
func (p Policy) Validate() error {
	switch {
	case p.Base <= 0:
		return fmt.Errorf("retry base delay must be positive, got %s", p.Base)
	case p.Max < p.Base:
		return fmt.Errorf("retry max delay %s is below the base delay %s", p.Max, p.Base)
	case p.MaxAttempts < 1:
		return fmt.Errorf("retry max attempts must be at least 1, got %d", p.MaxAttempts)
	}
	return nil
}

// Delay is the wait before the next attempt of an item that has now failed
// attempts times (attempts >= 1), without jitter.
func (p Policy) Delay(attempts int) time.Duration {
	d := p.Base
	for i := 1; i < attempts && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// After decides what happens to an item that has now failed attempts times:
// park is true once attempts reaches MaxAttempts; otherwise next is when to
// try again. The delay is drawn uniformly from [Delay/2, Delay] ("equal
// jitter"), so items that failed together, say during one outage, do not
// come back together.
func (p Policy) After(now time.Time, attempts int) (next time.Time, park bool) {
	if attempts >= p.MaxAttempts {
		return time.Time{}, true
	}
	d := p.Delay(attempts)
	half := d / 2
	jittered := half + time.Duration(rand.Int64N(int64(d-half)+1))
	return now.Add(jittered), false
}
