// Package pgstmt reads pg_stat_statements around a measured window: which
// statements the databases ran, how often per request, and how long each
// took in the executor (and the planner). Counters are cumulative, so a
// window is the difference of two snapshots, one at each end.
//
// The view is cluster-wide, one row per database, user and statement
// (queryid), so a snapshot keeps the rows of the databases asked for. The
// server must load the module at start (ServerSettings), and the view
// exists in a database only after CREATE EXTENSION (Enable).
package pgstmt

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/lib/pq"
)

// ServerSettings load pg_stat_statements into a server at start.
func ServerSettings() map[string]string {
	return map[string]string{
		"shared_preload_libraries": "pg_stat_statements",
		// Statements the clients sent; the work of triggers and functions
		// counts in the statement that fired them.
		"pg_stat_statements.track": "top",
		// Far more than the few dozen statements of kassa and pgbench, so
		// no entry of a window is evicted while it is measured.
		"pg_stat_statements.max": "10000",
		// Planning counts too: whether a statement is planned at every
		// call or runs a cached plan is what preparing it buys.
		"pg_stat_statements.track_planning": "on",
	}
}

// Enable creates the extension in db, which makes the view readable there.
func Enable(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`)
	return err
}

// Counters are a statement's cumulative numbers, or their change in a
// window.
type Counters struct {
	Calls int64 `json:"calls"`
	// ExecMs is the time spent executing, in milliseconds.
	ExecMs float64 `json:"exec_ms"`
	Rows   int64   `json:"rows"`
	// Plans and PlanMs count the planner's work (with track_planning): a
	// statement run from a cached plan is executed without being planned.
	Plans  int64   `json:"plans"`
	PlanMs float64 `json:"plan_ms"`
}

func (c Counters) add(d Counters) Counters {
	return Counters{Calls: c.Calls + d.Calls, ExecMs: c.ExecMs + d.ExecMs, Rows: c.Rows + d.Rows, Plans: c.Plans + d.Plans, PlanMs: c.PlanMs + d.PlanMs}
}

func (c Counters) sub(d Counters) Counters {
	return Counters{Calls: c.Calls - d.Calls, ExecMs: c.ExecMs - d.ExecMs, Rows: c.Rows - d.Rows, Plans: c.Plans - d.Plans, PlanMs: c.PlanMs - d.PlanMs}
}

// Key identifies an entry of the view.
type Key struct {
	DB      string
	User    int64
	QueryID int64
}

// Entry is one statement's counters and its normalised text (constants
// replaced by $n), when read with text.
type Entry struct {
	Counters
	Query string
}

// Snapshot is the view at one moment.
type Snapshot struct {
	At      time.Time
	Entries map[Key]Entry
}

// Read reads the entries of the databases named dbs, through db (any
// database where the extension exists). The text costs a read of the
// server's query file, so the snapshot that opens a window can go without.
func Read(ctx context.Context, db *sql.DB, dbs []string, withText bool) (Snapshot, error) {
	s := Snapshot{At: time.Now(), Entries: map[Key]Entry{}}
	rows, err := db.QueryContext(ctx, `SELECT d.datname, s.userid::bigint, s.queryid, coalesce(s.query, ''),
			s.calls, s.total_exec_time, s.rows, s.plans, s.total_plan_time
		FROM pg_stat_statements($2) s JOIN pg_database d ON d.oid = s.dbid
		WHERE d.datname = ANY($1) AND s.queryid IS NOT NULL`, pq.Array(dbs), withText)
	if err != nil {
		return s, fmt.Errorf("pg_stat_statements: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k Key
		var e Entry
		if err := rows.Scan(&k.DB, &k.User, &k.QueryID, &e.Query, &e.Calls, &e.ExecMs, &e.Rows, &e.Plans, &e.PlanMs); err != nil {
			return s, fmt.Errorf("pg_stat_statements: %w", err)
		}
		// A statement run both at top level and nested has two rows (with
		// track = all); they are one statement here.
		if old, ok := s.Entries[k]; ok {
			e.Counters = e.add(old.Counters)
		}
		s.Entries[k] = e
	}
	if err := rows.Err(); err != nil {
		return s, fmt.Errorf("pg_stat_statements: %w", err)
	}
	return s, nil
}

// Since returns what each statement did from a to s, the statements that
// ran at all. An entry missing from a, or whose counters went down (it was
// evicted and came back), counts from zero. The text is s's.
func (s Snapshot) Since(a Snapshot) []Stmt {
	var out []Stmt
	for k, e := range s.Entries {
		d := e.Counters
		if old, ok := a.Entries[k]; ok && old.Calls <= e.Calls && old.Plans <= e.Plans {
			d = d.sub(old.Counters)
		}
		if d.Calls == 0 && d.Plans == 0 {
			continue
		}
		out = append(out, Stmt{DB: k.DB, User: k.User, QueryID: k.QueryID, Query: e.Query, Counters: d})
	}
	return out
}

// Stmt is one statement in a window, with numbers per request.
type Stmt struct {
	DB      string `json:"db"`
	User    int64  `json:"userid"`
	QueryID int64  `json:"queryid,string"` // a string: JSON readers lose 64-bit integers
	Query   string `json:"query"`
	Counters
	CallsPerRequest float64 `json:"calls_per_request"`
	// MeanExecUs is the mean execution time of one call, µs.
	MeanExecUs float64 `json:"mean_exec_us"`
	// ExecUsPerRequest is execution time per request, µs: the statement's
	// cost in one request, whatever the number of calls.
	ExecUsPerRequest float64 `json:"exec_us_per_request"`
	// PlansPerCall is 1 when every call is planned, 0 when all run a
	// cached plan.
	PlansPerCall float64 `json:"plans_per_call"`
	MeanPlanUs   float64 `json:"mean_plan_us"`
	// Share is the statement's part of the window's execution time, all
	// databases together.
	Share float64 `json:"share_of_exec_time"`
}

// Window is what the statements of one measured window did.
type Window struct {
	Seconds float64 `json:"seconds"`
	// Requests are the requests served in the window (for pgbench, its
	// transactions: one script is one request).
	Requests float64 `json:"requests"`
	// Total adds up every statement.
	Total            Counters `json:"total"`
	ExecUsPerRequest float64  `json:"exec_us_per_request"`
	PlanUsPerRequest float64  `json:"plan_us_per_request"`
	// Statements, longest total execution time first.
	Statements []Stmt `json:"statements"`
}

// NewWindow derives the per-request numbers of stmts, what the statements
// did while requests requests were served in seconds.
func NewWindow(stmts []Stmt, seconds, requests float64) Window {
	w := Window{Seconds: seconds, Requests: requests, Statements: slices.Clone(stmts)}
	for _, s := range w.Statements {
		w.Total = w.Total.add(s.Counters)
	}
	if requests > 0 {
		w.ExecUsPerRequest = 1000 * w.Total.ExecMs / requests
		w.PlanUsPerRequest = 1000 * w.Total.PlanMs / requests
	}
	for i := range w.Statements {
		s := &w.Statements[i]
		s.CallsPerRequest, s.ExecUsPerRequest, s.MeanExecUs, s.PlansPerCall, s.MeanPlanUs, s.Share = 0, 0, 0, 0, 0, 0
		if requests > 0 {
			s.CallsPerRequest = float64(s.Calls) / requests
			s.ExecUsPerRequest = 1000 * s.ExecMs / requests
		}
		if s.Calls > 0 {
			s.MeanExecUs = 1000 * s.ExecMs / float64(s.Calls)
			s.PlansPerCall = float64(s.Plans) / float64(s.Calls)
		}
		if s.Plans > 0 {
			s.MeanPlanUs = 1000 * s.PlanMs / float64(s.Plans)
		}
		if w.Total.ExecMs > 0 {
			s.Share = s.ExecMs / w.Total.ExecMs
		}
	}
	slices.SortFunc(w.Statements, func(a, b Stmt) int {
		return cmp.Or(cmp.Compare(b.ExecMs, a.ExecMs), cmp.Compare(a.DB, b.DB), cmp.Compare(a.QueryID, b.QueryID), cmp.Compare(a.User, b.User))
	})
	return w
}

// Merge combines windows (rounds at one rate) as if they had been one:
// counters, seconds and requests add up.
func Merge(ws ...Window) Window {
	type key struct {
		db      string
		user    int64
		queryID int64
	}
	by := map[key]*Stmt{}
	var order []key
	var seconds, requests float64
	for _, w := range ws {
		seconds += w.Seconds
		requests += w.Requests
		for _, s := range w.Statements {
			k := key{s.DB, s.User, s.QueryID}
			if m := by[k]; m != nil {
				m.Counters = m.add(s.Counters)
				continue
			}
			c := s
			by[k] = &c
			order = append(order, k)
		}
	}
	stmts := make([]Stmt, 0, len(order))
	for _, k := range order {
		stmts = append(stmts, *by[k])
	}
	return NewWindow(stmts, seconds, requests)
}

// DB returns the window's statements of database db, in the window's order.
func (w Window) DB(db string) []Stmt {
	var out []Stmt
	for _, s := range w.Statements {
		if s.DB == db {
			out = append(out, s)
		}
	}
	return out
}
