package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/kassa-dev/kassa/bench/load"
	"github.com/kassa-dev/kassa/bench/verify"
)

// printer writes one piece of the summary table.
type printer func(format string, args ...any)

// print writes the summary table.
func (r *result) print(w io.Writer, c config) {
	p := printer(func(format string, args ...any) { fmt.Fprintf(w, format, args...) })
	r.printHeader(p, c)
	r.printThroughput(p, c)
	r.printLatency(p)
	r.printAllInOne(p)
	r.printLarge(p)
	r.printMemory(p)
	r.printCPU(p)
	r.printStatements(w)
	r.printVerdict(p)
	p("\n")
}

func (r *result) printHeader(p printer, c config) {
	m := r.Machine
	p("\n== kassa benchmark ==\n")
	p("machine     %d cores (%s), %.0f GiB, Linux %s; PostgreSQL %s (fsync on); %s\n", m.Cores, m.CPUModel, m.MemoryGiB, m.Kernel, m.PostgreSQL, m.Go)
	p("load avg    %s at start, %s at end (other work on the machine skews the numbers)\n", m.LoadAvgStart, m.LoadAvgEnd)
	p("workload    %d users, %d clients, %.0f%% deposits, %.0f%% of orders rejected; took %.0fs\n",
		c.users, c.clients, 100*c.depositShare, 100*c.rejectShare, r.Seconds)
	if r.Note != "" {
		p("note        %s\n", r.Note)
	}
}

// printThroughput shows each peak as a share of the ceiling.
func (r *result) printThroughput(p printer, c config) {
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
		if r.Unsteady {
			p("  UNSTEADY MACHINE: the ceiling moved by %+.0f%% between before and after the load, so the machine's speed changed during the run;\n"+
				"  comparisons across its phases (microservices and all-in-one, empty and large data) carry that change: measure again on a quieter machine\n", 100*r.CeilingDrift)
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
}

// printLatency shows the order latencies at half the peak, or of the
// smoke steps.
func (r *result) printLatency(p printer) {
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
}

func (r *result) printMemory(p printer) {
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
}

// printCPU shows the CPU of each measured window, then where the CPU went
// at the REST peak: the profiles' kinds of work and PostgreSQL's backends.
func (r *result) printCPU(p printer) {
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
	p("\nCPU, cores busy on average (of %d)\n", r.Machine.Cores)
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
				names := slices.Sorted(maps.Keys(m))
				sort.SliceStable(names, func(i, j int) bool { return m[names[i]] > m[names[j]] })
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
}

// printVerdict shows the errors, the correctness check and the targets.
func (r *result) printVerdict(p printer) {
	p("\nerrors      ")
	if len(r.Errors) == 0 {
		p("none\n")
	} else {
		for _, phase := range slices.Sorted(maps.Keys(r.Errors)) {
			p("%s: %s; ", phase, strings.Join(load.Codes(r.Errors[phase]), ", "))
		}
		p("\n            (past-the-peak search steps may fail by design; failed requests are retried with their keys before the check)\n")
	}
	verdict(p, "correctness", r.Verify)
	if r.VerifyHot != nil {
		verdict(p, "hot account", *r.VerifyHot)
	}
	if len(r.Targets) > 0 {
		p("\ntargets (issues 8 and 17)\n")
		if r.Unsteady {
			p("  (an unsteady run: the ceiling moved by %+.0f%% during it; see the throughput table)\n", 100*r.CeilingDrift)
		}
		for _, t := range r.Targets {
			mark := "not met"
			if t.Met {
				mark = "met"
			}
			p("  %-48s %-8s %s\n", t.Target, mark, t.Value)
		}
	}
}

// verdict shows one crowd's check.
func verdict(p printer, label string, v verify.Report) {
	p("%-11s %d orders (%d paid, %d rejected), %d letters, %d deposits; balances %d = deposits %d − paid %d: ",
		label, v.Orders, v.Paid, v.Rejected, v.Letters, v.Deposits, v.BalanceSum, v.DepositSum, v.PaidSum)
	if v.OK() {
		p("CORRECT\n")
		return
	}
	p("WRONG\n")
	for _, pr := range v.Problems {
		p("  ✗ %s\n", pr)
	}
}

func orDash(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}
