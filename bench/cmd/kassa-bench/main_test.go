package main

import (
	"errors"
	"flag"
	"fmt"
	"github.com/kassa-dev/kassa/bench/pgstat"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/bench/load"
	"github.com/kassa-dev/kassa/bench/pgstmt"
)

func noEnv(string) string { return "" }

func TestParseFlagsDefaultsAndSmoke(t *testing.T) {
	root := t.TempDir()
	c, err := parseFlags([]string{"kassa-bench", "-root", root}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.users != 200 || c.clients != 16 || c.smoke || c.out != filepath.Join(root, "bench", "result.json") ||
		c.largeUsers != 1_000_000 || c.largeHeavy != 100_000 || c.plansOut != filepath.Join(root, "docs", "benchmarks-plans.md") {
		t.Errorf("defaults: %+v", c)
	}
	if c.logs != filepath.Join(root, ".build", "bench-stack.log") {
		t.Errorf("logs = %q", c.logs)
	}

	c, err = parseFlags([]string{"kassa-bench", "-smoke", "-root", root, "-clients", "6"}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// Smoke shrinks what was not given, keeps what was, and writes no
	// result file unless asked.
	if c.users != 10 || c.clients != 6 || c.ceilingTime != 2*time.Second || c.out != "" || c.plansOut != "" || c.chartOut != "" {
		t.Errorf("smoke: users %d clients %d ceiling %v out %q %q %q", c.users, c.clients, c.ceilingTime, c.out, c.plansOut, c.chartOut)
	}
	// The large data set, scaled down but loaded.
	if c.largeUsers != 10_000 || c.largeHeavy != 2_000 {
		t.Errorf("smoke: large data %d users, heavy %d", c.largeUsers, c.largeHeavy)
	}

	c, err = parseFlags([]string{"kassa-bench"}, func(k string) string {
		if k == "KASSA_ROOT" {
			return root
		}
		return ""
	}, io.Discard)
	if err != nil || c.root != root {
		t.Errorf("KASSA_ROOT: root %q, err %v", c.root, err)
	}

	for _, bad := range [][]string{
		{"kassa-bench", "-root", root, "-factor", "1"},
		{"kassa-bench", "-root", root, "-users", "0"},
		{"kassa-bench", "-root", root, "extra"},
		{"kassa-bench", "-root", root, "-large-users", "1"},
		{"kassa-bench", "-root", root, "-list-samples", "0"},
		{"kassa-bench", "-no-such-flag"},
		{"kassa-bench", "-root", root, "-pg-setting", "commit_delay"},
		{"kassa-bench", "-root", root, "-pg-setting", "=100"},
		{"kassa-bench", "-root", root, "-pg-setting", "commit_delay="},
		{"kassa-bench", "-root", root, "-pg-setting", "work_mem=1 -c fsync=off"},
	} {
		if _, err := parseFlags(bad, noEnv, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted bad input", bad)
		}
	}
	c, err = parseFlags([]string{"kassa-bench", "-root", root, "-pg-setting", "commit_delay=100", "-pg-setting", "commit_siblings=2", "-pg-setting", "commit_delay=200"}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// Repeated settings add up, the last of one name wins, and the result
	// records them.
	if got, want := c.pgSettings.String(), "commit_delay=200 commit_siblings=2"; got != want {
		t.Errorf("-pg-setting: %q, want %q", got, want)
	}
	if got := c.public().PGSettings; got["commit_delay"] != "200" || len(got) != 2 {
		t.Errorf("recorded settings %v", got)
	}

	var help strings.Builder
	if _, err := parseFlags([]string{"kassa-bench", "-h"}, noEnv, &help); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "-smoke") {
		t.Errorf("-h: err %v, usage %q", err, help.String())
	}
}

func TestFindRootFromASubfolder(t *testing.T) {
	// This test runs in bench/cmd/kassa-bench of the repository.
	root, err := findRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "dev", "stack", "stack.go")); err != nil {
		t.Errorf("findRoot = %q, not the repository root: %v", root, err)
	}
}

