package plans

import (
	"context"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/services/platform/pgtest"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

func TestPlansFlagSequentialScansOfLargeTables(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t, nil).DB
	for _, s := range []string{
		`CREATE TABLE big (id int PRIMARY KEY, owner int NOT NULL, note text NOT NULL)`,
		`INSERT INTO big SELECT n, n % 100, 'x' FROM generate_series(1, 20000) n`,
		`CREATE TABLE small (id int PRIMARY KEY, note text, x text)`,
		`INSERT INTO small VALUES (1, 'a')`,
		`ANALYZE`,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	sizes, err := Sizes(ctx, db)
	if err != nil || sizes["big"] != 20000 {
		t.Fatalf("Sizes = %v, %v", sizes, err)
	}
	for _, c := range []struct {
		query, verdict, reads string
	}{
		{`SELECT note FROM big WHERE id = $1`, "index", "Index Scan using big_pkey on big"},
		{`SELECT note FROM big WHERE id = $1 OR id = $2`, "index", "Bitmap Heap Scan on big; Bitmap Index Scan using big_pkey; Bitmap Index Scan using big_pkey"},
		{`SELECT note FROM big WHERE owner = $1 AND note = $2`, "**SEQ SCAN** of big", "Seq Scan on big"},
		// A small table may be read whole: that is cheaper than its index.
		{`SELECT note FROM small WHERE note = $1`, "index", "Seq Scan on small"},
		{`UPDATE big SET note = $2 WHERE id = $1`, "index", "Index Scan using big_pkey on big"},
		{`SELECT no_such_column FROM big`, "not explained", ""},
	} {
		p := Generic(ctx, db, c.query)
		p.Flag(sizes)
		if p.Verdict() != c.verdict || p.Reads() != c.reads {
			t.Errorf("%s: verdict %q reads %q (err %q), want %q, %q", c.query, p.Verdict(), p.Reads(), p.Err, c.verdict, c.reads)
		}
	}

	// Analyze runs the statement, with real values, and keeps nothing.
	p := Analyze(ctx, db, "an insert", `INSERT INTO small (id, note, x) VALUES ($1, $2, $3)`, map[int]string{1: "2", 2: "it's"})
	if p.Err != "" || !strings.Contains(p.Text, "actual time") {
		t.Fatalf("Analyze: %q, %q", p.Text, p.Err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM small`).Scan(&n); err != nil || n != 1 {
		t.Errorf("small has %d rows after Analyze (%v), want 1", n, err)
	}

	md := Markdown("Plans", "Intro.", []Plan{{DB: "d", Query: "SELECT a || b FROM big", Calls: 3, Text: "Seq Scan on big", Scans: []Scan{{Node: "Seq Scan", Relation: "big"}}, SeqScans: []string{"big"}}}, []Plan{p})
	for _, want := range []string{"# Plans\n", "| d | `SELECT a \\|\\| b FROM big` | 3 | Seq Scan on big | **SEQ SCAN** of big |", "### an insert (", "actual time"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestExplainableAndParams(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1": true, "  with x AS (SELECT 1) SELECT * FROM x": true, "insert into t values ($1)": true,
		"BEGIN": false, "COMMIT": false, "CREATE TABLE t (x int)": false, "SET x = 1": false, "": false,
	} {
		if got := Explainable(q); got != want {
			t.Errorf("Explainable(%q) = %v", q, got)
		}
	}
	if n := params(`SELECT $1, $12, $3`); n != 12 {
		t.Errorf("params = %d, want 12", n)
	}
}
