package main

import (
	"strings"
	"testing"
)

// The all-in-one figures are taken against the ceiling and the
// microservices of the same invocation, once finish has those, and each
// target of the two modes is reported.
func TestFinishComparesTheAllInOneWithTheMicroservices(t *testing.T) {
	r := &result{RSS: map[string]*rss{}, Correct: true}
	r.Ceiling = &ceilingResult{}
	r.Ceiling.OrdersPerSecond = 1000
	r.REST = &peakResult{Best: orderRec(400, 0, 400)}
	r.Half = &halfResult{Rate: 200, REST: orderRec(200, 10, 200), GRPC: orderRec(200, 9, 200)}

	a := &result{RSS: map[string]*rss{allInOneProcess: {Rest: 60, AfterLoad: 70}}, Correct: false}
	a.Ceiling = r.Ceiling
	a.REST = &peakResult{Best: orderRec(800, 0, 760)}
	a.Half = &halfResult{Rate: 400, REST: orderRec(400, 12, 400), GRPC: orderRec(400, 10, 400)}
	a.Half.REST.Observed.PerRequest = map[string]float64{allInOneProcess: 1.5, "postgres": 1.2}
	a.finish(false)
	r.setAllInOne(a)
	r.finish(false)

	f := r.allInOneFigures
	if f.AllInOneRESTOrdersPerS != 760 || f.AllInOneShareOfCeiling != 0.76 || f.AllInOneOverMicro != 1.9 {
		t.Errorf("orders/s %v, share %v, ratio %v; want 760, 0.76, 1.9", f.AllInOneRESTOrdersPerS, f.AllInOneShareOfCeiling, f.AllInOneOverMicro)
	}
	if f.AllInOneRESTP99MsAtHalf != 12 || f.AllInOneRSSMiBAtRest != 60 || f.AllInOneCPUMsPerRequest != 1.5 {
		t.Errorf("p99 %v, RSS %v, CPU %v; want 12, 60, 1.5", f.AllInOneRESTP99MsAtHalf, f.AllInOneRSSMiBAtRest, f.AllInOneCPUMsPerRequest)
	}
	if f.AllInOne == nil || f.AllInOne.REST != a.REST || f.AllInOne.Half != a.Half || f.AllInOne.Correct {
		t.Errorf("the all-in-one record %+v does not carry that run's searches and check", f.AllInOne)
	}
	if r.Correct {
		t.Error("an incorrect all-in-one run left the whole run correct")
	}
	met := map[string]bool{}
	for _, c := range r.allInOneTargets() {
		met[c.Target] = c.Met
	}
	for target, want := range map[string]bool{
		"all-in-one REST ≥ 70% of the ceiling":         true,
		"microservices REST ≥ 35% of the ceiling":      true,
		"all-in-one ≥ 1.8× the microservices":          true,
		"all-in-one REST p99 < 20 ms at half its peak": true,
		"all-in-one process RSS at rest < 80 MiB":      true,
	} {
		got, ok := met[target]
		if !ok || got != want {
			t.Errorf("target %q: met %v (listed %v), want %v; targets %v", target, got, ok, want, strings.Join(keys(met), "; "))
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
