package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/kassa-dev/kassa/bench/chart"
	"github.com/kassa-dev/kassa/bench/pgstmt"
	"github.com/kassa-dev/kassa/bench/plans"
)

// The targets of issue 17 for the large data set.
const (
	targetLargeOrdersRatio = 0.80
	targetLargeP99Ratio    = 1.5
	targetDeepPageRatio    = 2.0
)

// Data sizes of a run.
const (
	dataEmpty = "empty"
	dataLarge = "large"
)

// The lists read at their newest and at a deep page.
var lists = []string{"transactions", "orders", "notifications"}

// dataRun is one mode on one data size: what the chart shows.
type dataRun struct {
	Mode string `json:"mode"`
	Data string `json:"data"`
	// Users in the databases (the preloaded ones with the large data).
	Users          int     `json:"users"`
	RESTOrdersPerS float64 `json:"rest_orders_per_s"`
	HalfPeakRate   float64 `json:"half_peak_requests_per_s"`
	RESTP50Ms      float64 `json:"rest_p50_ms_at_half_peak"`
	RESTP99Ms      float64 `json:"rest_p99_ms_at_half_peak"`
}

// addRun records the figures of mode m on data: the REST peak search and
// the REST latency at half the peak, either of which may be missing (a
// smoke run has neither).
func (r *result) addRun(m mode, data string, search *peakResult, half *stepRecord) {
	run := dataRun{Mode: string(m), Data: data, Users: r.Config.Users}
	if data == dataLarge && r.Large != nil {
		run.Users += r.Large.Size.Users
	}
	if search != nil && search.Best != nil {
		run.RESTOrdersPerS = search.Best.order().PerSecond
	}
	if half != nil {
		l := half.order().Latency
		run.HalfPeakRate, run.RESTP50Ms, run.RESTP99Ms = half.Rate, l.P50, l.P99
	}
	r.Runs = append(r.Runs, run)
}

// rest is the REST side of the half peak, nil without one.
func (h *halfResult) rest() *stepRecord {
	if h == nil {
		return nil
	}
	return h.REST
}

// largeResult is the large-data run.
type largeResult struct {
	Mode string `json:"mode"`
	Size struct {
		Users int              `json:"users"`
		Heavy int              `json:"heavy_user_orders"`
		Rows  map[string]int64 `json:"rows"`
	} `json:"size"`
	// Seconds of the set-up, outside every timed window.
	PreloadS    float64 `json:"preload_s"`
	SettleS     float64 `json:"vacuum_analyze_s"`
	CheckS      float64 `json:"check_s"`
	CheckpointS float64 `json:"checkpoint_s"`
	// REST is the peak search on the large data; Half the REST latency at
	// the empty run's half-peak rate; Smoke the smoke's one step.
	REST  *peakResult            `json:"rest_search,omitempty"`
	Half  *stepRecord            `json:"rest_half_peak,omitempty"`
	Smoke *stepRecord            `json:"smoke,omitempty"`
	Lists map[string]*listResult `json:"lists"`
	// PlansWindow is the low-rate load while the statements were logged.
	PlansWindow *stepRecord  `json:"plans_window,omitempty"`
	Plans       *plansResult `json:"plans,omitempty"`
}

// listResult is one list read at its newest page and at a deep one.
type listResult struct {
	// PageSize items per measured page.
	PageSize int `json:"page_size"`
	// DeepOffset is how many items precede the deep page, reached through
	// the API's page tokens.
	DeepOffset int     `json:"deep_offset"`
	First      latency `json:"first_page_ms"`
	Deep       latency `json:"deep_page_ms"`
	// Ratio is the deep page's median over the first page's.
	Ratio  float64 `json:"deep_page_ratio"`
	Errors int     `json:"errors"`
}

// latency summarises timed reads, ms.
type latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

func summarize(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) float64 { return ms(s[min(len(s)-1, int(q*float64(len(s))))]) }
	return latency{Count: len(s), P50: at(0.5), P99: at(0.99), Max: ms(s[len(s)-1])}
}

