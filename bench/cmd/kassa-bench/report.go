package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kassa-dev/kassa/bench/ceiling"
	"github.com/kassa-dev/kassa/bench/load"
	"github.com/kassa-dev/kassa/bench/pgstat"
	"github.com/kassa-dev/kassa/bench/pgstmt"
	"github.com/kassa-dev/kassa/bench/profile"
	"github.com/kassa-dev/kassa/bench/verify"
)

// The targets of issue 8 on a 2-core machine.
const (
	targetShareOfCeiling = 0.70
	targetP99Ms          = 20.0
	targetGatewayRatio   = 1.3
	targetRestRSSMiB     = 50.0
)

// result is bench/result.json.
type result struct {
	// The headline numbers.
	// PGCeilingOrdersPerS is the mean of the ceiling's runs (before and,
	// unless -ceiling-twice=false, after the load), listed in PGCeilingRuns.
	PGCeilingOrdersPerS  float64                     `json:"pg_ceiling_orders_per_s"`
	PGCeilingRuns        []float64                   `json:"pg_ceiling_runs_orders_per_s,omitempty"`
	RESTOrdersPerS       float64                     `json:"rest_orders_per_s"`
	GRPCOrdersPerS       float64                     `json:"grpc_orders_per_s"`
	RESTShareOfCeiling   float64                     `json:"rest_share_of_ceiling"`
	RESTMaxOrdersPerS    float64                     `json:"rest_max_served_orders_per_s"`
	GRPCMaxOrdersPerS    float64                     `json:"grpc_max_served_orders_per_s"`
	PGCeilingExtended    float64                     `json:"pg_ceiling_extended_orders_per_s,omitempty"`
	GRPCShareOfCeiling   float64                     `json:"grpc_share_of_ceiling"`
	HalfPeakRequestsPerS float64                     `json:"half_peak_requests_per_s"`
	RESTP50MsAtHalfPeak  float64                     `json:"rest_p50_ms_at_half_peak"`
	GRPCP50MsAtHalfPeak  float64                     `json:"grpc_p50_ms_at_half_peak"`
	RESTP99MsAtHalfPeak  float64                     `json:"rest_p99_ms_at_half_peak"`
	GRPCP99MsAtHalfPeak  float64                     `json:"grpc_p99_ms_at_half_peak"`
	GatewayLatencyRatio  float64                     `json:"gateway_latency_ratio"`
	GatewayP99Ratio      float64                     `json:"gateway_p99_ratio"`
	RSS                  map[string]*rss             `json:"rss_mib"`
	Errors               map[string]map[string]int64 `json:"errors"`
	Correct              bool                        `json:"correct"`
	Verify               verify.Report               `json:"verify"`
	Retried              int                         `json:"retried_requests"`
	RetryFailed          int                         `json:"retries_still_failing"`
	Targets              []targetCheck               `json:"targets,omitempty"`
	Machine              machine                     `json:"machine"`
	Config               publicConfig                `json:"config"`
	Seconds              float64                     `json:"seconds"`
	Ceiling              *ceilingResult              `json:"ceiling"`
	CeilingExtended      *ceilingResult              `json:"ceiling_extended,omitempty"`
	CeilingAgain         *ceilingResult              `json:"ceiling_again,omitempty"`
	Profiles             map[string]string           `json:"profiles,omitempty"`
	// ProfileShares is each process's CPU profile at the REST peak summed
	// by kind of work (see package profile), as fractions.
	ProfileShares map[string]map[string]float64 `json:"profile_shares,omitempty"`
	REST          *peakResult                   `json:"rest_search,omitempty"`
	GRPC          *peakResult                   `json:"grpc_search,omitempty"`
	Half          *halfResult                   `json:"half_peak,omitempty"`
	Smoke         []*stepRecord                 `json:"smoke,omitempty"`
	PGStatements  *pgStatements                 `json:"pg_statements,omitempty"`
	Note          string                        `json:"note,omitempty"`
}

