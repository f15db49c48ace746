package pgstmt

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestSince(t *testing.T) {
	k := func(db string, id int64) Key { return Key{DB: db, User: 10, QueryID: id} }
	t0 := time.Unix(1000, 0)
	for _, c := range []struct {
		name   string
		before map[Key]Entry
		after  map[Key]Entry
		want   map[Key]Counters
	}{
		{
			name:   "counters grow",
			before: map[Key]Entry{k("kassa_order", 1): {Counters: Counters{Calls: 100, ExecMs: 50, Rows: 100, Plans: 5, PlanMs: 1}}},
			after:  map[Key]Entry{k("kassa_order", 1): {Counters: Counters{Calls: 300, ExecMs: 150, Rows: 250, Plans: 5, PlanMs: 1}, Query: "SELECT $1"}},
			want:   map[Key]Counters{k("kassa_order", 1): {Calls: 200, ExecMs: 100, Rows: 150}},
		},
		{
			name:  "a statement first run in the window counts from zero",
			after: map[Key]Entry{k("kassa_user", 2): {Counters: Counters{Calls: 7, ExecMs: 3.5, Plans: 7, PlanMs: 0.7}}},
			want:  map[Key]Counters{k("kassa_user", 2): {Calls: 7, ExecMs: 3.5, Plans: 7, PlanMs: 0.7}},
		},
		{
			name:   "an entry evicted and back in the window counts from zero",
			before: map[Key]Entry{k("kassa_order", 3): {Counters: Counters{Calls: 1000, ExecMs: 500}}},
			after:  map[Key]Entry{k("kassa_order", 3): {Counters: Counters{Calls: 40, ExecMs: 20}}},
			want:   map[Key]Counters{k("kassa_order", 3): {Calls: 40, ExecMs: 20}},
		},
		{
			name: "statements idle in the window, or gone, are left out",
			before: map[Key]Entry{
				k("kassa_order", 4): {Counters: Counters{Calls: 10, ExecMs: 1}},
				k("kassa_order", 5): {Counters: Counters{Calls: 10, ExecMs: 1}},
			},
			after: map[Key]Entry{k("kassa_order", 4): {Counters: Counters{Calls: 10, ExecMs: 1}}},
			want:  map[Key]Counters{},
		},
		{
			name:   "one queryid in two databases is two statements",
			before: map[Key]Entry{k("kassa_order", 6): {Counters: Counters{Calls: 1}}},
			after: map[Key]Entry{
				k("kassa_order", 6):   {Counters: Counters{Calls: 3, ExecMs: 2}},
				k("kassa_billing", 6): {Counters: Counters{Calls: 5, ExecMs: 4}},
			},
			want: map[Key]Counters{k("kassa_order", 6): {Calls: 2, ExecMs: 2}, k("kassa_billing", 6): {Calls: 5, ExecMs: 4}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := Snapshot{At: t0, Entries: c.before}
			b := Snapshot{At: t0.Add(time.Second), Entries: c.after}
			got := map[Key]Counters{}
			for _, s := range b.Since(a) {
				got[Key{s.DB, s.User, s.QueryID}] = s.Counters
				if s.Query != c.after[Key{s.DB, s.User, s.QueryID}].Query {
					t.Errorf("query text %q, want the later snapshot's", s.Query)
				}
			}
			if len(got) != len(c.want) {
				t.Fatalf("Since = %v, want %v", got, c.want)
			}
			for key, w := range c.want {
				if got[key] != w {
					t.Errorf("%v: %+v, want %+v", key, got[key], w)
				}
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestNewWindow(t *testing.T) {
	stmts := []Stmt{
		{DB: "kassa_order", QueryID: 1, Query: "INSERT", Counters: Counters{Calls: 900, ExecMs: 180, Plans: 9, PlanMs: 0.9}},
		{DB: "kassa_billing", QueryID: 2, Query: "SELECT", Counters: Counters{Calls: 1000, ExecMs: 20}},
	}
	for _, c := range []struct {
		name     string
		requests float64
		// of the INSERT
		callsPerRequest, execUsPerRequest, meanExecUs, plansPerCall, meanPlanUs, share float64
		totalExecUs                                                                    float64
	}{
		{"per request", 1000, 0.9, 180, 200, 0.01, 100, 0.9, 200},
		{"no requests: no per-request numbers, no division by zero", 0, 0, 0, 200, 0.01, 100, 0.9, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := NewWindow(stmts, 4, c.requests)
			if len(w.Statements) != 2 || w.Statements[0].QueryID != 1 {
				t.Fatalf("statements %+v, want the longest first", w.Statements)
			}
			s := w.Statements[0]
			for _, f := range []struct {
				what      string
				got, want float64
			}{
				{"calls per request", s.CallsPerRequest, c.callsPerRequest},
				{"exec µs per request", s.ExecUsPerRequest, c.execUsPerRequest},
				{"mean exec µs", s.MeanExecUs, c.meanExecUs},
				{"plans per call", s.PlansPerCall, c.plansPerCall},
				{"mean plan µs", s.MeanPlanUs, c.meanPlanUs},
				{"share", s.Share, c.share},
				{"window exec µs per request", w.ExecUsPerRequest, c.totalExecUs},
			} {
				if !near(f.got, f.want) {
					t.Errorf("%s = %v, want %v", f.what, f.got, f.want)
				}
			}
			if w.Total.Calls != 1900 || !near(w.Total.ExecMs, 200) {
				t.Errorf("total %+v", w.Total)
			}
		})
	}
	if stmts[0].CallsPerRequest != 0 {
		t.Error("NewWindow changed its argument")
	}
}

func TestMerge(t *testing.T) {
	round := func(calls int64, ms float64, requests float64) Window {
		return NewWindow([]Stmt{
			{DB: "kassa_order", QueryID: 1, Counters: Counters{Calls: calls, ExecMs: ms}},
			{DB: "kassa_user", QueryID: 1, Counters: Counters{Calls: calls, ExecMs: ms / 10}},
		}, 4, requests)
	}
	w := Merge(round(90, 9, 100), round(270, 45, 300))
	if w.Seconds != 8 || w.Requests != 400 || len(w.Statements) != 2 {
		t.Fatalf("merged window %+v", w)
	}
	s := w.Statements[0]
	if s.DB != "kassa_order" || s.Calls != 360 || !near(s.ExecMs, 54) || !near(s.CallsPerRequest, 0.9) || !near(s.MeanExecUs, 150) {
		t.Errorf("merged statement %+v: want 360 calls, 54 ms, 0.9 per request, 150 µs each", s)
	}
	if got := w.DB("kassa_user"); len(got) != 1 || got[0].Calls != 360 {
		t.Errorf("DB(kassa_user) = %+v", got)
	}
	if e := Merge(); e.Requests != 0 || len(e.Statements) != 0 {
		t.Errorf("Merge() = %+v, want an empty window", e)
	}
}

func TestServerSettingsLoadTheModule(t *testing.T) {
	s := ServerSettings()
	if s["shared_preload_libraries"] != "pg_stat_statements" || s["pg_stat_statements.track"] != "top" {
		t.Errorf("settings %v", s)
	}
	s["x"] = "y"
	if _, ok := ServerSettings()["x"]; ok {
		t.Error("ServerSettings returns a shared map")
	}
	if !slices.Contains([]string{"on", "off"}, s["pg_stat_statements.track_planning"]) {
		t.Errorf("track_planning %q", s["pg_stat_statements.track_planning"])
	}
}
