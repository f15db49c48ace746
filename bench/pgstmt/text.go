package pgstmt

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
)

var (
	reLineComment  = regexp.MustCompile(`--[^\n]*`)
	reBlockComment = regexp.MustCompile(`(?s)/\*.*?\*/`)
	reSpace        = regexp.MustCompile(`\s+`)
	reParam        = regexp.MustCompile(`\$\d+`)
	// Expressions made of parameters alone, innermost first: a cast, a
	// concatenation, a call (not VALUES or IN, whose lists stay lists),
	// parentheses.
	reShapeRules = []*regexp.Regexp{
		regexp.MustCompile(`\$::[a-z_][a-z0-9_]*(\[\])?`),
		regexp.MustCompile(`\$ ?\|\| ?\$`),
		regexp.MustCompile(`\b(?:[a-z_][a-z0-9_.]*)\(\$(?:, ?\$)*\)`),
		regexp.MustCompile(`\(\$\)`),
	}
	reKeywordCall = regexp.MustCompile(`^(values|in|any|all|exists)\(`)
)

// flatten drops comments and runs of white space.
func flatten(query string) string {
	q := reBlockComment.ReplaceAllString(query, " ")
	q = reLineComment.ReplaceAllString(q, " ")
	q = reSpace.ReplaceAllString(q, " ")
	q = strings.ReplaceAll(strings.ReplaceAll(q, "( ", "("), " )", ")")
	return strings.TrimSpace(q)
}

// Shape reduces a normalised statement to what two clients sending the
// same statement have in common: pg_stat_statements already replaced the
// constants by $n, and Shape also forgets the parameters' numbers and any
// expression computed from parameters alone. kassa binds a user's id as
// $1 where the ceiling's pgbench script computes it from a number,
// ('…' || lpad($1::text, $5, $6))::uuid; both become $, so the statements
// match.
func Shape(query string) string {
	q := strings.ToLower(flatten(query))
	q = reParam.ReplaceAllString(q, "$")
	for {
		before := q
		for _, re := range reShapeRules {
			q = re.ReplaceAllStringFunc(q, func(m string) string {
				if reKeywordCall.MatchString(m) {
					return m
				}
				return "$"
			})
		}
		if q == before {
			return q
		}
	}
}

// Shorten renders a statement on one line of at most width characters:
// the lists of selected, returned, inserted columns and of inserted
// values become "…", which leaves the table and the conditions.
func Shorten(query string, width int) string {
	q := flatten(query)
	q = collapseLists(q, "SELECT", []string{"FROM"})
	q = collapseLists(q, "RETURNING", nil)
	q = collapseGroups(q, "VALUES")
	q = collapseInsertColumns(q)
	r := []rune(q)
	if width > 0 && len(r) > width {
		return string(r[:width-1]) + "…"
	}
	return q
}

// collapseLists replaces the list after each keyword kw, up to one of
// ends (or the end of the enclosing parentheses, or of the text), by "…"
// when it has more than one item.
func collapseLists(q, kw string, ends []string) string {
	var b strings.Builder
	for {
		i := indexWord(q, kw)
		if i < 0 {
			b.WriteString(q)
			return b.String()
		}
		start := i + len(kw)
		b.WriteString(q[:start])
		q = q[start:]
		end, items := scanList(q, ends)
		if items < 2 {
			b.WriteString(q[:end])
		} else {
			b.WriteString(" …")
		}
		q = q[end:]
	}
}

// scanList finds where the list at the start of q ends: before a word of
// ends at parenthesis depth 0, before a ")" that closes an enclosing
// group, or at the end. It also counts the list's items.
func scanList(q string, ends []string) (end, items int) {
	depth, items := 0, 1
	inString := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case inString:
			if c == '\'' {
				inString = false
			}
		case c == '\'':
			inString = true
		case c == '(':
			depth++
		case c == ')':
			if depth == 0 {
				return trimEnd(q, i), items
			}
			depth--
		case c == ',' && depth == 0:
			items++
		case c == ' ' && depth == 0:
			for _, e := range ends {
				if wordAt(q, i+1, e) {
					return i, items
				}
			}
		}
	}
	return len(q), items
}

func trimEnd(q string, i int) int {
	for i > 0 && q[i-1] == ' ' {
		i--
	}
	return i
}

// collapseGroups replaces the parenthesised group after each keyword kw
// by "(…)".
func collapseGroups(q, kw string) string { return collapseAfter(q, kw, false) }

// collapseInsertColumns replaces the column list of INSERT INTO t (…).
func collapseInsertColumns(q string) string { return collapseAfter(q, "INSERT INTO", true) }

// collapseAfter replaces the parenthesised group that follows each keyword
// kw (after a name, with skipName) by "(…)".
func collapseAfter(q, kw string, skipName bool) string {
	var b strings.Builder
	for {
		i := indexWord(q, kw)
		if i < 0 {
			b.WriteString(q)
			return b.String()
		}
		j := i + len(kw)
		for j < len(q) && q[j] == ' ' {
			j++
		}
		if skipName {
			for j < len(q) && q[j] != ' ' && q[j] != '(' {
				j++
			}
			for j < len(q) && q[j] == ' ' {
				j++
			}
		}
		b.WriteString(q[:j])
		q = q[j:]
		if end := groupEnd(q); end > 0 {
			b.WriteString("(…)")
			q = q[end:]
		}
	}
}

