package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/kassa-dev/kassa/bench/pgstat"
	"github.com/kassa-dev/kassa/bench/pgstmt"
)

// mergeObserved averages observations of equally long windows.
func mergeObserved(obs []observed) observed {
	out := observed{CPU: map[string]float64{}, Activity: pgstat.Activity{ByDatabase: map[string]map[string]float64{}}}
	n := float64(len(obs))
	for _, o := range obs {
		for k, v := range o.CPU {
			out.CPU[k] += v / n
		}
		out.Other += o.Other / n
		for k, v := range o.reads {
			if out.reads == nil {
				out.reads = map[string]float64{}
			}
			out.reads[k] += v / n
		}
		out.Machine.Busy += o.Machine.Busy / n
		out.Machine.IOWait += o.Machine.IOWait / n
		out.Machine.Idle += o.Machine.Idle / n
		out.Machine.Steal += o.Machine.Steal / n
		out.PG.CommitsPerS += o.PG.CommitsPerS / n
		out.PG.RollbacksPerS += o.PG.RollbacksPerS / n
		out.PG.WALSyncsPerS += o.PG.WALSyncsPerS / n
		out.PG.WALMiBPerS += o.PG.WALMiBPerS / n
		out.PG.SyncMs += o.PG.SyncMs / n
		out.Activity.Samples += o.Activity.Samples
		for db, m := range o.Activity.ByDatabase {
			if out.Activity.ByDatabase[db] == nil {
				out.Activity.ByDatabase[db] = map[string]float64{}
			}
			for k, v := range m {
				out.Activity.ByDatabase[db][k] += v / n
			}
		}
	}
	if out.PG.WALSyncsPerS > 0 {
		out.PG.CommitsPerSync = out.PG.CommitsPerS / out.PG.WALSyncsPerS
	}
	var ws []pgstmt.Window
	for _, o := range obs {
		if o.stmts != nil {
			ws = append(ws, *o.stmts)
		}
	}
	if len(ws) > 0 && len(ws) == len(obs) {
		w := pgstmt.Merge(ws...)
		out.stmts = &w
	}
	return out
}

// monitor observes CPU, PostgreSQL counters, backend activity and
// statements between its start and stop.
type monitor struct {
	b       *bench
	cpu0    cpuSnapshot
	pg0     pgstat.Counters
	pgErr   error
	sampler *pgstat.Sampler
	dbs     []string
	ctx     context.Context
	stmts   bool
	stmt0   pgstmt.Snapshot
}

func (b *bench) monitor(ctx context.Context, dbs []string) *monitor {
	m := &monitor{b: b, cpu0: b.cpuSnapshot(), dbs: dbs, ctx: ctx}
	m.pg0, m.pgErr = pgstat.Read(ctx, b.dbs["postgres"], dbs)
	if m.stmts = b.statementsOn(); m.stmts {
		var err error
		if m.stmt0, err = pgstmt.Read(ctx, b.dbs["postgres"], dbs, false); err != nil {
			b.statementError(err)
			m.stmts = false
		}
	}
	m.sampler = pgstat.Sample(ctx, b.dbs["postgres"], dbs, b.cfg.sampleEvery)
	return m
}

func (m *monitor) stop() observed {
	activity, _ := m.sampler.Stop()
	cpu1 := m.b.cpuSnapshot()
	o := observed{CPU: cpu1.since(m.cpu0), Machine: cpu1.machineSince(m.cpu0), Activity: activity, reads: cpu1.readsSince(m.cpu0)}
	// Whatever else ran on the machine meanwhile (other tests, builds):
	// the noise in this window.
	o.Other = o.Machine.Busy
	for _, v := range o.CPU {
		o.Other -= v
	}
	o.Other = max(0, o.Other)
	if pg1, err := pgstat.Read(m.ctx, m.b.dbs["postgres"], m.dbs); err == nil && m.pgErr == nil {
		o.PG = pg1.Since(m.pg0)
	}
	if m.stmts && m.b.statementsOn() {
		if s1, err := pgstmt.Read(m.ctx, m.b.dbs["postgres"], m.dbs, true); err != nil {
			if m.ctx.Err() == nil { // an interrupted run is no failure of the view
				m.b.statementError(err)
			}
		} else {
			// Requests are counted by the caller: stmtsPer.
			w := pgstmt.NewWindow(s1.Since(m.stmt0), s1.At.Sub(m.stmt0.At).Seconds(), 0)
			o.stmts = &w
		}
	}
	return o
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
	names := slices.Sorted(maps.Keys(o.PerRequest))
	sort.SliceStable(names, func(i, j int) bool {
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
	names := slices.Sorted(maps.Keys(o.CPU))
	sort.SliceStable(names, func(i, j int) bool { return o.CPU[names[i]] > o.CPU[names[j]] })
	var parts []string
	for _, n := range names {
		if o.CPU[n] >= 0.005 {
			parts = append(parts, fmt.Sprintf("%s %.2f", n, o.CPU[n]))
		}
	}
	line := fmt.Sprintf("[%s; other work %.2f; machine %.2f busy, %.2f idle]", strings.Join(parts, ", "), o.Other, o.Machine.Busy, o.Machine.Idle)
	for _, bg := range []string{o.autovacuum(), o.checkpoint()} {
		if bg != "" {
			line += " " + bg
		}
	}
	return line
}

// checkpoint gives the share of the window's samples a checkpoint was
// writing or syncing files in ("checkpoint: writing 0.60, syncing files
// 0.05"), or "" when none ran.
func (o observed) checkpoint() string {
	return labelled("checkpoint", shares(o.Activity.ByDatabase[pgstat.CheckpointerKey], "checkpoint ("))
}

// autovacuum names the autovacuum passes the window overlapped, with the
// share of its samples each was seen in ("autovacuum: VACUUM orders
// 0.30"), or "" when none ran.
func (o observed) autovacuum() string {
	var parts []string
	for _, db := range slices.Sorted(maps.Keys(o.Activity.ByDatabase)) {
		parts = append(parts, shares(o.Activity.ByDatabase[db], "autovacuum (")...)
	}
	return labelled("autovacuum", parts)
}

// shares renders the states of m named prefix + "what)" as "what share",
// in name order.
func shares(m map[string]float64, prefix string) []string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if what, ok := strings.CutPrefix(k, prefix); ok {
			parts = append(parts, fmt.Sprintf("%s %.2f", strings.TrimSuffix(what, ")"), m[k]))
		}
	}
	return parts
}

func labelled(label string, parts []string) string {
	if len(parts) == 0 {
		return ""
	}
	return label + ": " + strings.Join(parts, ", ")
}
