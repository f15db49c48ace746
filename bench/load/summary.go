package load

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds from 1 µs to 2 minutes with three
// significant digits: every percentile is within 0.1% of the true value.
const (
	lowestMicros  = 1
	highestMicros = int64(2 * time.Minute / time.Microsecond)
	sigFigs       = 3
)

// NewHistogram returns an empty latency histogram in microseconds.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(lowestMicros, highestMicros, sigFigs)
}

// Record adds d to h, clamped to the trackable range.
func Record(h *hdrhistogram.Histogram, d time.Duration) {
	us := d.Microseconds()
	us = max(us, lowestMicros)
	us = min(us, highestMicros)
	_ = h.RecordValue(us) // in range by construction
}

// Summary is the latency distribution of a set of requests, in
// milliseconds.
type Summary struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
}

// Summarize reads the percentiles of h. An empty histogram gives zeros.
func Summarize(h *hdrhistogram.Histogram) Summary {
	if h.TotalCount() == 0 {
		return Summary{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	v := h.ValueAtPercentilesSlice([]float64{50, 90, 99, 99.9})
	return Summary{
		Count: h.TotalCount(),
		Mean:  h.Mean() / 1000,
		P50:   ms(v[0]),
		P90:   ms(v[1]),
		P99:   ms(v[2]),
		P999:  ms(v[3]),
		Max:   ms(h.Max()),
	}
}

// P99Duration is the 99th percentile as a duration.
func (s Summary) P99Duration() time.Duration {
	return time.Duration(s.P99 * float64(time.Millisecond))
}
