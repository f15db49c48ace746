package load

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"time"
)

func near(got, want, tolerance float64) bool { return math.Abs(got-want) <= tolerance*want }

func TestSummarizePercentiles(t *testing.T) {
	h := NewHistogram()
	// 1 ms, 2 ms, ..., 1000 ms once each: the k-th percentile is k*10 ms.
	for ms := 1; ms <= 1000; ms++ {
		Record(h, time.Duration(ms)*time.Millisecond)
	}
	s := Summarize(h)
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"p50", s.P50, 500}, {"p90", s.P90, 900}, {"p99", s.P99, 990},
		{"p99.9", s.P999, 999}, {"max", s.Max, 1000}, {"mean", s.Mean, 500.5},
	} {
		// Three significant digits: within 0.1% (plus one bucket).
		if !near(c.got, c.want, 0.002) {
			t.Errorf("%s = %.3f ms, want %.0f ms", c.name, c.got, c.want)
		}
	}
	if s.Count != 1000 {
		t.Errorf("count = %d, want 1000", s.Count)
	}
	if s.P99Duration() < 985*time.Millisecond || s.P99Duration() > 995*time.Millisecond {
		t.Errorf("P99Duration = %v", s.P99Duration())
	}
}

func TestSummarizeTailAndClamping(t *testing.T) {
	h := NewHistogram()
	for range 999 {
		Record(h, 2*time.Millisecond)
	}
	Record(h, 5*time.Minute) // beyond the range: clamped, not dropped
	Record(h, 0)             // below: clamped to 1 µs
	s := Summarize(h)
	if s.Count != 1001 {
		t.Fatalf("count = %d, want 1001 (out-of-range values are clamped, not lost)", s.Count)
	}
	if !near(s.P50, 2, 0.002) || !near(s.P99, 2, 0.002) {
		t.Errorf("p50 = %.3f, p99 = %.3f, want 2 ms", s.P50, s.P99)
	}
	if s.Max < 119_000 {
		t.Errorf("max = %.0f ms, want the 2-minute ceiling", s.Max)
	}
	if (Summarize(NewHistogram()) != Summary{}) {
		t.Error("an empty histogram must summarise to zeros")
	}
}

// A stall of one request must be charged to the requests scheduled during
// it: with one client, every request due while it hangs starts late.
func TestRunChargesStallsToQueuedRequests(t *testing.T) {
	const rate = 200.0
	cfg := Config{Rate: rate, Duration: time.Second, Clients: 1, Grace: time.Second}
	res := Run(context.Background(), cfg, func(_ context.Context, i int64) Outcome {
		if i == 50 {
			time.Sleep(300 * time.Millisecond) // the stall under test, not synchronisation
		}
		return Outcome{Label: "order"}
	}, nil)
	s := res.Labels["order"].Latency
	// About 60 of the 200 requests are due during the stall; a closed-loop
	// measurement would report them all as fast.
	if s.P90 < 50 {
		t.Errorf("p90 = %.1f ms: requests queued behind the stall were not charged the wait", s.P90)
	}
	if s.Max < 290 {
		t.Errorf("max = %.1f ms, want the 300 ms stall", s.Max)
	}
	if s.P50 > 50 {
		t.Errorf("p50 = %.1f ms: most requests were not queued and should be fast", s.P50)
	}
	if res.Sent != 200 || res.Unsent != 0 {
		t.Errorf("sent %d, unsent %d; want 200 and 0", res.Sent, res.Unsent)
	}
}

func TestRunKeepsTheRateAndCountsByLabel(t *testing.T) {
	cfg := Config{Rate: 500, Warmup: 100 * time.Millisecond, Duration: 400 * time.Millisecond, Clients: 4, Grace: time.Second}
	var calls atomic.Int64
	res := Run(context.Background(), cfg, func(_ context.Context, i int64) Outcome {
		calls.Add(1)
		switch {
		case i%10 == 0:
			return Outcome{Label: "deposit"}
		case i%25 == 1:
			return Outcome{Label: "order", Code: "Unavailable"}
		}
		return Outcome{Label: "order"}
	}, nil)
	if calls.Load() != 250 || res.Sent != 250 {
		t.Fatalf("made %d calls, Sent %d; want 250 (500/s for 0.5 s)", calls.Load(), res.Sent)
	}
	if res.Unsent != 0 {
		t.Errorf("unsent = %d for a trivial handler", res.Unsent)
	}
	// Successes per second in the window: 500/s less the failures.
	if !near(res.Achieved, 480, 0.15) {
		t.Errorf("achieved %.0f/s, want about 480/s", res.Achieved)
	}
	if got := res.Labels["deposit"].PerSecond; !near(got, 50, 0.25) {
		t.Errorf("deposits %.0f/s, want about 50/s", got)
	}
	// Errors are counted over the whole run (warm-up included) and are
	// not in the latency histograms.
	if got := res.Errors()["Unavailable"]; got != 10 {
		t.Errorf("Unavailable errors = %d, want 10", got)
	}
	if res.ErrorCount() != 10 {
		t.Errorf("ErrorCount = %d, want 10", res.ErrorCount())
	}
	if n := res.Labels["order"].Latency.Count + res.Labels["deposit"].Latency.Count; n != res.All.Count || n < 180 || n > 200 {
		t.Errorf("latency counts: labels %d, all %d; want the ~192 successes of the window", n, res.All.Count)
	}
}

