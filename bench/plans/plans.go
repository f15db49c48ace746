// Package plans shows how PostgreSQL runs the services' statements on a
// large data set, and flags any that reads a large table from end to end.
//
// The statements are the services' own, as the server logged them
// (Logged), not copies: whatever a service sends is explained, and a new
// statement cannot be forgotten. Each one is prepared
// and explained as a generic plan (plan_cache_mode = force_generic_plan),
// the plan a prepared statement runs whatever its parameters, so no values
// are needed and nothing is executed. Chosen statements can in addition be
// run under EXPLAIN (ANALYZE, BUFFERS) with real parameters (Analyze).
package plans

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// LargeRows is the size from which a table counts as large: reading one of
// these from end to end on a request is the bug this package looks for.
const LargeRows = 10_000

// Scan is one node of a plan that reads a table.
type Scan struct {
	Node     string `json:"node"`
	Relation string `json:"relation"`
	Index    string `json:"index,omitempty"`
}

// Plan is one statement's plan.
type Plan struct {
	DB    string `json:"db"`
	Query string `json:"query"`
	// Calls the statement had in the run.
	Calls int64 `json:"calls"`
	// Label names an analyzed run (Analyze).
	Label string `json:"label,omitempty"`
	Text  string `json:"plan,omitempty"`
	Scans []Scan `json:"scans,omitempty"`
	// SeqScans are the large tables the plan reads from end to end.
	SeqScans []string `json:"seq_scans,omitempty"`
	Err      string   `json:"error,omitempty"`
}

// Explainable reports whether query is a statement EXPLAIN takes: a
// query or a change of rows, not a transaction command or DDL.
func Explainable(query string) bool {
	f := strings.Fields(query)
	if len(f) == 0 {
		return false
	}
	switch strings.ToUpper(f[0]) {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "WITH":
		return true
	}
	return false
}

var reParam = regexp.MustCompile(`\$(\d+)`)

// params is the highest $n of query.
func params(query string) int {
	n := 0
	for _, m := range reParam.FindAllStringSubmatch(query, -1) {
		if v, _ := strconv.Atoi(m[1]); v > n {
			n = v
		}
	}
	return n
}

// Generic explains query's generic plan in db (its service's database).
func Generic(ctx context.Context, db *sql.DB, query string) Plan {
	p := Plan{Query: query}
	conn, err := db.Conn(ctx)
	if err != nil {
		p.Err = err.Error()
		return p
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		p.Err = err.Error()
		return p
	}
	defer conn.ExecContext(ctx, `RESET plan_cache_mode`)
	nulls := strings.TrimSuffix(strings.Repeat("NULL, ", params(query)), ", ")
	p.explain(ctx, conn, "", nulls)
	return p
}

// Analyze runs query under EXPLAIN (ANALYZE, BUFFERS), in a transaction
// it rolls back, so a statement that writes changes nothing. args are the
// values of its parameters by number, as SQL literals' text; the others
// are NULL (pg_stat_statements makes a parameter of every constant, such
// as the ” of coalesce(x, ”), which does not change the plan).
func Analyze(ctx context.Context, db *sql.DB, label, query string, args map[int]string) Plan {
	p := Plan{Query: query, Label: label}
	conn, err := db.Conn(ctx)
	if err != nil {
		p.Err = err.Error()
		return p
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN`); err != nil {
		p.Err = err.Error()
		return p
	}
	defer conn.ExecContext(ctx, `ROLLBACK`)
	quoted := make([]string, params(query))
	for i := range quoted {
		quoted[i] = "NULL"
		if a, ok := args[i+1]; ok {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", "''") + "'"
		}
	}
	p.explain(ctx, conn, "ANALYZE, BUFFERS, ", strings.Join(quoted, ", "))
	return p
}

// explain prepares p.Query and explains its execution with args under
// EXPLAIN's options opts, once as JSON to find the scans and once as text
// to show.
func (p *Plan) explain(ctx context.Context, conn *sql.Conn, opts, args string) {
	if _, err := conn.ExecContext(ctx, "PREPARE kassa_plan AS "+p.Query); err != nil {
		p.Err = "prepare: " + err.Error()
		return
	}
	defer conn.ExecContext(ctx, `DEALLOCATE kassa_plan`)
	stmt := func(format string) string {
		s := "EXPLAIN (" + opts + "FORMAT " + format + ") EXECUTE kassa_plan"
		if args != "" {
			s += "(" + args + ")"
		}
		return s
	}
	if strings.Contains(opts, "ANALYZE") {
		// Run twice, each run undone before the next: a second insert
		// must not meet the first's row.
		if _, err := conn.ExecContext(ctx, `SAVEPOINT kassa_plan`); err != nil {
			p.Err = err.Error()
			return
		}
		defer conn.ExecContext(ctx, `ROLLBACK TO SAVEPOINT kassa_plan`)
	}
	var js string
	if err := conn.QueryRowContext(ctx, stmt("JSON")).Scan(&js); err != nil {
		p.Err = "explain: " + err.Error()
		return
	}
	scans, err := scansOf(js)
	if err != nil {
		p.Err = err.Error()
		return
	}
	p.Scans = scans
	if strings.Contains(opts, "ANALYZE") {
		if _, err := conn.ExecContext(ctx, `ROLLBACK TO SAVEPOINT kassa_plan`); err != nil {
			p.Err = err.Error()
			return
		}
	}
	rows, err := conn.QueryContext(ctx, stmt("TEXT"))
	if err != nil {
		p.Err = "explain: " + err.Error()
		return
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			p.Err = err.Error()
			return
		}
		lines = append(lines, l)
	}
	p.Text = strings.Join(lines, "\n")
	if err := rows.Err(); err != nil {
		p.Err = err.Error()
	}
}

// node is a plan node of EXPLAIN's JSON.
type node struct {
	Type     string `json:"Node Type"`
	Relation string `json:"Relation Name"`
	Index    string `json:"Index Name"`
	Plans    []node `json:"Plans"`
}

// scansOf returns the nodes of a JSON plan that read a relation, in
// plan order.
func scansOf(js string) ([]Scan, error) {
	var top []struct {
		Plan node `json:"Plan"`
	}
	if err := json.Unmarshal([]byte(js), &top); err != nil {
		return nil, fmt.Errorf("read the plan: %w", err)
	}
	var out []Scan
	var walk func(n node)
	walk = func(n node) {
		// Every node that reads a table names it: scans of any kind, and
		// ModifyTable (the table written), which is no read. A bitmap
		// index scan names only its index; its heap scan is the parent.
		switch {
		case n.Relation != "" && n.Type != "ModifyTable":
			out = append(out, Scan{Node: n.Type, Relation: n.Relation, Index: n.Index})
		case n.Type == "Bitmap Index Scan":
			out = append(out, Scan{Node: n.Type, Index: n.Index})
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	for _, t := range top {
		walk(t.Plan)
	}
	return out, nil
}

// Flag sets p.SeqScans: the tables of large (name → rows) it scans
// sequentially.
func (p *Plan) Flag(large map[string]int64) {
	p.SeqScans = nil
	for _, s := range p.Scans {
		if s.Node == "Seq Scan" && large[s.Relation] >= LargeRows && !slices.Contains(p.SeqScans, s.Relation) {
			p.SeqScans = append(p.SeqScans, s.Relation)
		}
	}
}

// Sizes returns the estimated rows of every table of db's public schema
// (as of the last ANALYZE).
func Sizes(ctx context.Context, db *sql.DB) (map[string]int64, error) {
	rows, err := db.QueryContext(ctx, `SELECT c.relname, greatest(c.reltuples, 0)::bigint FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'`)
	if err != nil {
		return nil, fmt.Errorf("table sizes: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return nil, err
		}
		out[name] = n
	}
	return out, rows.Err()
}
