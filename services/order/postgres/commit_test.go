package postgres_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/postgres"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
)

// walWrites is how often the cluster has written WAL out so far: once per
// commit that waits for its WAL, plus the WAL writer's rounds (every 200
// ms) and whatever fills the buffers. A backend reports its counts when
// idle, at most once a second unless told to, so db (one connection) is
// told to first.
func walWrites(t *testing.T, db *sqlx.DB) int64 {
	t.Helper()
	if _, err := db.Exec(`SELECT pg_stat_force_next_flush()`); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := db.Get(&n, `SELECT wal_write FROM pg_stat_wal`); err != nil {
		t.Fatal(err)
	}
	return n
}

// The two statements that record what a peer holds durably (billing's
// answer, a letter the notification service stored) commit without
// waiting for their WAL, even where every other commit waits; the order
// itself, which nothing else holds, still waits. The test cluster commits
// asynchronously by default, so the pool here asks for synchronous
// commits, as a production server has them; the WAL writer's own rounds
// are the noise the bounds leave room for.
func TestReplayableSteps_DoNotWaitForTheWAL(t *testing.T) {
	base := pgtest.NewDB(t, postgres.Migrations)
	u, err := url.Parse(pgtest.URL(t, base))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("synchronous_commit", "on")
	u.RawQuery = q.Encode()
	db, err := pgdb.Open(context.Background(), u.String(), pgdb.Options{MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var setting string
	if err := db.Get(&setting, `SHOW synchronous_commit`); err != nil || setting != "on" {
		t.Fatalf("synchronous_commit = %q, %v; want on for this pool", setting, err)
	}
	s := postgres.New(db)
	ctx := context.Background()

	const n = 40
	before := walWrites(t, db)
	orders := make([]order.Order, n)
	for i := range orders {
		orders[i] = newOrder(t, s, uuid.NewString(), "k")
	}
	created := walWrites(t, db) - before
	if created < n {
		t.Fatalf("%d orders created with %d WAL writes, want at least one each: the pool does not commit synchronously", n, created)
	}

	before = walWrites(t, db)
	for _, o := range orders {
		final := o
		final.Status = order.Paid
		letter := order.OutcomeLetter(final)
		if _, recorded, err := s.RecordOutcome(ctx, o, order.Outcome{Status: order.Paid}, letter, 0); err != nil || !recorded {
			t.Fatalf("RecordOutcome = %v, %v", recorded, err)
		}
		sent, err := s.MarkSent(ctx, o.ID, letter.RequestID)
		if err != nil || !sent.Notified() || sent.Status != order.Paid {
			t.Fatalf("MarkSent = %+v, %v; want paid and notified", sent, err)
		}
	}
	settled := walWrites(t, db) - before
	// 2n commits; a waiting commit writes each one out itself.
	if settled > n/2 {
		t.Errorf("%d outcomes and %d letters marked sent took %d WAL writes, want few (their commits must not wait)", n, n, settled)
	}
	t.Logf("WAL writes: %d for %d orders created, %d for their %d outcomes and marks", created, n, settled, 2*n)

	// What did not wait is committed all the same: another session reads it.
	var paid int
	if err := base.Get(&paid, `SELECT count(*) FROM orders WHERE status = 'paid' AND notified_at IS NOT NULL`); err != nil || paid != n {
		t.Errorf("paid and notified orders seen by another session = %d, %v; want %d", paid, err, n)
	}
}