// pgStatements is what pg_stat_statements saw in the windows that matter.
type pgStatements struct {
	// Settings are the server settings the bench started the cluster
	// with to load it.
	Settings map[string]string `json:"settings,omitempty"`
	// Unavailable says why the run has no statements: turned off, or the
	// server could not load pg_stat_statements.
	Unavailable string `json:"unavailable,omitempty"`
	// Error is the failed read that ended the statements mid-run.
	Error string `json:"error,omitempty"`
	// Windows by name: ceiling, ceiling_extended, rest_peak, grpc_peak,
	// rest_half_peak, grpc_half_peak; with -smoke ceiling, smoke_rest and
	// smoke_grpc.
	Windows map[string]*pgstmt.Window `json:"windows,omitempty"`
}

type rss struct {
	Rest      float64 `json:"rest"`
	Peak      float64 `json:"peak"`
	AfterLoad float64 `json:"after_load"`
}

type machine struct {
	Cores        int     `json:"cores"`
	CPUModel     string  `json:"cpu_model"`
	MemoryGiB    float64 `json:"memory_gib"`
	Kernel       string  `json:"kernel"`
	PostgreSQL   string  `json:"postgresql_version"`
	Go           string  `json:"go_version"`
	LoadAvgStart string  `json:"load_average_start"`
	LoadAvgEnd   string  `json:"load_average_end"`
	Date         string  `json:"date"`
}

type publicConfig struct {
	Smoke        bool    `json:"smoke"`
	Users        int     `json:"users"`
	Clients      int     `json:"clients"`
	DepositShare float64 `json:"deposit_share"`
	RejectShare  float64 `json:"reject_share"`
	Seed         uint64  `json:"seed"`
	TimeoutS     float64 `json:"request_timeout_s"`
	CeilingS     float64 `json:"ceiling_s"`
	PGBenchMode  string  `json:"pgbench_mode"`
	StepWarmupS  float64 `json:"step_warmup_s"`
	StepS        float64 `json:"step_s"`
	Factor       float64 `json:"factor"`
	P99LimitMs   float64 `json:"p99_limit_ms"`
	HalfS        float64 `json:"half_peak_s"`
	Durable      bool    `json:"fsync"`
	PGParams     string  `json:"pg_params,omitempty"`
	// PGStatements: the cluster was asked to load pg_stat_statements
	// (pg_statements says whether it did).
	PGStatements bool `json:"pg_stat_statements"`
}

func (c config) public() publicConfig {
	return publicConfig{
		Smoke: c.smoke, Users: c.users, Clients: c.clients, DepositShare: c.depositShare, RejectShare: c.rejectShare,
		Seed: c.seed, TimeoutS: c.timeout.Seconds(), CeilingS: c.ceilingTime.Seconds(), PGBenchMode: c.pgbenchMode,
		StepWarmupS: c.warmup.Seconds(), StepS: c.step.Seconds(), Factor: c.factor, P99LimitMs: ms(c.p99Limit),
		HalfS: c.halfTime.Seconds(), Durable: true, PGParams: c.pgParams, PGStatements: c.pgStatements,
	}
}

type ceilingResult struct {
	ceiling.Result
	Observed observed `json:"observed"`
}

type peakResult struct {
	Best  *stepRecord   `json:"best"`
	Steps []*stepRecord `json:"steps"`
}

type halfResult struct {
	Rate float64     `json:"rate"`
	REST *stepRecord `json:"rest"`
	GRPC *stepRecord `json:"grpc"`
	// Rounds are the runs REST and GRPC merge.
	Rounds []*stepRecord `json:"rounds"`
}

