package pgstat

import (
	"strings"
	"testing"
	"time"
)

func TestSince(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := Counters{At: t0, Commits: 1000, Rollbacks: 10, WALBytes: 0, WALSyncs: 500}
	b := Counters{At: t0.Add(2 * time.Second), Commits: 5000, Rollbacks: 30, WALBytes: 4 << 20, WALSyncs: 1500, WALSyncMs: 750}
	r := b.Since(a)
	want := Rates{CommitsPerS: 2000, RollbacksPerS: 10, WALSyncsPerS: 500, WALMiBPerS: 2, CommitsPerSync: 4, SyncMs: 0.75}
	if r != want {
		t.Errorf("Since = %+v, want %+v", r, want)
	}
	if (a.Since(a) != Rates{}) {
		t.Error("an empty interval must give zero rates, not a division by zero")
	}
	c := b
	c.WALSyncs = a.WALSyncs
	if got := c.Since(a).CommitsPerSync; got != 0 {
		t.Errorf("commits per sync without syncs = %v, want 0", got)
	}
}

func TestDescribe(t *testing.T) {
	for _, c := range []struct{ state, wait, want string }{
		{"active", "", "active (on CPU)"},
		{"active", "IO:WALSync", "active (IO:WALSync)"},
		{"active", "Lock:transactionid", "active (Lock:transactionid)"},
		{"idle", "Client:ClientRead", "idle (no transaction, waiting for the service)"},
		{"idle in transaction", "Client:ClientRead", "idle in transaction (waiting for the service)"},
	} {
		if got := Describe(c.state, c.wait); got != c.want {
			t.Errorf("Describe(%q, %q) = %q, want %q", c.state, c.wait, got, c.want)
		}
	}
}

func TestDescribeCheckpointer(t *testing.T) {
	for _, c := range []struct{ wait, want string }{
		{"Activity:CheckpointerMain", ""},
		{"", ""},
		{"Timeout:CheckpointWriteDelay", "checkpoint (writing)"},
		{"IO:DataFileWrite", "checkpoint (writing)"},
		{"IO:DataFileSync", "checkpoint (syncing files)"},
		{"IO:DataFileFlush", "checkpoint (syncing files)"},
	} {
		if got := DescribeCheckpointer(c.wait); got != c.want {
			t.Errorf("DescribeCheckpointer(%q) = %q, want %q", c.wait, got, c.want)
		}
	}
}

func TestDescribeMaintenance(t *testing.T) {
	for _, c := range []struct{ query, want string }{
		{"autovacuum: VACUUM public.orders", "autovacuum (VACUUM orders)"},
		{"autovacuum: VACUUM ANALYZE public.order_letters", "autovacuum (VACUUM ANALYZE order_letters)"},
		{"autovacuum: ANALYZE public.transactions", "autovacuum (ANALYZE transactions)"},
		{"autovacuum: VACUUM pg_catalog.pg_class (to prevent wraparound)", "autovacuum (VACUUM pg_catalog.pg_class)"},
		{"", "autovacuum"},
	} {
		if got := DescribeMaintenance(c.query); got != c.want {
			t.Errorf("DescribeMaintenance(%q) = %q, want %q", c.query, got, c.want)
		}
	}
}

func TestActivityLines(t *testing.T) {
	a := Activity{Samples: 10, ByDatabase: map[string]map[string]float64{
		"kassa_order":   {"active (on CPU)": 0.5, "idle in transaction (waiting for the service)": 3.2},
		"kassa_billing": {"active (IO:WALSync)": 1.0},
	}}
	lines := a.Lines()
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "kassa_billing") {
		t.Fatalf("Lines = %q, want one line per database, sorted", lines)
	}
	if !strings.Contains(lines[1], "3.2 idle in transaction (waiting for the service), 0.5 active (on CPU)") {
		t.Errorf("order line %q does not list the busiest state first", lines[1])
	}
}
