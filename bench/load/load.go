// Package load is an open-model load generator: requests are scheduled at
// a constant arrival rate, whatever the system under test does, and each
// request's latency is measured from the time it was scheduled to be sent,
// not from the time it was actually sent. When the system stalls, the
// requests queued behind the stall are charged the wait, so a stall shows
// up in the percentiles instead of silently lowering the request rate
// (the "coordinated omission" of closed-loop benchmarks).
//
// The requests are sent by a fixed number of clients (like the
// connections of wrk2): each takes the next scheduled request, waits for
// its scheduled time if that is still ahead, and sends it. If all clients
// are busy, the next request starts late and its latency includes the
// lateness. A request that cannot be started within a grace period after
// the end is counted as unsent, which marks the rate as unsustainable.
package load

import (
	"context"
	"maps"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Config describes one run at one rate.
type Config struct {
	// Rate is the arrival rate in requests per second.
	Rate float64
	// Warmup runs at Rate before measuring; its requests count for
	// nothing but errors.
	Warmup time.Duration
	// Duration is the measured window.
	Duration time.Duration
	// Clients bounds the requests in flight.
	Clients int
	// Grace is how long after the window requests scheduled in it may
	// still be started; later ones are counted as unsent.
	Grace time.Duration
}

// Outcome is what one request did.
type Outcome struct {
	// Label groups requests for the statistics ("order", "deposit").
	Label string
	// Code is "" for a correct answer, otherwise the kind of failure
	// ("Unavailable", "http 503", "timeout", "wrong status").
	Code string
}

// Do sends request i (0, 1, ... in scheduled order).
type Do func(ctx context.Context, i int64) Outcome

// LabelStats are the statistics of the requests with one label.
type LabelStats struct {
	// OK counts correct answers that arrived within the window.
	OK int64 `json:"ok"`
	// PerSecond is OK over the window's length.
	PerSecond float64 `json:"per_s"`
	// Latency covers the requests scheduled within the window that
	// succeeded, measured from their scheduled time.
	Latency Summary `json:"latency"`
	// Errors counts failures by code, warm-up included.
	Errors map[string]int64 `json:"errors,omitempty"`
}

// Result is the outcome of a run.
type Result struct {
	Rate     float64       `json:"rate"`
	Duration time.Duration `json:"-"`
	// Sent counts requests started (warm-up included); Unsent the requests
	// scheduled in the window that could not be started in time.
	Sent   int64 `json:"sent"`
	Unsent int64 `json:"unsent"`
	// Late is the 99th percentile of how late requests started after
	// their scheduled time: high values mean the clients or the
	// generator's CPU could not keep up.
	LateP99 float64 `json:"late_p99_ms"`
	// Achieved is correct answers per second within the window, all labels.
	Achieved float64                `json:"achieved_per_s"`
	Labels   map[string]*LabelStats `json:"labels"`
	// All is the latency of every successful request in the window.
	All Summary `json:"latency"`

	// The histograms behind the summaries, for Merge.
	hists map[string]*hdrhistogram.Histogram
	all   *hdrhistogram.Histogram
	late  *hdrhistogram.Histogram
}

// Merge combines runs at one rate (say, rounds alternated with another
// target so that both see the same background noise) into one result, as
// if their windows had been one: counts add up and the percentiles come
// from the merged histograms.
func Merge(runs ...Result) Result {
	if len(runs) == 0 {
		return Result{}
	}
	out := Result{Rate: runs[0].Rate, Labels: map[string]*LabelStats{},
		hists: map[string]*hdrhistogram.Histogram{}, all: NewHistogram(), late: NewHistogram()}
	var ok int64
	for _, r := range runs {
		out.Duration += r.Duration
		out.Sent += r.Sent
		out.Unsent += r.Unsent
		if r.all != nil {
			out.all.Merge(r.all)
			out.late.Merge(r.late)
		}
		for name, l := range r.Labels {
			m := out.Labels[name]
			if m == nil {
				m = &LabelStats{}
				out.Labels[name] = m
				out.hists[name] = NewHistogram()
			}
			m.OK += l.OK
			ok += l.OK
			for code, n := range l.Errors {
				if m.Errors == nil {
					m.Errors = map[string]int64{}
				}
				m.Errors[code] += n
			}
			if h := r.hists[name]; h != nil {
				out.hists[name].Merge(h)
			}
		}
	}
	window := out.Duration.Seconds()
	for name, m := range out.Labels {
		m.Latency = Summarize(out.hists[name])
		if window > 0 {
			m.PerSecond = float64(m.OK) / window
		}
	}
	if window > 0 {
		out.Achieved = float64(ok) / window
	}
	out.All = Summarize(out.all)
	out.LateP99 = Summarize(out.late).P99
	return out
}

// Errors returns the failures of all labels by code.
func (r Result) Errors() map[string]int64 {
	out := make(map[string]int64)
	for _, l := range r.Labels {
		for code, n := range l.Errors {
			out[code] += n
		}
	}
	return out
}

// ErrorCount is the number of failed requests.
func (r Result) ErrorCount() int64 {
	var n int64
	for _, v := range r.Errors() {
		n += v
	}
	return n
}

// Progress is a snapshot taken once a second while a run goes on.
type Progress struct {
	Elapsed  time.Duration
	Warmup   bool
	Sent     int64
	InFlight int64
	// OKPerSecond and P99 cover the last interval.
	OKPerSecond float64
	P99         time.Duration
	Errors      int64
}

// Run sends requests at cfg.Rate until the window is over and every
// started request has answered, then returns the statistics. progress, if
// not nil, is called about once a second from another goroutine.
func Run(ctx context.Context, cfg Config, do Do, progress func(Progress)) Result {
	if cfg.Clients < 1 {
		cfg.Clients = 1
	}
	total := int64((cfg.Warmup + cfg.Duration).Seconds() * cfg.Rate)
	start := time.Now().Add(5 * time.Millisecond)
	at := func(i int64) time.Time {
		return start.Add(time.Duration(float64(i) * float64(time.Second) / cfg.Rate))
	}
	rec := newRecorder(start.Add(cfg.Warmup), start.Add(cfg.Warmup+cfg.Duration))
	hardStop := rec.end.Add(cfg.Grace)

	stopProgress := make(chan struct{})
	var progressDone sync.WaitGroup
	if progress != nil {
		progressDone.Go(func() { rec.report(start, stopProgress, progress) })
	}

	var next atomic.Int64
	var clients sync.WaitGroup
	for range cfg.Clients {
		clients.Go(func() {
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				if ctx.Err() != nil {
					return // cancelled: the run is abandoned, not measured
				}
				intended := at(i)
				if time.Now().After(hardStop) {
					rec.unsent(intended)
					continue
				}
				if wait := time.Until(intended); wait > 0 {
					timer.Reset(wait)
					select {
					case <-timer.C:
					case <-ctx.Done():
						return
					}
				}
				began := time.Now()
				rec.started()
				out := do(ctx, i)
				rec.record(intended, began, time.Now(), out)
			}
		})
	}
	clients.Wait()
	close(stopProgress)
	progressDone.Wait()
	return rec.result(cfg)
}