func TestReadPostmasterPID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "postmaster.pid")
	content := "4242\n/tmp/x/pg/data\n1732540000\n54321\n/tmp/x/pg\n127.0.0.1\n  1234567     98765\nready   \n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	pid, port, err := readPostmasterPID(path)
	if err != nil || pid != 4242 || port != 54321 {
		t.Errorf("readPostmasterPID = %d, %d, %v; want 4242, 54321", pid, port, err)
	}
	if err := os.WriteFile(path, []byte("4242\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readPostmasterPID(path); err == nil {
		t.Error("a truncated postmaster.pid was accepted")
	}
}

func TestResultFinishChecksTheTargets(t *testing.T) {
	rec := func(rate, p50, p99, perS float64) *stepRecord {
		r := &stepRecord{Rate: rate}
		r.Result.Achieved = rate
		r.Result.Labels = map[string]*load.LabelStats{"order": {PerSecond: perS}}
		r.Result.Labels["order"].Latency.P50 = p50
		r.Result.Labels["order"].Latency.P99 = p99
		return r
	}
	r := &result{RSS: map[string]*rss{"gateway": {Rest: 20}, "order": {Rest: 30}, "postgres": {Rest: 120}}}
	r.Ceiling = &ceilingResult{}
	r.Ceiling.OrdersPerSecond = 1000
	r.REST = &peakResult{Best: rec(800, 0, 0, 720)}
	r.GRPC = &peakResult{Best: rec(900, 0, 0, 810)}
	r.Half = &halfResult{Rate: 400, REST: rec(400, 6, 18, 360), GRPC: rec(400, 4, 12, 360)}
	r.finish(false)
	if r.RESTOrdersPerS != 720 || r.GRPCOrdersPerS != 810 || r.RESTShareOfCeiling != 0.72 {
		t.Errorf("headline: %+v", r)
	}
	if r.GatewayLatencyRatio != 1.5 || r.RESTP99MsAtHalfPeak != 18 || r.GRPCP99MsAtHalfPeak != 12 {
		t.Errorf("half peak: ratio %v, p99 %v / %v", r.GatewayLatencyRatio, r.RESTP99MsAtHalfPeak, r.GRPCP99MsAtHalfPeak)
	}
	met := map[string]bool{}
	for _, tc := range r.Targets {
		met[tc.Target] = tc.Met
	}
	// 72% ≥ 70%: met; p99 18 and 12 < 20: met; ratio 1.5 > 1.3: not met;
	// largest service 30 MiB (PostgreSQL is not a service): met.
	want := map[string]bool{
		"REST orders/s ≥ 70% of the PostgreSQL ceiling": true,
		"p99 < 20 ms at half the peak (REST and gRPC)":  true,
		"REST p50 ≤ 1.3× direct gRPC p50":               false,
		"each service < 50 MiB RSS at rest":             true,
	}
	for k, v := range want {
		if got, ok := met[k]; !ok || got != v {
			t.Errorf("target %q: met=%v (present %v), want %v", k, got, ok, v)
		}
	}
}

