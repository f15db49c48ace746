package password

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// hashAtOnce hashes n passwords from n goroutines.
func hashAtOnce(t *testing.T, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			if _, err := Hash("a long enough password"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Eight logins at once with two slots: never more than two hashes hold
// their memory at the same time, and both slots are used.
func TestHash_AtMostOnePerSlotAtOnce(t *testing.T) {
	saved := slots
	slots = make(chan struct{}, 2)
	t.Cleanup(func() { slots = saved })
	mu.Lock()
	peak = 0
	mu.Unlock()
	hashAtOnce(t, 8)
	mu.Lock()
	defer mu.Unlock()
	if peak != 2 {
		t.Fatalf("at most %d hashes ran at once; want 2 (the slots)", peak)
	}
}

// After a burst, the memory the hashes used goes back to the operating
// system once no hash has run for the quiet time, without waiting for
// the runtime's own next collection.
func TestHash_MemoryHandedBackAfterABurst(t *testing.T) {
	saved := quiet
	quiet = 50 * time.Millisecond
	t.Cleanup(func() { quiet = saved })
	hashAtOnce(t, 4)
	// Held but unused heap memory: what a resident-set reading counts.
	retained := func() uint64 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapIdle - m.HeapReleased
	}
	const limit = 8 << 20 // less than one hash's 19 MiB
	deadline := time.Now().Add(5 * time.Second)
	for retained() >= limit {
		if time.Now().After(deadline) {
			t.Fatalf("%d MiB of heap still held 5 s after the burst; want < %d MiB", retained()>>20, limit>>20)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}