// stepRecord is one load run at one rate, with what was observed meanwhile.
type stepRecord struct {
	Target   string      `json:"target"`
	Phase    string      `json:"phase"`
	Rate     float64     `json:"rate"`
	Good     bool        `json:"good,omitempty"`
	Why      string      `json:"why,omitempty"`
	Result   load.Result `json:"result"`
	Observed observed    `json:"observed"`
}

func (r *stepRecord) order() load.LabelStats {
	if r == nil {
		return load.LabelStats{}
	}
	if l := r.Result.Labels["order"]; l != nil {
		return *l
	}
	return load.LabelStats{}
}

// observed is what the machine did during a measured window.
type observed struct {
	// CPU is cores busy on average, by process (of 2 on this machine).
	CPU map[string]float64 `json:"cpu_cores"`
	// Other is the CPU the rest of the machine used: noise.
	Other float64 `json:"other_cpu_cores"`
	// PerRequest is milliseconds of CPU per request served, by process:
	// the cost of one request, which other work on the machine distorts
	// far less than the throughput.
	PerRequest map[string]float64 `json:"cpu_ms_per_request,omitempty"`
	// ReadsPerRequest counts the read system calls of each Go process per
	// request served: about two per network round trip (the first read
	// finds the socket empty, the second follows the poller's wake-up).
	ReadsPerRequest map[string]float64 `json:"read_syscalls_per_request,omitempty"`
	reads           map[string]float64 // per second
	Machine         machineCPU         `json:"machine_cpu_cores"`
	PG              pgstat.Rates       `json:"postgres"`
	Activity        pgstat.Activity    `json:"backend_activity"`
	// stmts is pg_stat_statements over the window; the chosen windows go
	// to result.json's pg_statements, not every step's.
	stmts *pgstmt.Window
}

// stmtsPer sets the statements' per-request numbers, requests having
// been served in the window.
func (o *observed) stmtsPer(requests float64) {
	if o.stmts != nil {
		w := pgstmt.NewWindow(o.stmts.Statements, o.stmts.Seconds, requests)
		o.stmts = &w
	}
}

// costPer fills PerRequest for perSecond requests served per second.
func (o *observed) costPer(perSecond float64) {
	if perSecond <= 0 {
		return
	}
	o.PerRequest = map[string]float64{}
	var total float64
	for name, cores := range o.CPU {
		o.PerRequest[name] = 1000 * cores / perSecond
		total += o.PerRequest[name]
	}
	o.PerRequest["total"] = total
	if len(o.reads) > 0 {
		o.ReadsPerRequest = map[string]float64{}
		for name, n := range o.reads {
			o.ReadsPerRequest[name] = n / perSecond
		}
	}
}

// readsLine renders ReadsPerRequest in process order.
func (o observed) readsLine() string {
	var parts []string
	for _, n := range processNames {
		if v, ok := o.ReadsPerRequest[n]; ok && v >= 0.05 {
			parts = append(parts, fmt.Sprintf("%s %.1f", n, v))
		}
	}
	return strings.Join(parts, ", ")
}

// costLine renders PerRequest, largest first.
func (o observed) costLine() string {
	names := slices.Collect(maps.Keys(o.PerRequest))
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "total") != (names[j] == "total") {
			return names[i] == "total"
		}
		return o.PerRequest[names[i]] > o.PerRequest[names[j]]
	})
	var parts []string
	for _, n := range names {
		if o.PerRequest[n] >= 0.005 {
			parts = append(parts, fmt.Sprintf("%s %.2f", n, o.PerRequest[n]))
		}
	}
	return strings.Join(parts, ", ")
}

type machineCPU struct {
	Busy   float64 `json:"busy"`
	IOWait float64 `json:"iowait"`
	Idle   float64 `json:"idle"`
	Steal  float64 `json:"steal"`
}

