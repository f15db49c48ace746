package pgdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"net/url"
	"strings"

	"github.com/XSAM/otelsql"
	"go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// openTraced opens a pool whose driver calls make spans (otelsql), named
// "<OPERATION> <database>" as the OpenTelemetry conventions suggest
// ("SELECT kassa_billing", "INSERT kassa_order") and carrying the
// statement text. Statements are parameterised, so the text holds no
// values. Spans are made only under a sampled span that is already there
// (a request that is being traced): migrations and background loops
// outside any request would otherwise each start a trace of their own, and
// a child of an unsampled request would be dropped anyway.
func openTraced(connector driver.Connector, dbName string, tp trace.TracerProvider) *sql.DB {
	return otelsql.OpenDB(connector,
		otelsql.WithTracerProvider(tp),
		otelsql.WithMeterProvider(noop.NewMeterProvider()), // pool metrics come from Prometheus
		otelsql.WithAttributes(semconv.DBSystemNamePostgreSQL, semconv.DBNamespace(dbName)),
		otelsql.WithSpanNameFormatter(func(_ context.Context, method otelsql.Method, query string) string {
			if op := operation(query); op != "" {
				return op + " " + dbName
			}
			return string(method)
		}),
		otelsql.WithSpanOptions(otelsql.SpanOptions{
			DisableErrSkip:       true,
			OmitConnResetSession: true,
			OmitRows:             true,
			SpanFilter: func(ctx context.Context, _ otelsql.Method, _ string, _ []driver.NamedValue) bool {
				return trace.SpanContextFromContext(ctx).IsSampled()
			},
		}),
	)
}

// operation is the first keyword of a statement, upper-cased ("" if none).
func operation(query string) string {
	f := strings.Fields(query)
	if len(f) == 0 {
		return ""
	}
	w := f[0]
	if len(w) > 16 || strings.ContainsAny(w, "(;") {
		return ""
	}
	return strings.ToUpper(w)
}

// databaseName is the database a connection URL names ("" if it names
// none or is not a URL).
func databaseName(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}
