package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/billing"
	"github.com/kassa-dev/kassa/services/billing/postgres"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// BenchmarkMove measures Move against a real PostgreSQL (pgtest's cluster,
// fsync off, so the numbers show statements and round trips rather than
// the disk). Each movement uses a fresh request_id, except replay. Besides
// the time it reports cpu-µs/op: the CPU time of this process and of the
// database's server processes per operation, which is what a CPU-bound
// deployment pays and is less disturbed by other work on the machine
// than the time.
//
//	go test -run '^$' -bench Move -count 8 ./postgres
func BenchmarkMove(b *testing.B) {
	db := pgtest.NewDB(b, postgres.Migrations)
	s := postgres.New(db)
	ctx := context.Background()
	open := func(b *testing.B, funds int64) string {
		b.Helper()
		user := uuid.NewString()
		if _, _, err := s.CreateAccount(ctx, user, "USD"); err != nil {
			b.Fatal(err)
		}
		if funds > 0 {
			if _, _, err := s.Move(ctx, deposit(user, funds, "funds")); err != nil {
				b.Fatal(err)
			}
		}
		return user
	}
	move := func(b *testing.B, m billing.Movement) {
		if _, _, err := s.Move(ctx, m); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("deposit", func(b *testing.B) {
		user, run := open(b, 0), uuid.NewString()
		cpu := pgtest.StartCPU(b, db)
		for i := 0; b.Loop(); i++ {
			move(b, deposit(user, 1, fmt.Sprintf("%s-%d", run, i)))
		}
		cpu.Report(b)
	})
	b.Run("withdraw", func(b *testing.B) {
		user, run := open(b, 1e15), uuid.NewString()
		cpu := pgtest.StartCPU(b, db)
		for i := 0; b.Loop(); i++ {
			move(b, withdrawal(user, 1, fmt.Sprintf("%s-%d", run, i)))
		}
		cpu.Report(b)
	})
	// An order's payment: a withdrawal for an order, in the account's
	// currency named explicitly, as the order service sends it.
	b.Run("withdraw-order", func(b *testing.B) {
		user := open(b, 1e15)
		cpu := pgtest.StartCPU(b, db)
		for b.Loop() {
			order := uuid.NewString()
			move(b, billing.Movement{UserID: user, Kind: billing.Withdrawal, Amount: 1, Currency: "USD",
				RequestID: "order/" + order, OrderID: order})
		}
		cpu.Report(b)
	})
	b.Run("replay", func(b *testing.B) {
		user := open(b, 1e15)
		m := withdrawal(user, 1, uuid.NewString())
		move(b, m)
		cpu := pgtest.StartCPU(b, db)
		for b.Loop() {
			move(b, m)
		}
		cpu.Report(b)
	})
	// A refusal under a fresh key: the refusal is recorded and committed.
	b.Run("refused", func(b *testing.B) {
		user, run := open(b, 0), uuid.NewString()
		cpu := pgtest.StartCPU(b, db)
		for i := 0; b.Loop(); i++ {
			if _, _, err := s.Move(ctx, withdrawal(user, 1, fmt.Sprintf("%s-%d", run, i))); err == nil {
				b.Fatal("a withdrawal from an empty account was applied")
			}
		}
		cpu.Report(b)
	})
	// Many accounts at once, as under load: a deposit and a withdrawal per
	// iteration, each client on its own account.
	b.Run("deposit+withdraw-parallel", func(b *testing.B) {
		b.SetParallelism(4)
		cpu := pgtest.StartCPU(b, db)
		b.RunParallel(func(pb *testing.PB) {
			// b.Fatal may not be called here, off the benchmark's goroutine.
			user, run := uuid.NewString(), uuid.NewString()
			if _, _, err := s.CreateAccount(ctx, user, "USD"); err != nil {
				b.Error(err)
				return
			}
			for i := 0; pb.Next(); i++ {
				for _, m := range []billing.Movement{
					deposit(user, 2, fmt.Sprintf("%s-d%d", run, i)),
					withdrawal(user, 1, fmt.Sprintf("%s-w%d", run, i)),
				} {
					if _, _, err := s.Move(ctx, m); err != nil {
						b.Error(err)
						return
					}
				}
			}
		})
		cpu.Report(b)
	})
}

// roundTripCounter counts what a store sends to PostgreSQL: every
// statement, BEGIN, COMMIT and ROLLBACK is one round trip (lib/pq with
// binary_parameters, see pgdb), and the traced pool makes one span for
// each.
type roundTripCounter struct {
	tp  *sdktrace.TracerProvider
	rec *tracetest.SpanRecorder
}

func newCountedStore(t *testing.T) (*postgres.Store, *roundTripCounter) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	db := pgtest.NewDBWith(t, postgres.Migrations, pgdb.Options{MaxOpenConns: 1, TracerProvider: tp})
	return postgres.New(db), &roundTripCounter{tp: tp, rec: rec}
}

// count runs fn under a request span and returns the names of the spans
// the database calls made under it.
func (c *roundTripCounter) count(fn func(ctx context.Context)) []string {
	ctx, span := c.tp.Tracer("test").Start(context.Background(), "request")
	before := len(c.rec.Ended())
	fn(ctx)
	span.End()
	var names []string
	for _, s := range c.rec.Ended()[before:] {
		if s.Parent().SpanID() == span.SpanContext().SpanID() {
			names = append(names, s.Name())
		}
	}
	return names
}

// Move's round trips per outcome. They are the cost the order path pays in
// billing; a change that adds one should be deliberate.
func TestMove_RoundTrips(t *testing.T) {
	s, c := newCountedStore(t)
	user := uuid.NewString()
	if _, _, err := s.CreateAccount(context.Background(), user, "USD"); err != nil {
		t.Fatal(err)
	}
	move := func(m billing.Movement, wantErr bool) func(ctx context.Context) {
		return func(ctx context.Context) {
			if _, _, err := s.Move(ctx, m); (err != nil) != wantErr {
				t.Errorf("Move(%+v) = %v", m, err)
			}
		}
	}
	order, refusedOrder := uuid.NewString(), uuid.NewString()
	steps := []struct {
		name string
		run  func(ctx context.Context)
		want int
	}{
		{"deposit", move(deposit(user, 100, "d"), false), 4},
		{"withdrawal", move(withdrawal(user, 30, "w"), false), 4},
		{"replay", move(withdrawal(user, 30, "w"), false), 5},
		// Refused: BEGIN, lock, the key read with the refusal recorded, COMMIT.
		{"insufficient funds", move(withdrawal(user, 1000, "w2"), true), 4},
		{"refusal replayed", move(withdrawal(user, 1000, "w2"), true), 4},
		{"request_id reused", move(withdrawal(user, 31, "w"), true), 5},
		{"reused, refused", move(withdrawal(user, 1000, "w"), true), 4},
		{"order payment", move(payment(user, order, 10), false), 4},
		{"order payment replay", move(payment(user, order, 10), false), 5},
		{"order payment refused", move(payment(user, refusedOrder, 1000), true), 4},
		{"unknown account", move(deposit(uuid.NewString(), 1, "d"), true), 3},
		{"deposit covering w2", move(deposit(user, 1000, "d2"), false), 4},
		// Affordable now: the insert skips for the refusal, which is read.
		{"refusal replayed, rules pass", move(withdrawal(user, 1000, "w2"), true), 5},
	}
	for _, st := range steps {
		names := c.count(st.run)
		t.Logf("%-30s %d round trips: %v", st.name, len(names), names)
		if len(names) != st.want {
			t.Errorf("%s: %d round trips, want %d", st.name, len(names), st.want)
		}
	}
}