func (o observed) cpuLine() string {
	names := slices.Collect(maps.Keys(o.CPU))
	sort.Slice(names, func(i, j int) bool { return o.CPU[names[i]] > o.CPU[names[j]] })
	var parts []string
	for _, n := range names {
		if o.CPU[n] >= 0.005 {
			parts = append(parts, fmt.Sprintf("%s %.2f", n, o.CPU[n]))
		}
	}
	return fmt.Sprintf("[%s; other work %.2f; machine %.2f busy, %.2f idle]", strings.Join(parts, ", "), o.Other, o.Machine.Busy, o.Machine.Idle)
}

type targetCheck struct {
	Target string `json:"target"`
	Met    bool   `json:"met"`
	Value  string `json:"value"`
}

func machineFacts() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now().UTC().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %f kB", &kb); err == nil {
			m.MemoryGiB = kb / (1 << 20)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		m.Go = strings.TrimSpace(string(out)) // the toolchain that builds the services
	}
	return m
}

// finish derives the headline numbers.
func (r *result) finish(smoke bool) {
	r.Errors = map[string]map[string]int64{}
	addErrs := func(phase string, rec *stepRecord) {
		if rec == nil {
			return
		}
		if e := rec.Result.Errors(); len(e) > 0 {
			if r.Errors[phase] == nil {
				r.Errors[phase] = map[string]int64{}
			}
			for k, v := range e {
				r.Errors[phase][k] += v
			}
		}
	}
	r.PGCeilingRuns = nil
	for _, c := range []*ceilingResult{r.Ceiling, r.CeilingAgain} {
		if c != nil {
			r.PGCeilingRuns = append(r.PGCeilingRuns, c.OrdersPerSecond)
		}
	}
	r.PGCeilingOrdersPerS = mean(r.PGCeilingRuns)
	for _, s := range r.Smoke {
		addErrs("smoke_"+s.Target, s)
	}
	r.collectStatements()
	if smoke {
		r.Note = "smoke run: a few seconds at a low rate; it checks correctness and measures nothing"
		return
	}
	if r.CeilingExtended != nil {
		r.PGCeilingExtended = r.CeilingExtended.OrdersPerSecond
	}
	if r.REST != nil {
		r.RESTOrdersPerS = r.REST.Best.order().PerSecond
		for _, s := range r.REST.Steps {
			addErrs("rest_search", s)
			r.RESTMaxOrdersPerS = max(r.RESTMaxOrdersPerS, s.order().PerSecond)
		}
	}
	if r.GRPC != nil {
		r.GRPCOrdersPerS = r.GRPC.Best.order().PerSecond
		for _, s := range r.GRPC.Steps {
			addErrs("grpc_search", s)
			r.GRPCMaxOrdersPerS = max(r.GRPCMaxOrdersPerS, s.order().PerSecond)
		}
	}
	if r.PGCeilingOrdersPerS > 0 {
		r.RESTShareOfCeiling = r.RESTOrdersPerS / r.PGCeilingOrdersPerS
		r.GRPCShareOfCeiling = r.GRPCOrdersPerS / r.PGCeilingOrdersPerS
	}
	if h := r.Half; h != nil {
		r.HalfPeakRequestsPerS = h.Rate
		rl, gl := h.REST.order().Latency, h.GRPC.order().Latency
		r.RESTP50MsAtHalfPeak, r.GRPCP50MsAtHalfPeak = rl.P50, gl.P50
		r.RESTP99MsAtHalfPeak, r.GRPCP99MsAtHalfPeak = rl.P99, gl.P99
		if gl.P50 > 0 {
			r.GatewayLatencyRatio = rl.P50 / gl.P50
		}
		if gl.P99 > 0 {
			r.GatewayP99Ratio = rl.P99 / gl.P99
		}
		addErrs("rest_half_peak", h.REST)
		addErrs("grpc_half_peak", h.GRPC)
	}
	maxRest, maxName := 0.0, ""
	for _, n := range []string{"gateway", "user", "billing", "order", "notification"} {
		if v := r.RSS[n]; v != nil && v.Rest > maxRest {
			maxRest, maxName = v.Rest, n
		}
	}
	r.Targets = []targetCheck{
		{"REST orders/s ≥ 70% of the PostgreSQL ceiling", r.RESTShareOfCeiling >= targetShareOfCeiling,
			fmt.Sprintf("%.0f%% (%.1f of %.1f orders/s)", 100*r.RESTShareOfCeiling, r.RESTOrdersPerS, r.PGCeilingOrdersPerS)},
		{"p99 < 20 ms at half the peak (REST and gRPC)", r.Half != nil && r.RESTP99MsAtHalfPeak < targetP99Ms && r.GRPCP99MsAtHalfPeak < targetP99Ms,
			fmt.Sprintf("REST %.1f ms, gRPC %.1f ms", r.RESTP99MsAtHalfPeak, r.GRPCP99MsAtHalfPeak)},
		{"REST p50 ≤ 1.3× direct gRPC p50", r.Half != nil && r.GatewayLatencyRatio <= targetGatewayRatio,
			fmt.Sprintf("%.2f× (%.2f vs %.2f ms)", r.GatewayLatencyRatio, r.RESTP50MsAtHalfPeak, r.GRPCP50MsAtHalfPeak)},
		{"each service < 50 MiB RSS at rest", maxRest > 0 && maxRest < targetRestRSSMiB,
			fmt.Sprintf("largest %s %.1f MiB", maxName, maxRest)},
	}
}