type labelRec struct {
	ok     int64
	hist   *hdrhistogram.Histogram
	errors map[string]int64
}

// recorder collects the outcomes; one mutex is plenty at the rates a
// two-core machine can serve.
type recorder struct {
	begin, end time.Time

	mu       sync.Mutex
	labels   map[string]*labelRec
	all      *hdrhistogram.Histogram
	late     *hdrhistogram.Histogram
	sent     int64
	unsentN  int64
	inFlight int64
	// the current progress interval
	ivOK, ivErr int64
	ivHist      *hdrhistogram.Histogram
}

func newRecorder(begin, end time.Time) *recorder {
	return &recorder{
		begin: begin, end: end,
		labels: make(map[string]*labelRec),
		all:    NewHistogram(), late: NewHistogram(), ivHist: NewHistogram(),
	}
}

func (r *recorder) inWindow(t time.Time) bool { return !t.Before(r.begin) && t.Before(r.end) }

func (r *recorder) started() {
	r.mu.Lock()
	r.sent++
	r.inFlight++
	r.mu.Unlock()
}

func (r *recorder) unsent(intended time.Time) {
	if !r.inWindow(intended) {
		return
	}
	r.mu.Lock()
	r.unsentN++
	r.mu.Unlock()
}

func (r *recorder) record(intended, began, done time.Time, out Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inFlight--
	l := r.labels[out.Label]
	if l == nil {
		l = &labelRec{hist: NewHistogram(), errors: make(map[string]int64)}
		r.labels[out.Label] = l
	}
	if out.Code != "" {
		l.errors[out.Code]++
		r.ivErr++
		return
	}
	latency := done.Sub(intended)
	Record(r.ivHist, latency)
	r.ivOK++
	if r.inWindow(done) {
		l.ok++
	}
	if r.inWindow(intended) {
		Record(l.hist, latency)
		Record(r.all, latency)
		Record(r.late, began.Sub(intended))
	}
}

func (r *recorder) report(start time.Time, stop <-chan struct{}, progress func(Progress)) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			r.mu.Lock()
			p := Progress{
				Elapsed:     now.Sub(start),
				Warmup:      now.Before(r.begin),
				Sent:        r.sent,
				InFlight:    r.inFlight,
				OKPerSecond: float64(r.ivOK) / now.Sub(last).Seconds(),
				P99:         time.Duration(r.ivHist.ValueAtPercentile(99)) * time.Microsecond,
			}
			for _, l := range r.labels {
				for _, n := range l.errors {
					p.Errors += n
				}
			}
			r.ivOK, r.ivErr = 0, 0
			r.ivHist.Reset()
			r.mu.Unlock()
			last = now
			progress(p)
		}
	}
}

func (r *recorder) result(cfg Config) Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	window := r.end.Sub(r.begin).Seconds()
	res := Result{
		Rate: cfg.Rate, Duration: cfg.Duration,
		Sent: r.sent, Unsent: r.unsentN,
		LateP99: Summarize(r.late).P99,
		Labels:  make(map[string]*LabelStats),
		All:     Summarize(r.all),
		hists:   make(map[string]*hdrhistogram.Histogram),
		all:     r.all, late: r.late,
	}
	var ok int64
	for _, name := range slices.Sorted(maps.Keys(r.labels)) {
		l := r.labels[name]
		ls := &LabelStats{OK: l.ok, PerSecond: float64(l.ok) / window, Latency: Summarize(l.hist)}
		if len(l.errors) > 0 {
			ls.Errors = maps.Clone(l.errors)
		}
		res.Labels[name] = ls
		res.hists[name] = l.hist
		ok += l.ok
	}
	res.Achieved = float64(ok) / window
	return res
}

// Codes lists error codes by count, most frequent first, as "code×n".
func Codes(errs map[string]int64) []string {
	type kv struct {
		k string
		v int64
	}
	var list []kv
	for k, v := range errs {
		list = append(list, kv{k, v})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].v != list[j].v {
			return list[i].v > list[j].v
		}
		return list[i].k < list[j].k
	})
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = e.k + "×" + strconv.FormatInt(e.v, 10)
	}
	return out
}