// plansResult is the plans of the services' statements on the large data.
type plansResult struct {
	Generic  []plans.Plan     `json:"generic,omitempty"`
	Analyzed []plans.Plan     `json:"analyzed,omitempty"`
	Sizes    map[string]int64 `json:"table_rows,omitempty"`
}

// finishLarge derives the large data's headline figures.
func (r *result) finishLarge() {
	l := r.Large
	if l == nil {
		return
	}
	if l.REST != nil {
		for _, s := range l.REST.Steps {
			r.addErrs("large_rest_search", s)
		}
		if l.REST.Best != nil {
			r.LargeDataOrdersPerS = l.REST.Best.order().PerSecond
		}
	}
	r.addErrs("large_rest_half_peak", l.Half)
	r.addErrs("large_smoke", l.Smoke)
	r.addErrs("large_plans_window", l.PlansWindow)
	if l.Half != nil {
		r.LargeDataP99MsAtHalf = l.Half.order().Latency.P99
	}
	if r.REST != nil && r.REST.Best != nil && r.REST.Best.order().PerSecond > 0 {
		r.LargeDataOrdersRatio = r.LargeDataOrdersPerS / r.REST.Best.order().PerSecond
	}
	if r.Half != nil && r.Half.REST != nil && r.Half.REST.order().Latency.P99 > 0 {
		r.LargeDataP99Ratio = r.LargeDataP99MsAtHalf / r.Half.REST.order().Latency.P99
	}
	r.LargeDataPreloadS = l.PreloadS
	if l.Half != nil && r.Half != nil && r.Half.REST != nil {
		e, g := r.Half.REST.Observed.PerRequest, l.Half.Observed.PerRequest
		if e["total"] > 0 && e["postgres"] > 0 {
			r.LargeDataCPURatio, r.LargeDataPostgresRatio = g["total"]/e["total"], g["postgres"]/e["postgres"]
		}
	}
	for name, dst := range map[string]struct {
		first, deep *latency
		ratio       *float64
	}{
		"transactions":  {&r.ListTransactionsFirst, &r.ListTransactionsDeep, &r.ListTransactionsRatio},
		"orders":        {&r.ListOrdersFirst, &r.ListOrdersDeep, &r.ListOrdersRatio},
		"notifications": {&r.ListNotificationsFirst, &r.ListNotificationsDeep, &r.ListNotificationsRatio},
	} {
		if lr := l.Lists[name]; lr != nil {
			*dst.first, *dst.deep, *dst.ratio = lr.First, lr.Deep, lr.Ratio
		}
	}
	r.PlansSeqScans = []string{}
	if l.Plans != nil {
		for _, p := range append(slices.Clone(l.Plans.Generic), l.Plans.Analyzed...) {
			for _, t := range p.SeqScans {
				r.PlansSeqScans = append(r.PlansSeqScans, fmt.Sprintf("%s: %s reads %s", p.DB, shortQuery(p.Query), t))
			}
		}
	}
}

// largeTargets are issue 17's targets for the large data, none without it.
func (r *result) largeTargets() []targetCheck {
	l := r.Large
	if l == nil || l.REST == nil {
		return nil
	}
	out := []targetCheck{
		{"large data: REST orders/s ≥ 80% of the empty run", r.LargeDataOrdersRatio >= targetLargeOrdersRatio,
			fmt.Sprintf("%.0f%% (%.1f vs %.1f orders/s)", 100*r.LargeDataOrdersRatio, r.LargeDataOrdersPerS, r.RESTOrdersPerS)},
		{"large data: REST p99 ≤ 1.5× the empty run", r.LargeDataP99Ratio > 0 && r.LargeDataP99Ratio <= targetLargeP99Ratio,
			fmt.Sprintf("%.2f× (%.1f vs %.1f ms)", r.LargeDataP99Ratio, r.LargeDataP99MsAtHalf, r.RESTP99MsAtHalfPeak)},
	}
	for _, name := range lists {
		if lr := l.Lists[name]; lr != nil {
			out = append(out, targetCheck{fmt.Sprintf("%s: deep page ≤ 2× the first", name), lr.Ratio > 0 && lr.Ratio <= targetDeepPageRatio,
				fmt.Sprintf("%.2f× (p50 %.2f vs %.2f ms, %d items in)", lr.Ratio, lr.Deep.P50, lr.First.P50, lr.DeepOffset)})
		}
	}
	if l.Plans != nil {
		out = append(out, targetCheck{"every statement reads large tables by index", len(r.PlansSeqScans) == 0,
			fmt.Sprintf("%d statements, %d sequential scans of large tables", len(l.Plans.Generic), len(r.PlansSeqScans))})
	}
	return out
}

