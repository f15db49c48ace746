package postgres_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/app"
	"github.com/kassa-dev/kassa/services/order/postgres"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// In-process peers that always answer at once, so that a benchmark or a
// round-trip count of app.Service measures the order database only.
type (
	instantUsers    struct{}
	instantPayments struct{ declined bool }
	instantLetters  struct{}
)

func (instantUsers) Email(context.Context, string) (string, error) { return "ada@example.com", nil }
func (p instantPayments) Withdraw(context.Context, app.Withdrawal) (bool, string, error) {
	if p.declined {
		return true, "insufficient funds", nil
	}
	return false, "", nil
}
func (instantPayments) HasAccount(context.Context, string) (bool, error)  { return true, nil }
func (instantPayments) Refund(context.Context, app.Refund) (int64, error) { return 0, nil }
func (instantLetters) Send(context.Context, order.Letter) error           { return nil }

func newService(tb testing.TB, s *postgres.Store, payments app.Payments) *app.Service {
	tb.Helper()
	svc, err := app.New(s, instantUsers{}, payments, instantLetters{}, app.Config{DefaultCurrency: "USD"})
	if err != nil {
		tb.Fatal(err)
	}
	return svc
}

// recordPaid records o as paid with its letter.
func recordPaid(b *testing.B, s *postgres.Store, o order.Order) {
	final := o
	final.Status = order.Paid
	if _, _, err := s.RecordOutcome(context.Background(), o, order.Outcome{Status: order.Paid}, order.OutcomeLetter(final), 0); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStore measures the store operations of CreateOrder's hot path
// against a real PostgreSQL (pgtest's cluster, fsync off, so the numbers
// show statements and round trips rather than the disk). Besides the time
// it reports cpu-µs/op: the CPU time of this process and of the database's
// server processes per operation, which is what a CPU-bound deployment
// pays and is less disturbed by other work on the machine than the time.
//
//	go test -run '^$' -bench . -count 8 ./postgres
func BenchmarkStore(b *testing.B) {
	db := pgtest.NewDB(b, postgres.Migrations)
	s := postgres.New(db)
	ctx := context.Background()
	user := uuid.NewString()
	create := func(b *testing.B) order.Order {
		o, created, err := s.Create(ctx, order.Order{UserID: user, Price: 100, Currency: "USD",
			RequestID: uuid.NewString(), Email: "ada@example.com"}, 0)
		if err != nil || !created {
			b.Fatalf("Create = %v, %v", created, err)
		}
		return o
	}
	pending := func(b *testing.B) []order.Order {
		orders := make([]order.Order, b.N)
		for i := range orders {
			orders[i] = create(b)
		}
		return orders
	}

	b.Run("FindByRequest-miss", func(b *testing.B) {
		cpu := pgtest.StartCPU(b, db)
		for b.Loop() {
			if _, found, err := s.FindByRequest(ctx, user, uuid.NewString()); err != nil || found {
				b.Fatalf("FindByRequest = %v, %v", found, err)
			}
		}
		cpu.Report(b)
	})
	b.Run("Create", func(b *testing.B) {
		cpu := pgtest.StartCPU(b, db)
		for b.Loop() {
			create(b)
		}
		cpu.Report(b)
	})
	b.Run("RecordOutcome", func(b *testing.B) {
		orders := pending(b)
		cpu := pgtest.StartCPU(b, db)
		b.ResetTimer()
		for _, o := range orders {
			recordPaid(b, s, o)
		}
		b.StopTimer()
		cpu.Report(b)
	})
	b.Run("MarkSent", func(b *testing.B) {
		orders := pending(b)
		for _, o := range orders {
			recordPaid(b, s, o)
		}
		cpu := pgtest.StartCPU(b, db)
		b.ResetTimer()
		for _, o := range orders {
			if _, err := s.MarkSent(ctx, o.ID, order.LetterRequestID(o.ID)); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		cpu.Report(b)
	})
}

// BenchmarkCreateOrder measures app.Service.Create on the real store with
// peers that answer at once: the order database's share of CreateOrder.
func BenchmarkCreateOrder(b *testing.B) {
	db := pgtest.NewDB(b, postgres.Migrations)
	s := postgres.New(db)
	ctx := context.Background()
	run := func(name string, payments app.Payments) {
		svc := newService(b, s, payments)
		b.Run(name, func(b *testing.B) {
			user := uuid.NewString()
			cpu := pgtest.StartCPU(b, db)
			for b.Loop() {
				if _, err := svc.Create(ctx, user, 100, "", uuid.NewString()); err != nil {
					b.Fatal(err)
				}
			}
			cpu.Report(b)
		})
	}
	run("paid", instantPayments{})
	run("rejected", instantPayments{declined: true})
	b.Run("retry-of-finished", func(b *testing.B) {
		svc := newService(b, s, instantPayments{})
		user, key := uuid.NewString(), uuid.NewString()
		if _, err := svc.Create(ctx, user, 100, "", key); err != nil {
			b.Fatal(err)
		}
		cpu := pgtest.StartCPU(b, db)
		for b.Loop() {
			if _, err := svc.Create(ctx, user, 100, "", key); err != nil {
				b.Fatal(err)
			}
		}
		cpu.Report(b)
	})
	b.Run("paid-parallel", func(b *testing.B) {
		svc := newService(b, s, instantPayments{})
		b.SetParallelism(4)
		cpu := pgtest.StartCPU(b, db)
		b.RunParallel(func(pb *testing.PB) {
			user := uuid.NewString()
			for pb.Next() {
				if _, err := svc.Create(ctx, user, 100, "", uuid.NewString()); err != nil {
					b.Error(err)
					return
				}
			}
		})
		cpu.Report(b)
	})
}

// CreateOrder's round trips to the order database (every statement, BEGIN,
// COMMIT and ROLLBACK is one: lib/pq with binary_parameters, see pgdb; the
// traced pool makes a span for each). A change that adds one should be
// deliberate.
func TestCreateOrder_RoundTrips(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	db := pgtest.NewDBWith(t, postgres.Migrations, pgdb.Options{MaxOpenConns: 1, TracerProvider: tp})
	s := postgres.New(db)
	paid, declined := newService(t, s, instantPayments{}), newService(t, s, instantPayments{declined: true})
	user := uuid.NewString()

	steps := []struct {
		name string
		svc  *app.Service
		key  string
		want int
	}{
		// The insert, the outcome with its letter, the letter marked sent.
		{"new order, paid", paid, "k1", 3},
		{"new order, rejected", declined, "k2", 3},
		// The insert finds the key taken, then the order is read.
		{"retry of a finished order", paid, "k1", 2},
		{"new order, no key", paid, "", 3},
	}
	for _, st := range steps {
		ctx, span := tp.Tracer("test").Start(context.Background(), "request")
		before := len(rec.Ended())
		if _, err := st.svc.Create(ctx, user, 100, "", st.key); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		span.End()
		var names []string
		for _, sp := range rec.Ended()[before:] {
			if sp.Parent().SpanID() == span.SpanContext().SpanID() {
				names = append(names, sp.Name())
			}
		}
		t.Logf("%-26s %d round trips: %v", st.name, len(names), names)
		if len(names) != st.want {
			t.Errorf("%s: %d round trips, want %d", st.name, len(names), st.want)
		}
	}
}
