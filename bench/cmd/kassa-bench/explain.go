package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-dev/kassa/bench/plans"
	"github.com/kassa-dev/kassa/bench/preload"
	"github.com/kassa-dev/kassa/services/platform/paging"
)

// The tables of the lists, by list, and their databases.
var listTables = map[string][2]string{
	"transactions":  {"kassa_billing", "transactions"},
	"orders":        {"kassa_order", "orders"},
	"notifications": {"kassa_notification", "notifications"},
}

// explain explains every statement the services send on the large data:
// the create-order path, the lists, the logins and the repair loops'
// claims. It logs every statement the server runs for a window longer
// than the order service's repair interval, while orders arrive at a low
// rate and the heavy user reads its lists, and explains each one the
// services sent. The list queries also run with the heavy user's cursors
// under EXPLAIN ANALYZE.
func (b *bench) explain(ctx context.Context, cursors map[string]listCursor) (*plansResult, error) {
	res := &plansResult{}
	logged, err := b.logStatements(ctx, func(ctx context.Context) error {
		window := 35 * time.Second
		if b.cfg.smoke {
			window = 5 * time.Second
		}
		rec, err := b.step(ctx, b.rest, b.main, "plans", b.cfg.smokeRate, 0, window)
		if err != nil {
			return err
		}
		b.res.Large.PlansWindow = rec
		// A login, and each list's newest and deep page.
		if _, err := b.login(ctx, preload.Username(1), password(b.main.gen.Run+"u0")); err != nil {
			return fmt.Errorf("log in as the heavy user: %w", err)
		}
		for _, name := range lists {
			for _, token := range []string{"", paging.Encode(cursors[name].cursor)} {
				if p := b.rest.List(ctx, cursors[name].heavy, name, listPage, token); p.Code != "" {
					return fmt.Errorf("read %s: %s", name, p.Code)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	type key struct{ db, query string }
	calls := map[key]int64{}
	for _, s := range logged {
		if s.User == benchUser || !slices.Contains(serviceDBs, s.DB) || !plans.Explainable(s.Query) {
			continue
		}
		calls[key{s.DB, s.Query}] += s.Calls
	}
	sizes := map[string]map[string]int64{}
	res.Sizes = map[string]int64{}
	for _, db := range serviceDBs {
		if sizes[db], err = plans.Sizes(ctx, b.dbs[db]); err != nil {
			return nil, err
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
	res.Analyzed = append(res.Analyzed, b.analyzeFind(ctx, res.Generic, sizes)...)
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
	return res, nil
}

// logStatements logs every statement the server runs while window runs
// (log_min_duration_statement = 0, a reloadable setting), then puts the
// stack's settings back and reads the statements from the server log.
func (b *bench) logStatements(ctx context.Context, window func(context.Context) error) ([]plans.Stmt, error) {
	pg := b.dbs["postgres"]
	path := filepath.Join(b.dir, "pg", "postgres.log")
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("the server log: %w", err)
	}
	if err := reconfigure(ctx, pg, `ALTER SYSTEM SET log_line_prefix = '`+plans.LogPrefix+`'`, `ALTER SYSTEM SET log_min_duration_statement = 0`); err != nil {
		return nil, err
	}
	werr := window(ctx)
	if err := reconfigure(context.WithoutCancel(ctx), pg, `ALTER SYSTEM RESET log_min_duration_statement`, `ALTER SYSTEM RESET log_line_prefix`); err != nil {
		return nil, err
	}
	if werr != nil {
		return nil, werr
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(fi.Size(), io.SeekStart); err != nil {
		return nil, err
	}
	return plans.Logged(f)
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
		if p.DB != db || !strings.Contains(p.Query, "FROM "+table) || !strings.Contains(p.Query, "ORDER BY create_time DESC, id DESC LIMIT") || c.heavy.ID == "" {
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
		bind(reUserParam, c.heavy.ID)
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

// reFindOrder is the order service's lookup of an order by its key.
var reFindOrder = regexp.MustCompile(`FROM orders WHERE user_id = \$(\d+) AND request_id = \$(\d+)\s*$`)

// analyzeFind runs the lookup of an order by its idempotency key, the
// first statement of every CreateOrder, for the heavy user: its cost must
// not grow with the user's orders.
func (b *bench) analyzeFind(ctx context.Context, generic []plans.Plan, sizes map[string]map[string]int64) []plans.Plan {
	var out []plans.Plan
	for _, p := range generic {
		m := reFindOrder.FindStringSubmatch(p.Query)
		if p.DB != "kassa_order" || m == nil {
			continue
		}
		u, _ := strconv.Atoi(m[1])
		k, _ := strconv.Atoi(m[2])
		a := plans.Analyze(ctx, b.dbs[p.DB], "an order of the heavy user by its key", p.Query,
			map[int]string{u: preload.UserID(1), k: fmt.Sprintf("pl-order-%d", b.res.Large.Size.Heavy/2)})
		a.DB, a.Calls = p.DB, p.Calls
		a.Flag(sizes[p.DB])
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
		"Every statement the services sent while the server logged all statements (35 s of orders at a low rate, longer than the "+
		"order service's repair interval, and the heavy user's list pages) is shown as they sent it, with its "+
		"generic plan, the plan a prepared statement runs whatever its parameters (`plan_cache_mode = force_generic_plan`, "+
		"explained without running). *Calls* are those of that window. A table of more than %s rows "+
		"read by a Seq Scan is flagged, and `make bench-smoke` fails on it; smaller tables (refusals, the outboxes' due rows) "+
		"may be read whole, which is what the planner picks when that is cheaper than an index.",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), l.Mode, thousands(l.Size.Users), thousands(int(rows["transactions"])),
		thousands(int(rows["orders"])), thousands(int(rows["notifications"])), "`pl1`", thousands(l.Size.Heavy), thousands(plans.LargeRows))
}