// chart draws REST orders/s and p99 at half the peak of every run, a
// group per mode and a bar per data size.
func (r *result) chart() string {
	var tput, p99 []chart.Bar
	for _, run := range r.Runs {
		series := "empty database"
		if run.Data == dataLarge {
			series = thousands(run.Users) + " users"
		}
		tput = append(tput, chart.Bar{Group: run.Mode, Series: series, Value: run.RESTOrdersPerS})
		p99 = append(p99, chart.Bar{Group: run.Mode, Series: series, Value: run.RESTP99Ms})
	}
	return chart.SVG("kassa through REST: "+r.Machine.Date, []chart.Panel{
		{Title: "peak orders/s (higher is better)", Format: "%.0f", Bars: tput},
		{Title: "p99 ms at half the empty run's peak (lower is better)", Format: "%.1f", Bars: p99},
	})
}

func shortQuery(q string) string { return pgstmt.Shorten(q, 70) }

// thousands writes n with thousands separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// printLarge shows the hot account and the large data beside the empty
// database.
func (r *result) printLarge(p printer) {
	if h := r.HotAccount; h != nil && h.Best != nil {
		p("\n%-44s %12.1f orders/s (many accounts: %.1f)\n", "hot account: all orders on one account, REST", r.HotAccountOrdersPerS, r.RESTOrdersPerS)
	}
	l := r.Large
	if l == nil {
		return
	}
	p("\nlarge data (%s mode): %s users, %s ledger entries, %s orders; preload %.0fs, vacuum %.0fs, check %.0fs, checkpoint %.0fs\n",
		l.Mode, thousands(l.Size.Users), thousands(int(l.Size.Rows["transactions"])), thousands(int(l.Size.Rows["orders"])),
		l.PreloadS, l.SettleS, l.CheckS, l.CheckpointS)
	if l.REST != nil {
		p("%-44s %12.1f orders/s (%.0f%% of the empty run's %.1f)\n", "REST peak", r.LargeDataOrdersPerS, 100*r.LargeDataOrdersRatio, r.RESTOrdersPerS)
	}
	if l.Half != nil {
		p("%-44s %12.1f ms p99 (%.2f× the empty run's %.1f), p50 %.2f ms\n", fmt.Sprintf("REST at %.1f requests/s", l.Half.Rate),
			r.LargeDataP99MsAtHalf, r.LargeDataP99Ratio, r.RESTP99MsAtHalfPeak, l.Half.order().Latency.P50)
	}
	if r.LargeDataCPURatio > 0 {
		p("%-44s %12.2f× all processes, %.2f× PostgreSQL\n", "CPU per request at that rate, large ÷ empty", r.LargeDataCPURatio, r.LargeDataPostgresRatio)
	}
	p("%-20s %8s %8s %8s %8s %10s %8s\n", "list pages, ms", "new p50", "new p99", "deep p50", "deep p99", "items in", "ratio")
	for _, name := range lists {
		if lr := l.Lists[name]; lr != nil {
			p("%-20s %8.2f %8.2f %8.2f %8.2f %10d %7.2f×\n", name, lr.First.P50, lr.First.P99, lr.Deep.P50, lr.Deep.P99, lr.DeepOffset, lr.Ratio)
		}
	}
	if pl := l.Plans; pl != nil {
		switch {
		case len(r.PlansSeqScans) == 0:
			p("plans: %d statements of the services explained on the large data, none reads a large table sequentially\n", len(pl.Generic))
		default:
			p("plans: %d statements explained; sequential scans of large tables:\n", len(pl.Generic))
			for _, s := range r.PlansSeqScans {
				p("  ✗ %s\n", s)
			}
		}
	}
}
