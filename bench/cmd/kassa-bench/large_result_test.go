package main

import (
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/bench/load"
	"github.com/kassa-dev/kassa/bench/plans"
)

func orderRec(rate, p99, perS float64) *stepRecord {
	r := &stepRecord{Rate: rate}
	r.Result.Achieved = rate
	r.Result.Labels = map[string]*load.LabelStats{"order": {PerSecond: perS}}
	r.Result.Labels["order"].Latency.P99 = p99
	return r
}

// The large data's figures are taken against the empty run of the same
// invocation, and each has its target.
func TestFinishComparesTheLargeDataWithTheEmptyRun(t *testing.T) {
	r := &result{RSS: map[string]*rss{}}
	r.Ceiling = &ceilingResult{}
	r.Ceiling.OrdersPerSecond = 1000
	r.REST = &peakResult{Best: orderRec(400, 0, 400)}
	r.Half = &halfResult{Rate: 200, REST: orderRec(200, 10, 200), GRPC: orderRec(200, 9, 200)}
	r.Large = &largeResult{
		REST: &peakResult{Best: orderRec(300, 0, 300)},
		Half: orderRec(200, 16, 200),
		Lists: map[string]*listResult{
			"transactions":  {First: latency{P50: 2}, Deep: latency{P50: 3}, Ratio: 1.5},
			"orders":        {First: latency{P50: 2}, Deep: latency{P50: 5}, Ratio: 2.5},
			"notifications": {First: latency{P50: 2}, Deep: latency{P50: 2}, Ratio: 1},
		},
		Plans: &plansResult{Generic: []plans.Plan{{DB: "kassa_order", Query: "SELECT id FROM orders WHERE email = $1", SeqScans: []string{"orders"}}}},
	}
	r.Half.REST.Observed.PerRequest = map[string]float64{"total": 4, "postgres": 2}
	r.Large.Half.Observed.PerRequest = map[string]float64{"total": 5, "postgres": 3}
	r.finish(false)
	if r.LargeDataCPURatio != 1.25 || r.LargeDataPostgresRatio != 1.5 {
		t.Errorf("CPU per request ratios %v, %v; want 1.25, 1.5", r.LargeDataCPURatio, r.LargeDataPostgresRatio)
	}
	if r.LargeDataOrdersRatio != 0.75 || r.LargeDataP99Ratio != 1.6 || r.ListOrdersRatio != 2.5 || r.ListOrdersDeep.P50 != 5 {
		t.Errorf("large data: orders ratio %v, p99 ratio %v, orders list ratio %v", r.LargeDataOrdersRatio, r.LargeDataP99Ratio, r.ListOrdersRatio)
	}
	if len(r.PlansSeqScans) != 1 || !strings.Contains(r.PlansSeqScans[0], "reads orders") {
		t.Errorf("seq scans %q", r.PlansSeqScans)
	}
	met := map[string]bool{}
	for _, tc := range r.Targets {
		met[tc.Target] = tc.Met
	}
	for target, want := range map[string]bool{
		"large data: REST orders/s ≥ 80% of the empty run": false,
		"large data: REST p99 ≤ 1.5× the empty run":        false,
		"transactions: deep page ≤ 2× the first":           true,
		"orders: deep page ≤ 2× the first":                 false,
		"every statement reads large tables by index":      false,
	} {
		if got, ok := met[target]; !ok || got != want {
			t.Errorf("target %q: met=%v (present %v), want %v", target, got, ok, want)
		}
	}
}

func TestRunsAndChartHoldEveryModeAndSize(t *testing.T) {
	r := &result{Config: publicConfig{Users: 200}}
	r.Large = &largeResult{}
	r.Large.Size.Users = 1_000_000
	r.addRun(microservices, dataEmpty, &peakResult{Best: orderRec(400, 0, 394)}, orderRec(200, 17.2, 200))
	r.addRun(microservices, dataLarge, &peakResult{Best: orderRec(350, 0, 351)}, orderRec(200, 19.5, 200))
	r.addRun("allinone", dataEmpty, nil, nil) // a smoke: no figures
	if len(r.Runs) != 3 || r.Runs[1].Users != 1_000_200 || r.Runs[1].RESTP99Ms != 19.5 || r.Runs[2].RESTOrdersPerS != 0 {
		t.Fatalf("runs %+v", r.Runs)
	}
	svg := r.chart()
	for _, want := range []string{">394<", ">351<", ">17.2<", ">19.5<", "1,000,200 users", "empty database", ">allinone<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if l := summarize(ds); l.Count != 100 || l.P50 != 51 || l.P99 != 100 || l.Max != 100 {
		t.Errorf("summarize = %+v", l)
	}
	if l := summarize(nil); l != (latency{}) {
		t.Errorf("summarize(nil) = %+v", l)
	}
}