// groupEnd returns the length of the parenthesised group at the start of
// q, 0 without one.
func groupEnd(q string) int {
	if !strings.HasPrefix(q, "(") {
		return 0
	}
	depth, inString := 0, false
	for i := 0; i < len(q); i++ {
		switch c := q[i]; {
		case inString:
			inString = c != '\''
		case c == '\'':
			inString = true
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return 0
}

// indexWord finds kw in q as whole words, in any case.
func indexWord(q, kw string) int {
	for i := 0; i+len(kw) <= len(q); i++ {
		if wordAt(q, i, kw) {
			return i
		}
	}
	return -1
}

func wordAt(q string, i int, kw string) bool {
	if i+len(kw) > len(q) || !strings.EqualFold(q[i:i+len(kw)], kw) {
		return false
	}
	isWord := func(c byte) bool {
		return c == '_' || c == '.' || c == '*' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	return (i == 0 || !isWord(q[i-1])) && (i+len(kw) == len(q) || !isWord(q[i+len(kw)]))
}

// Side is a statement's numbers in one window, per request.
type Side struct {
	Counters
	Statements      int     `json:"statements"` // entries of the view behind it
	CallsPerRequest float64 `json:"calls_per_request"`
	MeanExecUs      float64 `json:"mean_exec_us"`
	Share           float64 `json:"share_of_exec_time"`
}

func (w Window) side(c Counters, n int) *Side {
	s := &Side{Counters: c, Statements: n}
	if w.Requests > 0 {
		s.CallsPerRequest = float64(c.Calls) / w.Requests
	}
	if c.Calls > 0 {
		s.MeanExecUs = 1000 * c.ExecMs / float64(c.Calls)
	}
	if w.Total.ExecMs > 0 {
		s.Share = c.ExecMs / w.Total.ExecMs
	}
	return s
}

// Row is one statement of a comparison of two windows: a's statements of
// one shape in one database, and b's statements of that shape, if any.
type Row struct {
	DB    string // a's database; "" for a statement only b ran
	Shape string
	// Query is the text of a's (else b's) statement with the most time.
	Query string
	A, B  *Side
}

// Compare matches the statements of a (kassa, one database per service)
// with those of b (the ceiling, all tables in one database) by Shape.
// Statements of one shape add up on each side: the ceiling's script for a
// rejected order sets failure_reason to a concatenation where kassa binds
// one parameter, and both are Settle. A shape of b that a runs in more
// than one database (COMMIT) is not matched: it would count twice.
//
// The rows come database by database, the one with the most execution
// time first, then b's unmatched statements; longest first within each.
func Compare(a, b Window) []Row {
	type group struct {
		db, shape, query string
		top              float64 // execution time of the statement whose text is shown
		c                Counters
		n                int
	}
	collect := func(w Window, byDB bool) (map[[2]string]*group, []*group) {
		m := map[[2]string]*group{}
		var order []*group
		for _, s := range w.Statements {
			k := [2]string{"", Shape(s.Query)}
			if byDB {
				k[0] = s.DB
			}
			g := m[k]
			if g == nil {
				g = &group{db: k[0], shape: k[1]}
				m[k] = g
				order = append(order, g)
			}
			if g.n == 0 || s.ExecMs > g.top {
				g.query, g.top = s.Query, s.ExecMs
			}
			g.c = g.c.add(s.Counters)
			g.n++
		}
		return m, order
	}
	_, as := collect(a, true)
	bm, bs := collect(b, false)
	dbsOf := map[string]int{}
	for _, g := range as {
		dbsOf[g.shape]++
	}
	dbTime := map[string]float64{}
	var rows []Row
	matched := map[string]bool{}
	for _, g := range as {
		r := Row{DB: g.db, Shape: g.shape, Query: g.query, A: a.side(g.c, g.n)}
		if bg := bm[[2]string{"", g.shape}]; bg != nil && dbsOf[g.shape] == 1 && !transactionControl(g.shape) {
			r.B = b.side(bg.c, bg.n)
			matched[g.shape] = true
		}
		dbTime[g.db] += g.c.ExecMs
		rows = append(rows, r)
	}
	for _, g := range bs {
		if !matched[g.shape] {
			rows = append(rows, Row{Shape: g.shape, Query: g.query, B: b.side(g.c, g.n)})
		}
	}
	slices.SortStableFunc(rows, func(x, y Row) int {
		if (x.DB == "") != (y.DB == "") {
			if x.DB == "" {
				return 1
			}
			return -1
		}
		if x.DB != y.DB {
			return cmp.Or(cmp.Compare(dbTime[y.DB], dbTime[x.DB]), cmp.Compare(x.DB, y.DB))
		}
		return cmp.Compare(y.time(), x.time())
	})
	return rows
}

// transactionControl tells BEGIN, COMMIT and the like, which are not
// matched: pg_stat_statements clears the queryid of a utility statement's
// plan as it runs it, so a prepared one counts at its first execution only
// (seen with PostgreSQL 15). pgbench -M prepared shows one BEGIN per
// connection; kassa's, sent as simple queries, count every time.
func transactionControl(shape string) bool {
	word, _, _ := strings.Cut(shape, " ")
	switch word {
	case "begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release":
		return true
	}
	return false
}

func (r Row) time() float64 {
	if r.A != nil {
		return r.A.ExecMs
	}
	return r.B.ExecMs
}
