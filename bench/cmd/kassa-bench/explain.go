package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-dev/kassa/bench/pgstmt"
	"github.com/kassa-dev/kassa/bench/plans"
)

// The tables of the lists, by list, and their databases.
var listTables = map[string][2]string{
	"transactions":  {"kassa_billing", "transactions"},
	"orders":        {"kassa_order", "orders"},
	"notifications": {"kassa_notification", "notifications"},
}

// explain explains every statement the services have sent in this run,
// on the large data: the create-order path, the lists, the logins, the
// repair loops' claims (each loop runs at least once a minute). The list
// queries also run with the heavy user's cursors under EXPLAIN ANALYZE.
func (b *bench) explain(ctx context.Context, cursors map[string]listCursor) *plansResult {
	res := &plansResult{}
	if !b.statementsOn() {
		res.Unavailable = "pg_stat_statements is off in this run"
		return res
	}
	snap, err := pgstmt.Read(ctx, b.dbs["postgres"], serviceDBs, true)
	if err != nil {
		res.Unavailable = err.Error()
		return res
	}
	type key struct{ db, query string }
	calls := map[key]int64{}
	// What ran since the stack was up: not the migrations.
	for _, s := range snap.Since(b.stmtsAtStart) {
		if s.User == b.benchRole || !plans.Explainable(s.Query) {
			continue
		}
		calls[key{s.DB, s.Query}] += s.Calls
	}
	sizes := map[string]map[string]int64{}
	res.Sizes = map[string]int64{}
	for _, db := range serviceDBs {
		if sizes[db], err = plans.Sizes(ctx, b.dbs[db]); err != nil {
			res.Unavailable = err.Error()
			return res
		}
		for t, n := range sizes[db] {
			res.Sizes[db+"."+t] = n
		}
	}
	for k, n := range calls {
		p := plans.Generic(ctx, b.dbs[k.db], k.query)
		p.DB, p.Calls = k.db, n
		p.Flag(sizes[k.db])
		if p.Err == "" && len(p.Scans) == 0 {
			continue // reads no table: nothing to show
		}
		res.Generic = append(res.Generic, p)
	}
	plans.Sort(res.Generic)
	for _, name := range lists {
		res.Analyzed = append(res.Analyzed, b.analyzeList(ctx, res.Generic, name, cursors[name], sizes)...)
	}
	for _, p := range append(slices.Clone(res.Generic), res.Analyzed...) {
		if p.Err != "" {
			b.printf("  plan not explained (%s): %s: %s\n", p.DB, shortQuery(p.Query), p.Err)
		}
		for _, t := range p.SeqScans {
			b.printf("  SEQUENTIAL SCAN of %s (%s): %s\n", t, p.DB, shortQuery(p.Query))
		}
	}
	b.printf("large data: %d statements explained, %d list queries analyzed\n", len(res.Generic), len(res.Analyzed))
	b.plansPage = plans.Markdown("Query plans on the large data set", b.plansIntro(), res.Generic, res.Analyzed)
	return res
}

// The parameters of a list query, as pg_stat_statements numbers them.
var (
	reUserParam    = regexp.MustCompile(`user_id = \$(\d+)`)
	reLimitParam   = regexp.MustCompile(`LIMIT \$(\d+)`)
	reCursorParams = regexp.MustCompile(`\(create_time, id\) < \(\$(\d+), \$(\d+)`)
)

// analyzeList runs list's first-page and deep-page queries, as the
// service sent them, with the heavy user's parameters.
func (b *bench) analyzeList(ctx context.Context, generic []plans.Plan, list string, c listCursor, sizes map[string]map[string]int64) []plans.Plan {
	db, table := listTables[list][0], listTables[list][1]
	limit := fmt.Sprint(listPage + 1) // the services fetch one more to know whether a page follows
	var out []plans.Plan
	for _, p := range generic {
		if p.DB != db || !strings.Contains(p.Query, "FROM "+table) || !strings.Contains(p.Query, "ORDER BY create_time DESC, id DESC LIMIT") || c.user == "" {
			continue
		}
		args := map[int]string{}
		bind := func(re *regexp.Regexp, values ...string) {
			if m := re.FindStringSubmatch(p.Query); m != nil {
				for i, v := range values {
					n, _ := strconv.Atoi(m[i+1])
					args[n] = v
				}
			}
		}
		bind(reUserParam, c.user)
		bind(reLimitParam, limit)
		label := list + ", newest page"
		if reCursorParams.MatchString(p.Query) {
			bind(reCursorParams, c.cursor.Time.Format(time.RFC3339Nano), c.cursor.ID)
			label = list + ", deep page"
		}
		a := plans.Analyze(ctx, b.dbs[db], label, p.Query, args)
		a.DB, a.Calls = db, p.Calls
		a.Flag(sizes[db])
		out = append(out, a)
	}
	return out
}

// plansIntro is the plans page's opening paragraph.
func (b *bench) plansIntro() string {
	l := b.res.Large
	rows := l.Size.Rows
	return fmt.Sprintf("From the `make bench` run of %s, %s mode, on the large data set: %s preloaded users with one account each, "+
		"%s ledger entries, %s orders with their outbox rows and %s letters (the heavy user %s has %s of the orders, entries and letters). "+
		"Every statement the services sent during the run (as pg_stat_statements recorded it, constants as $n) is shown with its "+
		"generic plan, the plan a prepared statement runs whatever its parameters (`plan_cache_mode = force_generic_plan`, "+
		"explained without running). *Calls* are the run's, empty and large data together. A table of more than %s rows "+
		"read by a Seq Scan is flagged, and `make bench-smoke` fails on it; smaller tables (refusals, the outboxes' due rows) "+
		"may be read whole, which is what the planner picks when that is cheaper than an index.",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), l.Mode, thousands(l.Size.Users), thousands(int(rows["transactions"])),
		thousands(int(rows["orders"])), thousands(int(rows["notifications"])), "`pl1`", thousands(l.Size.Heavy), thousands(plans.LargeRows))
}