func TestRunReportsUnsentWhenClientsCannotKeepUp(t *testing.T) {
	// One client, 20 ms per request, 200 requests/s asked: it serves 50/s
	// and the rest of the window's requests are never started.
	cfg := Config{Rate: 200, Duration: 300 * time.Millisecond, Clients: 1, Grace: 20 * time.Millisecond}
	res := Run(context.Background(), cfg, func(context.Context, int64) Outcome {
		time.Sleep(20 * time.Millisecond) // the slow server under test
		return Outcome{Label: "order"}
	}, nil)
	if res.Unsent < 30 {
		t.Errorf("unsent = %d, want most of the 60 scheduled requests", res.Unsent)
	}
	if res.Achieved > 80 {
		t.Errorf("achieved %.0f/s, a 20 ms handler on one client cannot exceed 50/s", res.Achieved)
	}
	if res.LateP99 < 100 {
		t.Errorf("late p99 = %.1f ms, want the growing backlog to show", res.LateP99)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int64
	res := Run(ctx, Config{Rate: 1000, Duration: time.Hour, Clients: 2}, func(context.Context, int64) Outcome {
		if calls.Add(1) == 20 {
			cancel()
		}
		return Outcome{Label: "order"}
	}, nil)
	if res.Sent > 25 {
		t.Errorf("sent %d requests after the context was cancelled at 20", res.Sent)
	}
}

func TestProgressIsReported(t *testing.T) {
	var reports atomic.Int64
	var sawWarmup, sawMeasure atomic.Bool
	Run(context.Background(), Config{Rate: 100, Warmup: 1100 * time.Millisecond, Duration: 1100 * time.Millisecond, Clients: 2},
		func(context.Context, int64) Outcome { return Outcome{Label: "order"} },
		func(p Progress) {
			reports.Add(1)
			if p.Warmup {
				sawWarmup.Store(true)
			} else {
				sawMeasure.Store(true)
			}
			if p.OKPerSecond < 50 || p.OKPerSecond > 150 {
				t.Errorf("progress rate %.0f/s, want about 100/s", p.OKPerSecond)
			}
		})
	if reports.Load() < 2 || !sawWarmup.Load() || !sawMeasure.Load() {
		t.Errorf("%d progress reports (warm-up seen %v, window seen %v)", reports.Load(), sawWarmup.Load(), sawMeasure.Load())
	}
}

func TestCodesOrder(t *testing.T) {
	got := Codes(map[string]int64{"b": 2, "a": 2, "c": 5})
	want := []string{"c×5", "a×2", "b×2"}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("Codes = %v, want %v", got, want)
	}
}

func TestMergeCombinesRounds(t *testing.T) {
	// Two rounds: one fast (1 ms), one slow (9 ms), same size. Merged, the
	// median falls between and the p99 is the slow round's, which no
	// average of the two summaries would give.
	round := func(d time.Duration, fail bool) Result {
		return Run(context.Background(), Config{Rate: 400, Duration: 250 * time.Millisecond, Clients: 8, Grace: time.Second},
			func(_ context.Context, i int64) Outcome {
				time.Sleep(d) // the server's latency under test
				if fail && i == 3 {
					return Outcome{Label: "order", Code: "Unavailable"}
				}
				return Outcome{Label: "order"}
			}, nil)
	}
	fast, slow := round(time.Millisecond, false), round(9*time.Millisecond, true)
	m := Merge(fast, slow)
	o := m.Labels["order"]
	if o.OK != fast.Labels["order"].OK+slow.Labels["order"].OK || m.Sent != fast.Sent+slow.Sent {
		t.Errorf("counts do not add up: %+v", m)
	}
	if o.Latency.Count != fast.Labels["order"].Latency.Count+slow.Labels["order"].Latency.Count {
		t.Errorf("merged histogram has %d values", o.Latency.Count)
	}
	if o.Latency.P99 < 9 || o.Latency.P99 > slow.Labels["order"].Latency.P99*1.01 {
		t.Errorf("merged p99 %.2f ms, want the slow round's %.2f ms", o.Latency.P99, slow.Labels["order"].Latency.P99)
	}
	if o.Latency.P50 < fast.Labels["order"].Latency.P50 || o.Latency.P50 > slow.Labels["order"].Latency.P50 {
		t.Errorf("merged p50 %.2f ms outside the rounds' %.2f..%.2f", o.Latency.P50, fast.Labels["order"].Latency.P50, slow.Labels["order"].Latency.P50)
	}
	if m.Errors()["Unavailable"] != 1 {
		t.Errorf("errors %v, want the slow round's one", m.Errors())
	}
	// Rates are over the combined window (2 × 250 ms).
	if !near(o.PerSecond, float64(o.OK)/0.5, 1e-9) {
		t.Errorf("per second %.1f, want %d over 0.5 s", o.PerSecond, o.OK)
	}
	if (Merge().Labels != nil) || Merge().Sent != 0 {
		t.Error("merging nothing must give an empty result")
	}
}
