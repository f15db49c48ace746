// Package pgstat reads PostgreSQL's own statistics during the load: how
// many transactions committed and how many WAL flushes they took (commits
// per fsync shows how well group commit works), and what the backends were
// doing, sampled from pg_stat_activity (on CPU, waiting for the WAL flush,
// waiting for a lock, or idle waiting for the service that holds the
// connection).
package pgstat

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"
)

// Counters are cumulative server counters.
type Counters struct {
	At        time.Time
	Commits   int64
	Rollbacks int64
	WALBytes  int64
	WALWrites int64
	WALSyncs  int64
	// WALSyncMs is the time spent in WAL flushes (with track_wal_io_timing).
	WALSyncMs float64
}

// Read reads the counters of the databases named dbs (and the
// server-wide WAL counters).
func Read(ctx context.Context, db *sql.DB, dbs []string) (Counters, error) {
	c := Counters{At: time.Now()}
	err := db.QueryRowContext(ctx, `SELECT coalesce(sum(xact_commit), 0), coalesce(sum(xact_rollback), 0)
		FROM pg_stat_database WHERE datname = ANY($1)`, pq.Array(dbs)).Scan(&c.Commits, &c.Rollbacks)
	if err != nil {
		return c, fmt.Errorf("pg_stat_database: %w", err)
	}
	err = db.QueryRowContext(ctx, `SELECT wal_bytes::bigint, wal_write, wal_sync, wal_sync_time FROM pg_stat_wal`).Scan(&c.WALBytes, &c.WALWrites, &c.WALSyncs, &c.WALSyncMs)
	if err != nil {
		return c, fmt.Errorf("pg_stat_wal: %w", err)
	}
	return c, nil
}

// Rates are the counters' changes per second between two readings.
type Rates struct {
	CommitsPerS   float64 `json:"commits_per_s"`
	RollbacksPerS float64 `json:"rollbacks_per_s"`
	WALSyncsPerS  float64 `json:"wal_syncs_per_s"`
	WALMiBPerS    float64 `json:"wal_mib_per_s"`
	// CommitsPerSync is how many commits one WAL flush made durable.
	CommitsPerSync float64 `json:"commits_per_sync"`
	// SyncMs is the mean duration of a WAL flush (0 without
	// track_wal_io_timing).
	SyncMs float64 `json:"wal_sync_ms"`
}

// Since returns the rates from a to c.
func (c Counters) Since(a Counters) Rates {
	s := c.At.Sub(a.At).Seconds()
	if s <= 0 {
		return Rates{}
	}
	r := Rates{
		CommitsPerS:   float64(c.Commits-a.Commits) / s,
		RollbacksPerS: float64(c.Rollbacks-a.Rollbacks) / s,
		WALSyncsPerS:  float64(c.WALSyncs-a.WALSyncs) / s,
		WALMiBPerS:    float64(c.WALBytes-a.WALBytes) / s / (1 << 20),
	}
	if syncs := c.WALSyncs - a.WALSyncs; syncs > 0 {
		r.CommitsPerSync = float64(c.Commits-a.Commits) / float64(syncs)
		r.SyncMs = (c.WALSyncMs - a.WALSyncMs) / float64(syncs)
	}
	return r
}

// Activity is the average number of client backends per database in each
// state, and of autovacuum workers per table and pass, from repeated
// samples of pg_stat_activity.
type Activity struct {
	Samples int `json:"samples"`
	// ByDatabase maps database → "state (wait event)" → average backends.
	ByDatabase map[string]map[string]float64 `json:"by_database"`
}

// Sampler samples pg_stat_activity until stopped.
type Sampler struct {
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	samples int
	counts  map[string]map[string]int
	err     error
}

// Sample starts sampling the client backends of the databases named dbs
// every interval.
func Sample(ctx context.Context, db *sql.DB, dbs []string, interval time.Duration) *Sampler {
	s := &Sampler{stop: make(chan struct{}), done: make(chan struct{}), counts: make(map[string]map[string]int)}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := s.sample(ctx, db, dbs); err != nil {
					s.mu.Lock()
					s.err = err
					s.mu.Unlock()
					return
				}
			}
		}
	}()
	return s
}