// kassa's share is taken of the mean of the ceiling runs before and after
// the load, and both runs are listed.
func TestResultFinishAveragesTheCeilingRuns(t *testing.T) {
	tests := []struct {
		name         string
		runs         []float64
		wantMean     float64
		wantShare    float64
		wantUnsteady bool
	}{
		{"one run", []float64{1000}, 1000, 0.4, false},
		{"before and after", []float64{900, 1100}, 1000, 0.4, true},
		{"within the machine's usual spread", []float64{1000, 1100}, 1050, 400.0 / 1050, false},
		{"a slower second run lowers the ceiling", []float64{1000, 600}, 800, 0.5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &result{}
			r.Ceiling = &ceilingResult{}
			r.Ceiling.OrdersPerSecond = tt.runs[0]
			if len(tt.runs) > 1 {
				r.CeilingAgain = &ceilingResult{}
				r.CeilingAgain.OrdersPerSecond = tt.runs[1]
			}
			r.REST = &peakResult{Best: &stepRecord{}}
			r.REST.Best.Result.Labels = map[string]*load.LabelStats{"order": {PerSecond: 400}}
			r.finish(false)
			if r.PGCeilingOrdersPerS != tt.wantMean || r.RESTShareOfCeiling != tt.wantShare || !slices.Equal(r.PGCeilingRuns, tt.runs) {
				t.Errorf("ceiling %v of runs %v, REST share %v; want %v, %v, %v",
					r.PGCeilingOrdersPerS, r.PGCeilingRuns, r.RESTShareOfCeiling, tt.wantMean, tt.runs, tt.wantShare)
			}
			// A ceiling that moved by more than 15 % within the run marks
			// the machine's speed as having changed under the run.
			if r.Unsteady != tt.wantUnsteady {
				t.Errorf("unsteady = %v (drift %+.2f), want %v", r.Unsteady, r.CeilingDrift, tt.wantUnsteady)
			}
			var out strings.Builder
			r.printThroughput(func(format string, a ...any) { fmt.Fprintf(&out, format, a...) }, config{pgbenchMode: "prepared"})
			if got := strings.Contains(out.String(), "UNSTEADY"); got != tt.wantUnsteady {
				t.Errorf("report says unsteady: %v, want %v:\n%s", got, tt.wantUnsteady, out.String())
			}
		})
	}
}

func TestRepoPath(t *testing.T) {
	tests := []struct{ root, path, want string }{
		{"/src/kassa", "/src/kassa/.build/pprof/order.cpu.top.txt", ".build/pprof/order.cpu.top.txt"},
		{"/src/kassa", "/src/kassa/bench/../.build/x.txt", ".build/x.txt"},
		{"/src/kassa", "/elsewhere/x.txt", "/elsewhere/x.txt"},
		{"/src/kassa", "/src/kassa-other/x.txt", "/src/kassa-other/x.txt"},
	}
	for _, tt := range tests {
		if got := repoPath(tt.root, tt.path); got != tt.want {
			t.Errorf("repoPath(%q, %q) = %q, want %q", tt.root, tt.path, got, tt.want)
		}
	}
}

func TestServerMessage(t *testing.T) {
	err := "pg_ctl start: exit status 1\nwaiting for server to start.... stopped waiting\n" +
		`2026-11-25 16:20:11.456 UTC [20606] FATAL:  could not access file "pg_stat_statements": No such file or directory` + "\n"
	if got, want := serverMessage(err, "pg_stat_statements"), `could not access file "pg_stat_statements": No such file or directory`; got != want {
		t.Errorf("serverMessage = %q, want %q", got, want)
	}
	if got := serverMessage("no such line", "pg_stat_statements"); got != "" {
		t.Errorf("serverMessage without the word = %q", got)
	}
}

