package plans

import (
	"strings"
	"testing"
)

const sampleLog = `2026-12-01 14:05:00.100 UTC [11] db=kassa_order user=postgres LOG:  duration: 0.020 ms  parse s1: SELECT id FROM orders
	WHERE status = 'pending' LIMIT $1
2026-12-01 14:05:00.101 UTC [11] db=kassa_order user=postgres LOG:  duration: 0.010 ms  bind s1: SELECT id FROM orders
	WHERE status = 'pending' LIMIT $1
2026-12-01 14:05:00.102 UTC [11] db=kassa_order user=postgres DETAIL:  parameters: $1 = '10'
2026-12-01 14:05:00.103 UTC [11] db=kassa_order user=postgres LOG:  duration: 0.050 ms  execute s1: SELECT id FROM orders
	WHERE status = 'pending' LIMIT $1
2026-12-01 14:05:00.104 UTC [11] db=kassa_order user=postgres DETAIL:  parameters: $1 = '10'
2026-12-01 14:05:00.200 UTC [12] db=kassa_order user=postgres LOG:  duration: 0.040 ms  execute <unnamed>: SELECT id FROM orders
	WHERE status = 'pending' LIMIT $1
2026-12-01 14:05:00.300 UTC [13] db=kassa_user user=kassa_bench LOG:  duration: 1.000 ms  statement: SELECT count(*) FROM users
2026-12-01 14:05:00.400 UTC [14] db=kassa_user user=postgres ERROR:  duplicate key value violates unique constraint "x"
2026-12-01 14:05:00.401 UTC [14] db=kassa_user user=postgres STATEMENT:  INSERT INTO users (id) VALUES ($1)
2026-12-01 14:05:00.500 UTC [15] db=[unknown] user=[unknown] LOG:  connection received: host=127.0.0.1 port=5000
`

func TestLoggedReadsTheStatementsAsSent(t *testing.T) {
	got, err := Logged(strings.NewReader(sampleLog))
	if err != nil {
		t.Fatal(err)
	}
	want := []Stmt{
		{DB: "kassa_order", User: "postgres", Query: "SELECT id FROM orders\n\tWHERE status = 'pending' LIMIT $1", Calls: 2},
		{DB: "kassa_user", User: "kassa_bench", Query: "SELECT count(*) FROM users", Calls: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("Logged = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("statement %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