func (s *Sampler) sample(ctx context.Context, db *sql.DB, dbs []string) error {
	// Autovacuum workers too: a pass over a growing table takes CPU from
	// the requests, and its samples say which window it overlapped. And
	// the checkpointer, whose writes and file syncs compete with the
	// commits' WAL flushes for the disk; it belongs to no database.
	rows, err := db.QueryContext(ctx, `SELECT coalesce(datname, ''), coalesce(state, ''), coalesce(wait_event_type || ':' || wait_event, ''),
		CASE WHEN backend_type = 'autovacuum worker' THEN coalesce(query, '') ELSE '' END, backend_type = 'checkpointer'
		FROM pg_stat_activity
		WHERE (backend_type IN ('client backend', 'autovacuum worker') AND pid <> pg_backend_pid() AND datname = ANY($1))
		   OR backend_type = 'checkpointer'`, pq.Array(dbs))
	if err != nil {
		return err
	}
	defer rows.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for rows.Next() {
		var dbname, state, wait, maintenance string
		var checkpointer bool
		if err := rows.Scan(&dbname, &state, &wait, &maintenance, &checkpointer); err != nil {
			return err
		}
		if checkpointer {
			if what := DescribeCheckpointer(wait); what != "" {
				if s.counts[CheckpointerKey] == nil {
					s.counts[CheckpointerKey] = make(map[string]int)
				}
				s.counts[CheckpointerKey][what]++
			}
			continue
		}
		m := s.counts[dbname]
		if m == nil {
			m = make(map[string]int)
			s.counts[dbname] = m
		}
		if maintenance != "" {
			m[DescribeMaintenance(maintenance)]++
			continue
		}
		m[Describe(state, wait)]++
	}
	s.samples++
	return rows.Err()
}

// Describe names what a backend is doing.
func Describe(state, wait string) string {
	switch {
	case state == "active" && wait == "":
		return "active (on CPU)"
	case state == "idle":
		return "idle (no transaction, waiting for the service)"
	case state == "idle in transaction":
		return "idle in transaction (waiting for the service)"
	case wait != "":
		return state + " (" + wait + ")"
	}
	return state
}

// CheckpointerKey is the entry of Activity.ByDatabase that holds the
// checkpointer's samples while a checkpoint runs.
const CheckpointerKey = "checkpointer"

// DescribeCheckpointer names the checkpoint phase of the checkpointer's
// wait event: "" while it waits for the next checkpoint, "checkpoint
// (syncing files)" while it flushes the data files (the phase that delays
// WAL flushes on a slow disk), "checkpoint (writing)" otherwise, the
// pauses that spread its writes included.
func DescribeCheckpointer(wait string) string {
	switch wait {
	case "", "Activity:CheckpointerMain":
		return ""
	case "IO:DataFileSync", "IO:DataFileFlush":
		return "checkpoint (syncing files)"
	}
	return "checkpoint (writing)"
}

// DescribeMaintenance names what an autovacuum worker is doing from its
// query text ("autovacuum: VACUUM ANALYZE public.orders"), without the
// schema: "autovacuum (VACUUM ANALYZE orders)".
func DescribeMaintenance(query string) string {
	what := strings.TrimSpace(strings.TrimPrefix(query, "autovacuum:"))
	what = strings.TrimSuffix(what, " (to prevent wraparound)")
	if what == "" {
		return "autovacuum"
	}
	if i := strings.LastIndexByte(what, ' '); i >= 0 {
		what = what[:i+1] + strings.TrimPrefix(what[i+1:], "public.")
	}
	return "autovacuum (" + what + ")"
}

// Stop ends sampling and returns the averages.
func (s *Sampler) Stop() (Activity, error) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	a := Activity{Samples: s.samples, ByDatabase: make(map[string]map[string]float64)}
	if s.samples == 0 {
		return a, s.err
	}
	for db, m := range s.counts {
		out := make(map[string]float64, len(m))
		for k, n := range m {
			out[k] = float64(n) / float64(s.samples)
		}
		a.ByDatabase[db] = out
	}
	return a, s.err
}

// Lines renders the activity, busiest states first.
func (a Activity) Lines() []string {
	var out []string
	for _, db := range slices.Sorted(maps.Keys(a.ByDatabase)) {
		m := a.ByDatabase[db]
		keys := slices.Collect(maps.Keys(m))
		sort.Slice(keys, func(i, j int) bool {
			if m[keys[i]] != m[keys[j]] {
				return m[keys[i]] > m[keys[j]]
			}
			return keys[i] < keys[j]
		})
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%.1f %s", m[k], k))
		}
		out = append(out, fmt.Sprintf("%-19s %s", db, strings.Join(parts, ", ")))
	}
	return out
}

// EnableWALTiming turns on track_wal_io_timing, which a reload applies, so
// that pg_stat_wal times the WAL flushes: the price of each durable commit.
// It costs two clock readings per flush.
func EnableWALTiming(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `ALTER SYSTEM SET track_wal_io_timing = on`); err != nil {
		return err
	}
	_, err := db.ExecContext(ctx, `SELECT pg_reload_conf()`)
	return err
}
