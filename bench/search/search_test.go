package search

import (
	"context"
	"errors"
	"testing"
	"time"
)

// server models a system with a capacity: below it, the p99 grows as the
// utilisation approaches 1 (like a queue); at or above it, the backlog
// grows without bound.
func server(capacity float64, base time.Duration) Measure {
	return func(_ context.Context, rate float64) (Measurement, error) {
		if rate >= capacity {
			return Measurement{Achieved: capacity, P99: 5 * time.Second, Unsent: int64(rate - capacity)}, nil
		}
		u := rate / capacity
		return Measurement{Achieved: rate, P99: time.Duration(float64(base) / (1 - u))}, nil
	}
}

var cfg = Config{Start: 50, Factor: 1.5, MaxSteps: 16, Refine: 3, P99Limit: 100 * time.Millisecond, MinKeepUp: 0.95, MinRate: 1}

func TestRunFindsThePeakBelowCapacity(t *testing.T) {
	for _, capacity := range []float64{120, 400, 1000, 2500} {
		res, err := Run(context.Background(), cfg, server(capacity, 5*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		// With 5 ms at rest and a 100 ms bound, the p99 stays bounded up to
		// 95% of capacity; the search must end within the bisection's
		// resolution of that (Factor 1.5 halved 3 times ≈ 6%).
		limit := 0.95 * capacity
		if res.Best == nil || res.Peak() > limit || res.Peak() < 0.85*limit {
			t.Errorf("capacity %.0f: peak %.0f, want within 15%% below %.0f (steps %+v)", capacity, res.Peak(), limit, res.Steps)
		}
		if len(res.Steps) > cfg.MaxSteps {
			t.Errorf("capacity %.0f: %d steps, limit %d", capacity, len(res.Steps), cfg.MaxSteps)
		}
		for _, s := range res.Steps {
			if s.Good && s.Rate >= limit {
				t.Errorf("capacity %.0f: step %+v judged good above the latency bound", capacity, s)
			}
			if !s.Good && s.Why == "" {
				t.Errorf("failed step %+v has no reason", s)
			}
		}
	}
}

func TestRunStepsDownWhenTheStartIsTooHigh(t *testing.T) {
	c := cfg
	c.Start = 1000
	res, err := Run(context.Background(), c, server(100, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps[0].Good {
		t.Fatalf("first step at 10x capacity judged good: %+v", res.Steps[0])
	}
	if res.Best == nil || res.Peak() > 95 || res.Peak() < 70 {
		t.Errorf("peak %.0f, want a bit below 95 (steps %+v)", res.Peak(), res.Steps)
	}
}

func TestRunJudgesErrorsAndKeepUp(t *testing.T) {
	for _, c := range []struct {
		name string
		m    Measurement
		good bool
	}{
		{"clean", Measurement{Achieved: 100, P99: 10 * time.Millisecond}, true},
		{"one error", Measurement{Achieved: 100, P99: 10 * time.Millisecond, Errors: 1}, false},
		{"unsent", Measurement{Achieved: 100, P99: 10 * time.Millisecond, Unsent: 3}, false},
		{"slow", Measurement{Achieved: 100, P99: 150 * time.Millisecond}, false},
		{"falls behind", Measurement{Achieved: 90, P99: 10 * time.Millisecond}, false},
		{"within 5%", Measurement{Achieved: 96, P99: 10 * time.Millisecond}, true},
	} {
		good, why := cfg.Judge(100, c.m)
		if good != c.good || (good == (why != "")) {
			t.Errorf("%s: Judge = %v %q, want good=%v with a reason iff bad", c.name, good, why, c.good)
		}
	}

	// A system that errs above 300/s, even with low latency, peaks below it.
	erring := func(ctx context.Context, rate float64) (Measurement, error) {
		m, _ := server(10000, time.Millisecond)(ctx, rate)
		if rate > 300 {
			m.Errors = 1
		}
		return m, nil
	}
	res, err := Run(context.Background(), cfg, erring)
	if err != nil {
		t.Fatal(err)
	}
	if res.Peak() > 300 || res.Peak() < 250 {
		t.Errorf("peak %.0f with errors above 300/s, want 250..300", res.Peak())
	}
}

func TestRunNothingGood(t *testing.T) {
	broken := func(context.Context, float64) (Measurement, error) {
		return Measurement{Errors: 5}, nil
	}
	res, err := Run(context.Background(), cfg, broken)
	if err != nil {
		t.Fatal(err)
	}
	if res.Best != nil || res.Peak() != 0 {
		t.Errorf("a system that always errs got peak %.0f", res.Peak())
	}
	// 50 → 22 → 10 → 4.4 → 2 → 0.9 (below MinRate 1): the search gives up.
	if len(res.Steps) != 5 {
		t.Errorf("%d steps down before giving up, want 5: %+v", len(res.Steps), res.Steps)
	}
}

func TestRunStopsAtMaxStepsAndOnErrors(t *testing.T) {
	c := cfg
	c.MaxSteps = 3
	res, err := Run(context.Background(), c, server(1e9, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 3 || res.Steps[2].Rate != 50*1.5*1.5 {
		t.Errorf("steps %+v, want 3 steps up to 112.5/s", res.Steps)
	}

	boom := errors.New("stack died")
	calls := 0
	res, err = Run(context.Background(), cfg, func(ctx context.Context, rate float64) (Measurement, error) {
		if calls++; calls == 3 {
			return Measurement{}, boom
		}
		return server(1e9, time.Millisecond)(ctx, rate)
	})
	if !errors.Is(err, boom) || len(res.Steps) != 2 || res.Best == nil || res.Best.Rate != 75 {
		t.Errorf("after a measurement error: err %v, steps %+v, best %+v", err, res.Steps, res.Best)
	}

	if _, err := Run(context.Background(), Config{Start: 10, Factor: 1}, server(1, 0)); err == nil {
		t.Error("factor 1 must be refused (the search would not move)")
	}
}

func TestRunConfirmsFailuresOnANoisyMachine(t *testing.T) {
	// The system sustains 380/s, but a neighbour's burst fails the first
	// measurement of 168.75/s. Without confirmation the search stops
	// there; with one confirmation it goes on to the real peak.
	noisy := func() Measure {
		burst := true
		return func(ctx context.Context, rate float64) (Measurement, error) {
			m, _ := server(400, 5*time.Millisecond)(ctx, rate)
			if rate > 160 && rate < 170 && burst {
				burst = false
				m.P99 = time.Second
			}
			return m, nil
		}
	}
	c := cfg
	plain, err := Run(context.Background(), c, noisy())
	if err != nil {
		t.Fatal(err)
	}
	c.Confirm = 1
	confirmed, err := Run(context.Background(), c, noisy())
	if err != nil {
		t.Fatal(err)
	}
	if plain.Peak() > 170 {
		t.Fatalf("without confirmation the burst should have ended the search early, peak %.0f", plain.Peak())
	}
	if confirmed.Peak() < 300 {
		t.Errorf("with confirmation, peak %.0f, want the system's ~380 (steps %+v)", confirmed.Peak(), confirmed.Steps)
	}
	// A real failure is measured 1 + Confirm times and still fails.
	failures := map[float64]int{}
	for _, s := range confirmed.Steps {
		if !s.Good {
			failures[s.Rate]++
		}
	}
	for rate, n := range failures {
		if rate > 380 && n != 2 {
			t.Errorf("rate %.0f failed %d times, want 2 (measured, then confirmed)", rate, n)
		}
	}
}
