package pgdb_test

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func tracedDB(t *testing.T) (*sqlx.DB, *sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	db := pgtest.NewDBWith(t, migrations(t), pgdb.Options{MaxOpenConns: 4, TracerProvider: tp})
	exp.Reset() // forget the migrations (they made no spans anyway: no parent)
	return db, tp, exp
}

// Inside a request, every statement of a transaction is a child span of
// the request's span, named by operation and database.
func TestTracedPool_StatementsUnderARequest_AreChildSpans(t *testing.T) {
	db, tp, exp := tracedDB(t)
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	err := pgdb.InTx(ctx, db, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO things (id, name) VALUES (1, 'a')`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.GetContext(ctx, &n, `SELECT count(*) FROM things`); err != nil || n != 1 {
		t.Fatalf("count = %d, %v", n, err)
	}
	parent.End()

	names := map[string]bool{}
	for _, s := range exp.GetSpans() {
		if s.Name == "request" {
			continue
		}
		names[s.Name] = true
		if s.Parent.SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %q has parent %s, want the request span %s", s.Name, s.Parent.SpanID(), parent.SpanContext().SpanID())
		}
	}
	var current string
	if err := db.Get(&current, `SELECT current_database()`); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sql.conn.begin_tx", "INSERT " + current, "sql.tx.commit", "SELECT " + current} {
		if !names[want] {
			t.Errorf("no span %q among %v", want, names)
		}
	}
}

// Outside any request (migrations, background loops) statements make no
// spans, so they cannot flood the tracing backend with one-span traces;
// nor do they under a request that is not sampled, whose spans would be
// dropped.
func TestTracedPool_StatementsWithoutASampledRequest_MakeNoSpans(t *testing.T) {
	unsampled := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, Remote: true, // TraceFlags: not sampled
	}))
	for name, ctx := range map[string]context.Context{"no request": context.Background(), "unsampled request": unsampled} {
		t.Run(name, func(t *testing.T) {
			db, _, exp := tracedDB(t)
			if _, err := db.ExecContext(ctx, `INSERT INTO things (id, name) VALUES (1, 'a')`); err != nil {
				t.Fatal(err)
			}
			if spans := exp.GetSpans(); len(spans) != 0 {
				t.Fatalf("got %d spans, want none: first %q", len(spans), spans[0].Name)
			}
		})
	}
}

// The traced driver hands PostgreSQL errors through unchanged, so the
// stores' constraint checks keep working.
func TestTracedPool_KeepsUniqueViolations(t *testing.T) {
	db, tp, _ := tracedDB(t)
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	if _, err := db.ExecContext(ctx, `INSERT INTO things (id, name) VALUES (1, 'a')`); err != nil {
		t.Fatal(err)
	}
	_, err := db.ExecContext(ctx, `INSERT INTO things (id, name) VALUES (2, 'a')`)
	if !pgdb.IsUniqueViolation(err, "things_name_key") {
		t.Fatalf("second insert: %v, want a unique violation of things_name_key", err)
	}
}