// collectStatements keeps the statements of the windows the summary
// compares, and those of the other peak and the half peak.
func (r *result) collectStatements() {
	ps := r.PGStatements
	if ps == nil {
		return
	}
	add := func(name string, o *observed) {
		if o.stmts != nil {
			if ps.Windows == nil {
				ps.Windows = map[string]*pgstmt.Window{}
			}
			ps.Windows[name] = o.stmts
		}
	}
	if r.Ceiling != nil {
		add("ceiling", &r.Ceiling.Observed)
	}
	if r.CeilingExtended != nil {
		add("ceiling_extended", &r.CeilingExtended.Observed)
	}
	if r.REST != nil && r.REST.Best != nil {
		add("rest_peak", &r.REST.Best.Observed)
	}
	if r.GRPC != nil && r.GRPC.Best != nil {
		add("grpc_peak", &r.GRPC.Best.Observed)
	}
	if r.Half != nil {
		if r.Half.REST != nil {
			add("rest_half_peak", &r.Half.REST.Observed)
		}
		if r.Half.GRPC != nil {
			add("grpc_half_peak", &r.Half.GRPC.Observed)
		}
	}
	for _, s := range r.Smoke {
		add("smoke_"+s.Target, &s.Observed)
	}
}

func (r *result) smokeErrors() int64 {
	var n int64
	for _, s := range r.Smoke {
		n += s.Result.ErrorCount() + s.Result.Unsent
	}
	return n
}

