package e2e

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// The files the Kubernetes chart ships for Prometheus and Grafana.
const (
	alertsFile    = "../../charts/kassa/files/alerts.yaml"
	dashboardFile = "../../charts/kassa/files/dashboard.json"
)

// synthetic are series Prometheus makes itself, which no process exposes.
var synthetic = map[string]bool{"up": true, "ALERTS": true, "ALERTS_FOR_STATE": true, "scrape_duration_seconds": true}

// targetLabels are labels Prometheus adds to every scraped series.
var targetLabels = map[string]bool{"job": true, "instance": true, "namespace": true, "pod": true, "service": true}

// query is one PromQL expression and where it comes from.
type query struct {
	where string // "alert KassaSlowRPC", "panel \"Rate\" A"
	expr  string
}

// Every alert rule and dashboard query names only metrics (and label
// names) that a running kassa process exposes: a renamed metric or a typo
// fails here, not silently on a dashboard at 3 a.m.
func TestDashboardsAndAlerts_QueryOnlyExposedMetrics(t *testing.T) {
	// Labelled series appear on first use: make an order of each outcome.
	user := restFundedUser(t, 1000)
	restOrder(t, user, 600)
	restOrder(t, user, 600)

	labelsOf := map[string]map[string]bool{} // sample name → label names
	for _, fams := range scrapeAll(t) {
		for name, mf := range fams {
			names := []string{name}
			switch mf.GetType().String() {
			case "HISTOGRAM":
				names = []string{name + "_bucket", name + "_sum", name + "_count"}
			case "SUMMARY":
				names = append(names, name+"_sum", name+"_count")
			}
			for _, n := range names {
				if labelsOf[n] == nil {
					labelsOf[n] = map[string]bool{}
				}
				for _, m := range mf.GetMetric() {
					for _, l := range m.GetLabel() {
						labelsOf[n][l.GetName()] = true
					}
				}
				if strings.HasSuffix(n, "_bucket") {
					labelsOf[n]["le"] = true
				}
			}
		}
	}

	queries := append(alertQueries(t), dashboardQueries(t)...)
	if len(queries) < 30 {
		t.Fatalf("found only %d queries in %s and %s; is the parsing broken?", len(queries), alertsFile, dashboardFile)
	}
	used := map[string]bool{}
	for _, q := range queries {
		sels := selectors(t, q)
		if len(sels) == 0 {
			t.Errorf("%s queries no metric: %s", q.where, q.expr)
		}
		for _, s := range sels {
			used[s.name] = true
			if synthetic[s.name] {
				continue
			}
			labels, ok := labelsOf[s.name]
			if !ok {
				t.Errorf("%s queries %s, which no kassa process exposes", q.where, s.name)
				continue
			}
			for _, l := range s.labels {
				if !labels[l] && !targetLabels[l] {
					t.Errorf("%s matches label %q of %s, which has none (labels: %v)", q.where, l, s.name, keys(labels))
				}
			}
		}
	}
	t.Logf("%d queries use %d metrics: %v", len(queries), len(used), keys(used))
}

// alertQueries reads the expressions of alerts.yaml with Prometheus's own
// rule file parser (which also checks each one parses).
func alertQueries(t *testing.T) []query {
	t.Helper()
	groups, errs := rulefmt.ParseFile(alertsFile, false, model.UTF8Validation, parser.NewParser(parser.Options{}), nil)
	for _, err := range errs {
		t.Errorf("%s: %v", alertsFile, err)
	}
	if groups == nil {
		t.FailNow()
	}
	var out []query
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := "alert " + r.Alert
			if r.Record != "" {
				name = "recording rule " + r.Record
			}
			out = append(out, query{where: name, expr: r.Expr})
		}
	}
	return out
}

// dashboardQueries reads the targets of every panel of dashboard.json.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
		Panels []panel `json:"panels"` // collapsed rows
	}
	var d struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []query
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, query{where: "panel " + `"` + p.Title + `" ` + tg.RefID, expr: tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// selector is a metric a query selects and the labels it matches on.
type selector struct {
	name   string
	labels []string
}

// grafanaVars stand in for Grafana's variables, which PromQL does not know.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// selectors parses q (after Grafana's variables) and returns its vector
// selectors.
func selectors(t *testing.T, q query) []selector {
	t.Helper()
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(grafanaVars.Replace(q.expr))
	if err != nil {
		t.Errorf("%s does not parse: %v\n%s", q.where, err, q.expr)
		return nil
	}
	var out []selector
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		s := selector{name: vs.Name}
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel {
				if s.name == "" {
					s.name = m.Value
				}
				continue
			}
			s.labels = append(s.labels, m.Name)
		}
		out = append(out, s)
		return nil
	})
	return out
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
