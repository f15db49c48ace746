package plans

import (
	"bufio"
	"io"
	"regexp"
	"strings"
)

// The services' statements are read from the server's log, not from
// pg_stat_statements: the view replaces every constant by a parameter, and
// a plan depends on them (status = 'pending' matches a partial index's
// predicate, status = $5 does not). With log_min_duration_statement = 0
// and LogPrefix, every statement the server executes is logged with its
// database, its role and its text as sent.

// LogPrefix is the log_line_prefix Logged parses: time, pid, database,
// role.
const LogPrefix = `%m [%p] db=%d user=%u `

var (
	reEntry = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[\d+\] db=(\S*) user=(\S*) (\w+):  (.*)$`)
	// The statement of an entry: an executed prepared or unnamed
	// statement (extended protocol) or a simple query.
	reStatement = regexp.MustCompile(`^duration: [\d.]+ ms  (?:execute [^:]+|statement): (.*)$`)
)

// Stmt is a statement as the server ran it, and how often in the log.
type Stmt struct {
	DB, User, Query string
	Calls           int64
}

// Logged returns the distinct statements of the server log r, in order of
// first appearance.
func Logged(r io.Reader) ([]Stmt, error) {
	type key struct{ db, user, query string }
	index := map[key]int{}
	var out []Stmt
	var cur *key
	var text strings.Builder
	flush := func() {
		if cur == nil {
			return
		}
		k := *cur
		k.query = strings.TrimSpace(text.String())
		cur = nil
		if i, ok := index[k]; ok {
			out[i].Calls++
			return
		}
		index[k] = len(out)
		out = append(out, Stmt{DB: k.db, User: k.user, Query: k.query, Calls: 1})
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		m := reEntry.FindStringSubmatch(line)
		if m == nil {
			// A statement's further lines.
			if cur != nil {
				text.WriteString("\n" + line)
			}
			continue
		}
		flush()
		if m[3] != "LOG" {
			continue
		}
		if s := reStatement.FindStringSubmatch(m[4]); s != nil {
			cur = &key{db: m[1], user: m[2]}
			text.Reset()
			text.WriteString(s[1])
		}
	}
	flush()
	return out, sc.Err()
}