func (r *result) write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// print writes the summary table.
func (r *result) print(w io.Writer, c config) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	m := r.Machine
	p("\n== kassa benchmark ==\n")
	p("machine     %d cores (%s), %.0f GiB, Linux %s; PostgreSQL %s (fsync on); %s\n", m.Cores, m.CPUModel, m.MemoryGiB, m.Kernel, m.PostgreSQL, m.Go)
	p("load avg    %s at start, %s at end (other work on the machine skews the numbers)\n", m.LoadAvgStart, m.LoadAvgEnd)
	p("workload    %d users, %d clients, %.0f%% deposits, %.0f%% of orders rejected; took %.0fs\n",
		c.users, c.clients, 100*c.depositShare, 100*c.rejectShare, r.Seconds)
	if r.Note != "" {
		p("note        %s\n", r.Note)
	}
	p("\n%-44s %12s %12s\n", "throughput", "orders/s", "of ceiling")
	share := func(v float64) float64 {
		if r.PGCeilingOrdersPerS == 0 {
			return 0
		}
		return 100 * v / r.PGCeilingOrdersPerS
	}
	if r.Ceiling != nil {
		p("%-44s %12.1f %11.0f%%\n", fmt.Sprintf("PostgreSQL ceiling (pgbench -M %s)", c.pgbenchMode), r.PGCeilingOrdersPerS, 100.0)
		if len(r.PGCeilingRuns) > 1 {
			p("%-44s %12s\n", "  mean of: before the load / after it", fmt.Sprintf("%.1f / %.1f", r.PGCeilingRuns[0], r.PGCeilingRuns[1]))
		}
	}
	if r.CeilingExtended != nil {
		p("%-44s %12.1f %11.0f%%\n", "  same, statements not prepared (-M extended)", r.PGCeilingExtended, share(r.PGCeilingExtended))
	}
	if r.REST != nil {
		p("%-44s %12.1f %11.0f%%\n", "REST through the gateway, peak", r.RESTOrdersPerS, share(r.RESTOrdersPerS))
		p("%-44s %12.1f %11.0f%%\n", "  most served in any step (p99 unbounded)", r.RESTMaxOrdersPerS, share(r.RESTMaxOrdersPerS))
	}
	if r.GRPC != nil {
		p("%-44s %12.1f %11.0f%%\n", "direct gRPC, peak", r.GRPCOrdersPerS, share(r.GRPCOrdersPerS))
		p("%-44s %12.1f %11.0f%%\n", "  most served in any step (p99 unbounded)", r.GRPCMaxOrdersPerS, share(r.GRPCMaxOrdersPerS))
	}
	if r.REST != nil {
		p("(peak: the highest offered rate served in full with no errors and order p99 ≤ %.0f ms)\n", ms(c.p99Limit))
	}
	latency := func(name string, rec *stepRecord) {
		l := rec.order().Latency
		p("%-36s %7.2f %7.2f %7.2f %7.2f %7.2f %8d\n", name, l.P50, l.P90, l.P99, l.P999, l.Max, l.Count)
	}
	if h := r.Half; h != nil {
		p("\nlatency at half the REST peak (%.1f requests/s), ms\n", h.Rate)
		p("%-36s %7s %7s %7s %7s %7s %8s\n", "", "p50", "p90", "p99", "p99.9", "max", "orders")
		latency("REST", h.REST)
		latency("gRPC", h.GRPC)
		p("%-36s %.2f× at p50, %.2f× at p99\n", "gateway latency ratio (REST/gRPC)", r.GatewayLatencyRatio, r.GatewayP99Ratio)
	}
	if len(r.Smoke) > 0 {
		p("\nsmoke load, ms\n%-36s %7s %7s %7s %7s %7s %8s\n", "", "p50", "p90", "p99", "p99.9", "max", "orders")
		for _, s := range r.Smoke {
			latency(fmt.Sprintf("%s at %.0f requests/s", s.Target, s.Rate), s)
		}
	}
	p("\n%-36s %10s %10s %10s\n", "resident memory, MiB", "at rest", "at peak", "after")
	for _, n := range processNames {
		if v := r.RSS[n]; v != nil {
			name := n
			if n == "postgres" {
				name = "postgres (PSS of all its processes)"
			}
			p("%-36s %10.1f %10s %10.1f\n", name, v.Rest, orDash(v.Peak), v.AfterLoad)
		}
	}
	cpu := func(name string, o observed) {
		p("%-36s %s\n", name, o.cpuLine())
		if len(o.PerRequest) > 0 {
			p("%-36s ms of CPU per request: %s\n", "", o.costLine())
		}
		if o.readsLine() != "" {
			p("%-36s read syscalls per request (≈2 per round trip): %s\n", "", o.readsLine())
		}
		if o.PG.CommitsPerS > 0 {
			p("%-36s %.0f commits/s, %.0f WAL flushes/s of %.2f ms (%.1f commits per flush), %.1f MiB/s WAL\n", "", o.PG.CommitsPerS, o.PG.WALSyncsPerS, o.PG.SyncMs, o.PG.CommitsPerSync, o.PG.WALMiBPerS)
		}
	}
	p("\nCPU, cores busy on average (of %d)\n", m.Cores)
	if r.Ceiling != nil {
		cpu("pgbench ceiling", r.Ceiling.Observed)
	}
	if r.CeilingAgain != nil {
		cpu("pgbench ceiling, after the load", r.CeilingAgain.Observed)
	}
	if r.CeilingExtended != nil {
		cpu("pgbench -M extended", r.CeilingExtended.Observed)
	}
	if r.REST != nil && r.REST.Best != nil {
		cpu("REST at its peak", r.REST.Best.Observed)
	}
	if r.GRPC != nil && r.GRPC.Best != nil {
		cpu("gRPC at its peak", r.GRPC.Best.Observed)
	}
	if r.Half != nil {
		cpu("REST at half the peak", r.Half.REST.Observed)
		cpu("gRPC at half the peak", r.Half.GRPC.Observed)
	}
	if len(r.ProfileShares) > 0 {
		p("\nCPU profiles at the REST peak, share of each process's CPU by kind of work\n")
		for _, n := range processNames {
			if m := r.ProfileShares[n]; m != nil {
				names := slices.Collect(maps.Keys(m))
				sort.Slice(names, func(i, j int) bool { return m[names[i]] > m[names[j]] })
				var parts []string
				for _, k := range names {
					parts = append(parts, fmt.Sprintf("%s %.0f%%", k, 100*m[k]))
				}
				p("  %-12s %s\n", n, strings.Join(parts, ", "))
			}
		}
	}
	if r.REST != nil && r.REST.Best != nil {
		p("\nPostgreSQL backends at the REST peak (average number in each state)\n")
		for _, line := range r.REST.Best.Observed.Activity.Lines() {
			p("  %s\n", line)
		}
	}
	r.printStatements(w)
	p("\nerrors      ")
	if len(r.Errors) == 0 {
		p("none\n")
	} else {
		for _, phase := range slices.Sorted(maps.Keys(r.Errors)) {
			p("%s: %s; ", phase, strings.Join(load.Codes(r.Errors[phase]), ", "))
		}
		p("\n            (past-the-peak search steps may fail by design; failed requests are retried with their keys before the check)\n")
	}
	v := r.Verify
	p("correctness %d orders (%d paid, %d rejected), %d letters, %d deposits; balances %d = deposits %d − paid %d: ",
		v.Orders, v.Paid, v.Rejected, v.Letters, v.Deposits, v.BalanceSum, v.DepositSum, v.PaidSum)
	if r.Correct {
		p("CORRECT\n")
	} else {
		p("WRONG\n")
		for _, pr := range v.Problems {
			p("  ✗ %s\n", pr)
		}
	}
	if len(r.Targets) > 0 {
		p("\ntargets (issue 8)\n")
		for _, t := range r.Targets {
			mark := "not met"
			if t.Met {
				mark = "met"
			}
			p("  %-48s %-8s %s\n", t.Target, mark, t.Value)
		}
	}
	p("\n")
}

