package retry_test

import (
	"context"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/retry"
)

func TestDelay_DoublesUpToMax(t *testing.T) {
	p := retry.Policy{Base: time.Second, Max: 10 * time.Second, MaxAttempts: 50}
	tests := []struct {
		attempts int
		want     time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second},
		{5, 10 * time.Second}, {40, 10 * time.Second},
	}
	for _, tt := range tests {
		if got := p.Delay(tt.attempts); got != tt.want {
			t.Errorf("Delay(%d) = %s, want %s", tt.attempts, got, tt.want)
		}
	}
}

func TestAfter_JitterStaysWithinHalfAndFullDelay(t *testing.T) {
	p := retry.Policy{Base: time.Second, Max: time.Minute, MaxAttempts: 10}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	seen := map[time.Duration]bool{}
	for range 200 {
		next, park := p.After(now, 3)
		if park {
			t.Fatal("parked after 3 of 10 attempts")
		}
		d := next.Sub(now)
		if d < 2*time.Second || d > 4*time.Second {
			t.Fatalf("delay after 3 failures = %s, want within [2s, 4s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("200 draws gave only %d distinct delays: no jitter", len(seen))
	}
}

func TestAfter_ParksAtMaxAttempts(t *testing.T) {
	p := retry.Policy{Base: time.Second, Max: time.Minute, MaxAttempts: 3}
	if _, park := p.After(time.Now(), 2); park {
		t.Error("parked after 2 of 3 attempts")
	}
	if next, park := p.After(time.Now(), 3); !park || !next.IsZero() {
		t.Errorf("After(3 of 3) = %v, %v; want parked with no next time", next, park)
	}
}

func TestValidate(t *testing.T) {
	if err := retry.Default.Validate(); err != nil {
		t.Errorf("Default: %v", err)
	}
	for _, p := range []retry.Policy{
		{Base: 0, Max: time.Second, MaxAttempts: 1},
		{Base: time.Second, Max: time.Millisecond, MaxAttempts: 1},
		{Base: time.Second, Max: time.Second, MaxAttempts: 0},
	} {
		if p.Validate() == nil {
			t.Errorf("Validate(%+v) accepted", p)
		}
	}
}

func TestEvery_RunsPassesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	passes := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		retry.Every(ctx, time.Millisecond, func(context.Context) { passes <- struct{}{} })
	}()
	for range 3 {
		select {
		case <-passes:
		case <-time.After(10 * time.Second):
			t.Fatal("no pass within 10s at a 1ms interval")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Every did not return after its context was cancelled")
	}
}
