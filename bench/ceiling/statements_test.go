package ceiling

import (
	"go/ast"
	"strings"
	"testing"
)

// The statements in statements.go are copies; this holds each one against
// the statement of the service's store, read from its source, so that a
// change on either side fails here until the other side follows.
func TestStatementsAreTheServices(t *testing.T) {
	stores := map[string]*storeSource{}
	for _, svc := range []string{"user", "order", "billing", "notification"} {
		stores[svc] = readStore(t, svc)
	}
	// holds binds a local or parameter of the function to the package
	// variable it holds when the function sends the statement copied:
	// the key space of an order's payment or letter, or of a client's.
	holds := func(local, pkgVar string) scope { return scope{local: ast.NewIdent(pkgVar)} }
	for _, c := range []struct {
		copy, service, fn string
		sc                scope
		stmt              string
	}{
		{"getUser", "user", "Store.Get", nil, getUser},
		{"createOrder", "order", "Store.Create", nil, createOrder},
		{"recordOutcome", "order", "Store.RecordOutcome", nil, recordOutcome},
		{"markSent", "order", "Store.MarkSent", nil, markSent},
		{"sendOrderLetter", "notification", "Store.Send", holds("ns", "orderKeys"), sendOrderLetter},
		{"lockAccount", "billing", "Store.MoveOnce", nil, lockAccount},
		{"orderKeys.apply", "billing", "Store.MoveOnce", holds("keys", "orderKeys"), orderKeys.apply},
		{"orderKeys.key", "billing", "readKey", holds("keys", "orderKeys"), orderKeys.key},
		{"clientKeys.apply", "billing", "Store.MoveOnce", holds("keys", "clientKeys"), clientKeys.apply},
	} {
		t.Run(c.copy, func(t *testing.T) {
			sent, err := stores[c.service].statements(c.fn, c.sc)
			if err != nil {
				t.Fatal(err)
			}
			want := flat(c.stmt)
			best := ""
			for _, s := range sent {
				s = flat(s)
				if s == want {
					return
				}
				if commonPrefix(s, want) > commonPrefix(best, want) {
					best = s
				}
			}
			n := commonPrefix(best, want)
			t.Errorf("ceiling's %s is not a statement of the %s service's %s (white space aside); make them the same\n"+
				"ceiling: %s\n"+
				"service: %s\n"+
				"first difference at byte %d: ceiling %q, service %q",
				c.copy, c.service, c.fn, want, best, n, excerpt(want, n), excerpt(best, n))
		})
	}
}

// The reader finds statements in the shapes the stores write them, and
// reports a function it does not have rather than finding nothing.
func TestStoreSourceReadsStatements(t *testing.T) {
	s := readStore(t, "notification")
	order, err := s.statements("Store.Send", scope{"ns": ast.NewIdent("orderKeys")})
	if err != nil {
		t.Fatal(err)
	}
	client, err := s.statements("Store.Send", scope{"ns": ast.NewIdent("clientKeys")})
	if err != nil {
		t.Fatal(err)
	}
	has := func(stmts []string, sub string) bool {
		for _, q := range stmts {
			if strings.Contains(flat(q), sub) {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		stmts []string
		sub   string
		want  bool
	}{
		{order, "ON CONFLICT (order_id, request_id) WHERE order_id IS NOT NULL DO NOTHING", true},
		{order, "WHERE order_id = $1::uuid AND request_id = $2", true},
		{client, "ON CONFLICT (user_id, request_id) WHERE order_id IS NULL DO NOTHING", true},
		{client, "ON CONFLICT (order_id, request_id)", false},
	} {
		if got := has(c.stmts, c.sub); got != c.want {
			t.Errorf("a statement containing %q: %v, want %v", c.sub, got, c.want)
		}
	}
	if _, err := s.statements("Store.NoSuchMethod", nil); err == nil {
		t.Error("an unknown function must be an error")
	}
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// excerpt is up to 40 bytes of s from byte i.
func excerpt(s string, i int) string {
	if i >= len(s) {
		return ""
	}
	return s[i:min(len(s), i+40)]
}