// Statements shown per database, the ceiling's own statements shown when
// they take at least stmtMinShare of its statement time, and the width of
// a statement's text.
const (
	stmtsPerDB   = 8
	stmtMinShare = 0.005
	stmtWidth    = 62
)

// printStatements prints kassa's statements at the REST peak (in a smoke
// run, the REST step) next to the same statements in the ceiling, per
// request: calls, mean execution time and share of all statement time.
func (r *result) printStatements(w io.Writer) {
	p := func(format string, args ...any) {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf(format, args...), " "))
	}
	ps := r.PGStatements
	switch {
	case ps == nil:
		return
	case ps.Unavailable != "":
		p("\nPostgreSQL statements: none, %s", ps.Unavailable)
		return
	case ps.Error != "":
		p("\nPostgreSQL statements: pg_stat_statements failed (%s)", ps.Error)
	}
	name, label := "rest_peak", "REST peak"
	if len(r.Smoke) > 0 {
		name, label = "smoke_rest", "REST smoke step"
	}
	a, b := ps.Windows[name], ps.Windows["ceiling"]
	if a == nil || b == nil {
		return
	}
	side := func(s *pgstmt.Side) string {
		if s == nil {
			return fmt.Sprintf("%6s %8s %5s", "-", "-", "-")
		}
		return fmt.Sprintf("%6.2f %8.1f %4.0f%%", s.CallsPerRequest, s.MeanExecUs, 100*s.Share)
	}
	p("\nPostgreSQL statements at the %s vs the ceiling, per request (pg_stat_statements; matched by text)", label)
	p("%-*s   %-21s   %-21s", stmtWidth+2, "", label, "ceiling")
	p("%-*s   %6s %8s %5s   %6s %8s %5s", stmtWidth+2, "", "calls", "mean µs", "share", "calls", "mean µs", "share")
	rows := pgstmt.Compare(*a, *b)
	for i := 0; i < len(rows); {
		db := rows[i].DB
		j := i
		var aMs, bMs float64
		for ; j < len(rows) && rows[j].DB == db; j++ {
			if rows[j].A != nil {
				aMs += rows[j].A.ExecMs
			}
			if rows[j].B != nil {
				bMs += rows[j].B.ExecMs
			}
		}
		group := rows[i:j]
		i = j
		var show []pgstmt.Row
		hidden, hiddenShare := 0, 0.0
		for _, row := range group {
			if (db != "" && len(show) < stmtsPerDB) || (db == "" && row.B.Share >= stmtMinShare) {
				show = append(show, row)
				continue
			}
			hidden++
			if row.A != nil {
				hiddenShare += row.A.Share
			} else {
				hiddenShare += row.B.Share
			}
		}
		switch {
		case db != "":
			p("%s: %.0f µs of execution per request; the same statements in the ceiling %.0f µs", db, perRequestUs(aMs, a), perRequestUs(bMs, b))
		case len(show) == 0:
			p("only in the ceiling: %d statements, each under %.1f%% of its time", hidden, 100*stmtMinShare)
			continue
		default:
			p("only in the ceiling")
		}
		for _, row := range show {
			p("  %-*s   %s   %s", stmtWidth, pgstmt.Shorten(row.Query, stmtWidth), side(row.A), side(row.B))
		}
		if hidden > 0 {
			p("  (%d more, %.1f%% of the time together)", hidden, 100*hiddenShare)
		}
	}
	p("%-*s   %-21s   %-21s", stmtWidth+2, "all statements, µs per request",
		fmt.Sprintf("exec %.0f, plan %.0f", a.ExecUsPerRequest, a.PlanUsPerRequest),
		fmt.Sprintf("exec %.0f, plan %.0f", b.ExecUsPerRequest, b.PlanUsPerRequest))
	p("(BEGIN, COMMIT and ROLLBACK are not matched: a prepared one counts only at its first execution)")
}

// perRequestUs is ms of execution in window w in µs per request.
func perRequestUs(ms float64, w *pgstmt.Window) float64 {
	if w.Requests <= 0 {
		return 0
	}
	return 1000 * ms / w.Requests
}

func orDash(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

func (r *result) setBreakdown(name string, b profile.Breakdown) {
	if r.ProfileShares == nil {
		r.ProfileShares = map[string]map[string]float64{}
	}
	m := map[string]float64{}
	for k := range b.By {
		m[k] = b.Share(k)
	}
	r.ProfileShares[name] = m
}

// mean is the arithmetic mean of xs, 0 for none.
func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}
