package password

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// Every hash and verification holds memoryKiB (19 MiB) of working memory
// while it runs, and it is pure CPU. Two bounds follow.
//
// At most one hash per core runs at once: more would not finish sooner,
// and a burst of logins would otherwise hold 19 MiB each (a hundred
// logins at once, close to 2 GiB). Callers wait their turn; the service's
// admission control bounds how many wait.
//
// After a burst the runtime keeps the freed blocks mapped until a later
// collection, which an idle service does not run for minutes, so a user
// service that served a few logins sat at several times its usual
// resident memory. Once no hash has run for quiet, the memory is handed
// back to the operating system at once (one collection of a small heap,
// at most once per burst).
var (
	slots = make(chan struct{}, runtime.GOMAXPROCS(0))
	quiet = time.Second

	mu       sync.Mutex
	inFlight int
	peak     int // the most hashes seen running at once, for tests
	idle     *time.Timer
)

// withMemory runs f, a hash computation, in one of the slots.
func withMemory[T any](f func() T) T {
	slots <- struct{}{}
	mu.Lock()
	inFlight++
	peak = max(peak, inFlight)
	mu.Unlock()
	defer func() {
		<-slots
		mu.Lock()
		defer mu.Unlock()
		inFlight--
		if inFlight > 0 {
			return
		}
		if idle == nil {
			idle = time.AfterFunc(quiet, giveBack)
		} else {
			idle.Reset(quiet)
		}
	}()
	return f()
}

// giveBack returns the hashes' memory to the operating system unless a
// hash started meanwhile (its end arms the timer again).
func giveBack() {
	mu.Lock()
	busy := inFlight > 0
	mu.Unlock()
	if !busy {
		debug.FreeOSMemory()
	}
}
