package inprocess

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/kassa-dev/kassa/services/platform/benchtest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// BenchmarkCreateOrder measures one REST CreateOrder through the whole
// system (gateway, four services, real PostgreSQL, loopback HTTP and
// gRPC), plain and with the production instrumentation: Prometheus
// metrics everywhere, a span per HTTP request, gRPC call and SQL
// statement, trace ids in the logs. "instrumented" is the default
// deployment (spans made, no exporter configured); "exported" adds a
// batching exporter that drops the spans, the cost of export without the
// network.
//
// Wall time per order includes PostgreSQL and is at the mercy of whatever
// else runs on the machine; cpu-us/op is the CPU this process (gateway and
// services, not PostgreSQL) spent per order, where the instrumentation's
// own cost shows.
//
//	go test ./inprocess -run '^$' -bench CreateOrder -benchtime 2000x
func BenchmarkCreateOrder(b *testing.B) {
	for _, v := range []struct {
		name string
		opts options
	}{
		{"plain", options{}},
		{"instrumented", options{instrumented: true}},
		{"exported", options{instrumented: true, spans: []sdktrace.SpanProcessor{sdktrace.NewBatchSpanProcessor(discardExporter{})}}},
	} {
		b.Run(v.name, func(b *testing.B) {
			sys := startSystem(b, v.opts)
			user := sys.fundedUser(b, "bench", 1_000_000_000_000)
			srv := httptest.NewServer(sys.handler)
			defer srv.Close()
			client := srv.Client()
			url := srv.URL + "/v1/users/" + user.id + "/orders"
			n := 0
			b.ReportAllocs()
			cpu := benchtest.StartCPU(b)
			for b.Loop() {
				n++
				benchtest.Order(b, client, url, user.token, benchtest.Key(n))
			}
			cpu.Report(b, n)
		})
	}
}

// discardExporter takes spans and drops them.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }
