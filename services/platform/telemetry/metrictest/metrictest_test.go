package metrictest_test

import (
	"fmt"
	"testing"

	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
	"github.com/prometheus/client_golang/prometheus"
)

// recorder keeps what Expect reports instead of failing the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestExpect_ReportsEachSeriesWithAnotherValue(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "things_total", Help: "things"}, []string{"kind"})
	reg.MustRegister(c)
	c.WithLabelValues("a").Add(2)
	m := metrictest.Gather(t, reg)

	r := &recorder{TB: t}
	m.Expect(r, []metrictest.Want{
		metrictest.Series("things_total", 2, "kind", "a"), // right
		metrictest.Series("things_total", 0, "kind", "b"), // missing is 0: right
		metrictest.Series("things_total", 3, "kind", "a"), // wrong
	})
	if len(r.errors) != 1 || r.errors[0] != "things_total[kind a] = 2, want 3" {
		t.Fatalf("reported %q, want exactly the wrong series", r.errors)
	}
}
