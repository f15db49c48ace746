package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/order/postgres"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// With the pool's one connection held by a transaction (a payment waiting
// on a slow billing, say), the store's plain reads and writes give up after
// the pool's wait bound with DATABASE_UNAVAILABLE, rather than queueing
// until the request's own deadline; once the transaction ends they work.
func TestStore_PoolHeldByTransaction_CallsFailFastAsDatabaseUnavailable(t *testing.T) {
	const wait = 200 * time.Millisecond
	db := pgtest.NewDBWith(t, postgres.Migrations, pgdb.Options{MaxOpenConns: 1, ConnWaitTimeout: wait})
	s := postgres.New(db)
	user := uuid.NewString()
	o := newOrder(t, s, user, "k")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Get", func(ctx context.Context) error { _, err := s.Get(ctx, user, o.ID); return err }},
		{"FindByRequest", func(ctx context.Context) error { _, _, err := s.FindByRequest(ctx, user, "k"); return err }},
		{"List", func(ctx context.Context) error { _, err := s.List(ctx, user, paging.Cursor{}, 10); return err }},
		{"PaymentFailed", func(ctx context.Context) error { return s.PaymentFailed(ctx, o.ID, time.Second, false, "x") }},
	}

	tx, err := db.BeginTxx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		// The request's deadline is far beyond the wait bound: only the
		// bound can make the call fail within the limit below.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		start := time.Now()
		err := c.call(ctx)
		took := time.Since(start)
		st := status.Convert(grpcstatus.ToStatus(ctx, log, "/m", err))
		cancel()
		if st.Code() != codes.Unavailable || grpcstatus.ReasonOf(st.Err()) != apperr.ReasonDatabaseUnavailable {
			t.Errorf("%s with the pool held: %v maps to %v, want UNAVAILABLE / %s", c.name, err, st, apperr.ReasonDatabaseUnavailable)
		}
		if took < wait*3/4 || took > 3*time.Second {
			t.Errorf("%s failed after %s, want about the %s wait bound", c.name, took, wait)
		}
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		if err := c.call(context.Background()); err != nil {
			t.Errorf("%s after the transaction ended: %v", c.name, err)
		}
	}
}
