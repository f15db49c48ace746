package allinone

import (
	"context"
	"net/http"
	"runtime/metrics"
	"testing"
	"time"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/platform/benchtest"
	"google.golang.org/grpc/metadata"
)

// BenchmarkCreateOrder measures one REST CreateOrder through the whole
// process as `kassa serve` runs it: the gateway over loopback HTTP, then
// the four in-process hops, each through its server's interceptors, on
// real PostgreSQL. cpu-us/op is the CPU this process spent per order
// (PostgreSQL's is not in it), the figure the benchmark's CPU per request
// of the all-in-one process tracks; alloc-B/op counts every allocation
// of the process, the in-process handlers' goroutines included.
//
//	go test ./ -run '^$' -bench CreateOrder -benchtime 3000x
func BenchmarkCreateOrder(b *testing.B) {
	env := testEnv(b)
	env["LOG_LEVEL"] = "info" // the default: successful calls are not logged
	// One user orders as fast as the loop goes: no rate limit.
	env["GATEWAY_RATE_PER_ADDRESS"], env["GATEWAY_RATE_PER_USER"] = "0", "0"
	sys, _ := startSystem(b, env)
	id, token := register(b, sys.byName["user"].server.Channel(nil), "bench")
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
	if _, err := billingv1.NewBillingServiceClient(sys.byName["billing"].server.Channel(nil)).Deposit(ctx,
		&billingv1.DepositRequest{UserId: id, Amount: 1_000_000_000_000, RequestId: "bench-deposit"}); err != nil {
		b.Fatal(err)
	}
	url := "http://" + env["GATEWAY_LISTEN_ADDR"] + "/v1/users/" + id + "/orders"
	client := &http.Client{Timeout: 10 * time.Second}
	// Warm the pools, the statement caches and the token cache first.
	for i := range 50 {
		benchtest.Order(b, client, url, token, benchtest.Key(-1-i))
	}
	n := 0
	cpu, alloc0 := benchtest.StartCPU(b), allocated()
	for b.Loop() {
		n++
		benchtest.Order(b, client, url, token, benchtest.Key(n))
	}
	cpu.Report(b, n)
	b.ReportMetric(float64(allocated()-alloc0)/float64(n), "alloc-B/op")
}

// allocated is the bytes the process has allocated on the heap so far.
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
