package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/kassa-dev/kassa/bench/pgstmt"
)

// enableStatements creates the pg_stat_statements view in the service
// databases (for anyone looking with psql) and in postgres, through which
// the bench reads it: the bench's own statements stay out of the measured
// databases. A server that did not load the module leaves the run without
// statements; a view that fails on a server that did is an error.
func (b *bench) enableStatements(ctx context.Context) {
	var loaded string
	var version int
	err := b.dbs["postgres"].QueryRowContext(ctx, `SELECT current_setting('shared_preload_libraries'), current_setting('server_version_num')::int`).Scan(&loaded, &version)
	switch {
	case err != nil:
		b.statementError(err)
		return
	case !slices.Contains(strings.Split(strings.ReplaceAll(loaded, " ", ""), ","), "pg_stat_statements"):
		b.noStatements("the server was started without pg_stat_statements")
		return
	case version < 130000:
		b.noStatements("the bench reads pg_stat_statements as of PostgreSQL 13")
		return
	}
	for _, name := range append([]string{"postgres"}, serviceDBs...) {
		if err := pgstmt.Enable(ctx, b.dbs[name]); err != nil {
			b.statementError(fmt.Errorf("create extension in %s: %w", name, err))
			return
		}
	}
	if _, err := pgstmt.Read(ctx, b.dbs["postgres"], serviceDBs, false); err != nil {
		b.statementError(err)
	}
}

// noStatements turns the statements off for a reason and says so.
func (b *bench) noStatements(why string) {
	b.stmtMu.Lock()
	defer b.stmtMu.Unlock()
	b.stmtsOn = false
	b.res.PGStatements.Unavailable = why
	b.res.PGStatements.Settings = nil
	b.printf("no per-statement numbers in this run: %s\n", why)
}

// statementError records a failed read of the view and turns the
// statements off: a window with half its snapshots would mislead. Smoke
// runs fail on it, so that the section keeps working.
func (b *bench) statementError(err error) {
	b.stmtMu.Lock()
	defer b.stmtMu.Unlock()
	if !b.stmtsOn {
		return
	}
	b.stmtsOn = false
	b.res.PGStatements.Error = err.Error()
	b.printf("pg_stat_statements failed, no per-statement numbers from here on: %v\n", err)
}

func (b *bench) statementsOn() bool {
	b.stmtMu.Lock()
	defer b.stmtMu.Unlock()
	return b.stmtsOn
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