func TestPrintStatements(t *testing.T) {
	window := func(db, query string, calls int64, ms, requests float64) *pgstmt.Window {
		w := pgstmt.NewWindow([]pgstmt.Stmt{{DB: db, QueryID: 1, Query: query, Counters: pgstmt.Counters{Calls: calls, ExecMs: ms}}}, 4, requests)
		return &w
	}
	const find = "SELECT id, user_id FROM orders WHERE user_id = $1 AND request_id = $2"
	obs := func(w *pgstmt.Window) observed { return observed{stmts: w} }
	for _, c := range []struct {
		name string
		r    *result
		want []string // lines of the output, in order
		none []string
	}{
		{
			name: "REST peak beside the ceiling",
			r: &result{
				Ceiling: &ceilingResult{Observed: obs(window("kassa_bench", "SELECT id, user_id FROM orders WHERE user_id = ($3 || $1)::uuid AND request_id = $2", 900, 45, 1000))},
				REST:    &peakResult{Best: &stepRecord{Observed: obs(window("kassa_order", find, 90, 18, 100))}},
			},
			want: []string{
				"PostgreSQL statements at the REST peak vs the ceiling",
				"kassa_order: 180 µs of execution per request; the same statements in the ceiling 45 µs",
				"  SELECT … FROM orders WHERE user_id = $1 AND request_id = $2",
				"0.90    200.0  100%     0.90     50.0  100%",
				"all statements, µs per request",
			},
			none: []string{"only in the ceiling"},
		},
		{
			name: "smoke: the REST step; the ceiling's own statement listed apart",
			r: &result{
				Ceiling: &ceilingResult{Observed: obs(window("kassa_bench", "UPDATE accounts SET balance = $1", 910, 20, 1000))},
				Smoke:   []*stepRecord{{Target: "rest", Observed: obs(window("kassa_order", find, 90, 18, 100))}},
			},
			want: []string{"at the REST smoke step vs the ceiling", "only in the ceiling\n  UPDATE accounts SET balance = $1"},
		},
		{
			name: "unavailable: one line",
			r:    &result{PGStatements: &pgStatements{Unavailable: "the server cannot load pg_stat_statements: could not access file"}},
			want: []string{"PostgreSQL statements: none, the server cannot load pg_stat_statements"},
			none: []string{"per request"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.r.PGStatements == nil {
				c.r.PGStatements = &pgStatements{}
			}
			c.r.collectStatements()
			var out strings.Builder
			c.r.printStatements(&out)
			s := out.String()
			at := 0
			for _, w := range c.want {
				i := strings.Index(s[at:], w)
				if i < 0 {
					t.Fatalf("output lacks %q (after offset %d):\n%s", w, at, s)
				}
				at += i + len(w)
			}
			for _, n := range c.none {
				if strings.Contains(s, n) {
					t.Errorf("output has %q:\n%s", n, s)
				}
			}
			for _, line := range strings.Split(s, "\n") {
				if strings.HasSuffix(line, " ") {
					t.Errorf("trailing space in %q", line)
				}
			}
		})
	}
}

func TestObservedAutovacuum(t *testing.T) {
	o := observed{Activity: pgstat.Activity{ByDatabase: map[string]map[string]float64{
		"kassa_order":   {"active (on CPU)": 1.5, "autovacuum (VACUUM orders)": 0.25, "autovacuum (ANALYZE order_letters)": 0.1},
		"kassa_billing": {"idle (no transaction, waiting for the service)": 16},
	}}}
	if got, want := o.autovacuum(), "autovacuum: ANALYZE order_letters 0.10, VACUUM orders 0.25"; got != want {
		t.Errorf("autovacuum() = %q, want %q", got, want)
	}
	if got := (observed{}).autovacuum(); got != "" {
		t.Errorf("no passes: %q, want empty", got)
	}
}

func TestObservedCheckpoint(t *testing.T) {
	o := observed{Activity: pgstat.Activity{ByDatabase: map[string]map[string]float64{
		pgstat.CheckpointerKey: {"checkpoint (writing)": 0.6, "checkpoint (syncing files)": 0.05},
		"kassa_order":          {"autovacuum (VACUUM orders)": 0.25},
	}}}
	if got, want := o.checkpoint(), "checkpoint: syncing files 0.05, writing 0.60"; got != want {
		t.Errorf("checkpoint() = %q, want %q", got, want)
	}
	if got := (observed{}).checkpoint(); got != "" {
		t.Errorf("no checkpoint: %q, want empty", got)
	}
	if line := o.cpuLine(); !strings.HasSuffix(line, "autovacuum: VACUUM orders 0.25 checkpoint: syncing files 0.05, writing 0.60") {
		t.Errorf("cpuLine() = %q, want the autovacuum pass, then the checkpoint", line)
	}
}
