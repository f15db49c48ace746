package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/kassa-dev/kassa/bench/ceiling"
	"github.com/kassa-dev/kassa/bench/load"
	"github.com/kassa-dev/kassa/bench/profile"
	"github.com/kassa-dev/kassa/bench/verify"
)

// The targets of issue 8 on a 2-core machine.
const (
	targetShareOfCeiling = 0.70
	targetP99Ms          = 20.0
	targetGatewayRatio   = 1.3
	targetRestRSSMiB     = 50.0
	// unsteadyDrift is the change of the ceiling within one run beyond
	// which the run is marked unsteady: the two runs of one quiet
	// machine's ceiling stay within about ±10 % of each other.
	unsteadyDrift = 0.15
)

// result is bench/result.json.
type result struct {
	// The headline numbers.
	// PGCeilingOrdersPerS is the mean of the ceiling's runs (before and,
	// unless -ceiling-twice=false, after the load), listed in PGCeilingRuns.
	PGCeilingOrdersPerS float64   `json:"pg_ceiling_orders_per_s"`
	PGCeilingRuns       []float64 `json:"pg_ceiling_runs_orders_per_s,omitempty"`
	// CeilingDrift is how far the ceiling after the load moved from the
	// one before it (after ÷ before − 1): the machine's own speed changing
	// during the run, as a shared host's does. Unsteady is set past
	// unsteadyDrift: the comparisons across the run's phases (the two
	// modes, the two data sizes) then carry that change, and only the
	// ratios within one phase mean much.
	CeilingDrift         float64                     `json:"ceiling_drift,omitempty"`
	Unsteady             bool                        `json:"machine_unsteady,omitempty"`
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
	VerifyHot            *verify.Report              `json:"verify_hot_account,omitempty"`
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
	HotAccount    *peakResult                   `json:"hot_account_search,omitempty"`
	Large         *largeResult                  `json:"large_data,omitempty"`
	Smoke         []*stepRecord                 `json:"smoke,omitempty"`
	PGStatements  *pgStatements                 `json:"pg_statements,omitempty"`
	Note          string                        `json:"note,omitempty"`
	// The overload figures (overload.go), at the top level of the JSON.
	overloadFigures
	// The all-in-one figures (allinone.go), at the top level of the JSON.
	allInOneFigures

	// All orders on one account (the hot crowd), through REST.
	HotAccountOrdersPerS float64 `json:"hot_account_orders_per_s"`
	// The large data set against the empty database, REST, one mode.
	LargeDataOrdersPerS  float64 `json:"large_data_rest_orders_per_s"`
	LargeDataOrdersRatio float64 `json:"large_data_orders_ratio"`
	LargeDataP99MsAtHalf float64 `json:"large_data_rest_p99_ms_at_half_peak"`
	LargeDataP99Ratio    float64 `json:"large_data_p99_ratio"`
	LargeDataPreloadS    float64 `json:"large_data_preload_s"`
	// CPU per request at the same rate, large ÷ empty: all processes, and
	// PostgreSQL alone. Other work on the machine moves these far less
	// than the throughput and the tail.
	LargeDataCPURatio      float64 `json:"large_data_cpu_per_request_ratio"`
	LargeDataPostgresRatio float64 `json:"large_data_postgres_cpu_per_request_ratio"`
	ListTransactionsFirst  latency `json:"list_transactions_first_page_ms"`
	ListTransactionsDeep   latency `json:"list_transactions_deep_page_ms"`
	ListTransactionsRatio  float64 `json:"list_transactions_deep_page_ratio"`
	ListOrdersFirst        latency `json:"list_orders_first_page_ms"`
	ListOrdersDeep         latency `json:"list_orders_deep_page_ms"`
	ListOrdersRatio        float64 `json:"list_orders_deep_page_ratio"`
	ListNotificationsFirst latency `json:"list_notifications_first_page_ms"`
	ListNotificationsDeep  latency `json:"list_notifications_deep_page_ms"`
	ListNotificationsRatio float64 `json:"list_notifications_deep_page_ratio"`
	// PlansSeqScans are the statements that read a large table whole.
	PlansSeqScans []string `json:"plans_seq_scans"`
	// Runs are the headline figures of each mode on each data size.
	Runs []dataRun `json:"runs"`
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
	// PGSettings are the -pg-setting experiments the cluster ran with.
	PGSettings map[string]string `json:"pg_settings,omitempty"`
	// PGStatements: the cluster was asked to load pg_stat_statements
	// (pg_statements says whether it did).
	PGStatements bool `json:"pg_stat_statements"`
}

func (c config) public() publicConfig {
	return publicConfig{
		Smoke: c.smoke, Users: c.users, Clients: c.clients, DepositShare: c.depositShare, RejectShare: c.rejectShare,
		Seed: c.seed, TimeoutS: c.timeout.Seconds(), CeilingS: c.ceilingTime.Seconds(), PGBenchMode: c.pgbenchMode,
		StepWarmupS: c.warmup.Seconds(), StepS: c.step.Seconds(), Factor: c.factor, P99LimitMs: ms(c.p99Limit),
		HalfS: c.halfTime.Seconds(), Durable: true, PGParams: c.pgParams, PGSettings: c.pgSettings.m, PGStatements: c.pgStatements,
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

type targetCheck struct {
	Target string `json:"target"`
	Met    bool   `json:"met"`
	Value  string `json:"value"`
}

// finish derives the headline numbers.
func (r *result) finish(smoke bool) {
	r.Errors = map[string]map[string]int64{}
	addErrs := r.addErrs
	r.PGCeilingRuns = nil
	for _, c := range []*ceilingResult{r.Ceiling, r.CeilingAgain} {
		if c != nil {
			r.PGCeilingRuns = append(r.PGCeilingRuns, c.OrdersPerSecond)
		}
	}
	r.PGCeilingOrdersPerS = mean(r.PGCeilingRuns)
	r.CeilingDrift, r.Unsteady = 0, false
	if len(r.PGCeilingRuns) == 2 && r.PGCeilingRuns[0] > 0 {
		r.CeilingDrift = r.PGCeilingRuns[1]/r.PGCeilingRuns[0] - 1
		r.Unsteady = math.Abs(r.CeilingDrift) > unsteadyDrift
	}
	for _, s := range r.Smoke {
		addErrs("smoke_"+s.Target, s)
	}
	r.collectStatements()
	r.finishLarge()
	if smoke {
		r.Note = "smoke run: a few seconds at a low rate; it checks correctness and measures nothing"
		return
	}
	if r.CeilingExtended != nil {
		r.PGCeilingExtended = r.CeilingExtended.OrdersPerSecond
	}
	if r.HotAccount != nil {
		for _, s := range r.HotAccount.Steps {
			addErrs("hot_account_search", s)
		}
		r.HotAccountOrdersPerS = r.HotAccount.Best.order().PerSecond
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
	r.Targets = append(r.Targets, r.largeTargets()...)
	r.finishAllInOne()
}

// addErrs counts rec's errors under phase.
func (r *result) addErrs(phase string, rec *stepRecord) {
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

func (r *result) smokeErrors() int64 {
	var n int64
	smoke := slices.Clone(r.Smoke)
	if r.Large != nil {
		smoke = append(smoke, r.Large.Smoke, r.Large.PlansWindow)
	}
	if r.HotAccount != nil {
		smoke = append(smoke, r.HotAccount.Steps...)
	}
	for _, s := range smoke {
		if s != nil {
			n += s.Result.ErrorCount() + s.Result.Unsent
		}
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
