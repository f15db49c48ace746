package inprocess

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

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
			body := []byte(`{"price":"100"}`)
			n := 0
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				n++
				req, err := http.NewRequest("POST", url, bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d", n))
				req.Header.Set("Authorization", "Bearer "+user.token)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !bytes.Contains(out, []byte("STATUS_PAID")) {
					b.Fatalf("order %d: %d %s", n, resp.StatusCode, out)
				}
			}
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(n), "cpu-us/op")
		})
	}
}

// discardExporter takes spans and drops them.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
