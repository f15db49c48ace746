package plans

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/kassa-dev/kassa/bench/pgstmt"
)

// Reads summarises the scans of p: "Index Scan using k on t", one per
// scan.
func (p Plan) Reads() string {
	var parts []string
	for _, s := range p.Scans {
		r := s.Node
		if s.Index != "" {
			r += " using " + s.Index
		}
		if s.Relation != "" {
			r += " on " + s.Relation
		}
		parts = append(parts, r)
	}
	return strings.Join(parts, "; ")
}

// Verdict is "index" for a plan with no sequential scan of a large table.
func (p Plan) Verdict() string {
	switch {
	case p.Err != "":
		return "not explained"
	case len(p.SeqScans) > 0:
		return "**SEQ SCAN** of " + strings.Join(p.SeqScans, ", ")
	}
	return "index"
}

// Sort orders plans by database, then most called first.
func Sort(ps []Plan) {
	slices.SortStableFunc(ps, func(a, b Plan) int {
		return cmp.Or(cmp.Compare(a.DB, b.DB), cmp.Compare(b.Calls, a.Calls), cmp.Compare(a.Query, b.Query))
	})
}

// Markdown renders generic plans and analyzed runs as a page: intro, a
// table of every statement with what it reads, then each plan in full.
func Markdown(title, intro string, generic, analyzed []Plan) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# %s\n\n<!-- Written by `make bench` (bench/plans); do not edit by hand. -->\n\n%s\n\n", title, intro)
	w("| database | statement | calls | reads | verdict |\n|---|---|---:|---|---|\n")
	for _, p := range generic {
		w("| %s | %s | %d | %s | %s |\n", p.DB, code(pgstmt.Shorten(p.Query, 90)), p.Calls, cell(p.Reads()), p.Verdict())
	}
	if len(analyzed) > 0 {
		w("\n## The heavy user's statements with real parameters\n\nEXPLAIN (ANALYZE, BUFFERS) with the heavy user's values: each list's newest page and a deep page, with the cursor the API's page token carried there, and the lookup of one of its orders by key:\n")
		for _, p := range analyzed {
			w("\n### %s (%s)\n\n", p.Label, p.DB)
			block(&b, p)
		}
	}
	w("\n## Generic plans\n")
	db := ""
	for _, p := range generic {
		if p.DB != db {
			db = p.DB
			w("\n### %s\n", db)
		}
		w("\n")
		block(&b, p)
	}
	return b.String()
}

// block writes a statement and its plan (or why there is none).
func block(b *strings.Builder, p Plan) {
	fmt.Fprintf(b, "```sql\n%s\n```\n", strings.TrimSpace(p.Query))
	if p.Err != "" {
		fmt.Fprintf(b, "\nnot explained: %s\n", p.Err)
		return
	}
	fmt.Fprintf(b, "\n```\n%s\n```\n", p.Text)
}

// code is s as inline code in a table cell.
func code(s string) string { return "`" + cell(s) + "`" }

// cell escapes the table's column separator.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
