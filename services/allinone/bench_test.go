package allinone

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime/metrics"
	"syscall"
	"testing"
	"time"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
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
	body := []byte(`{"price":"100"}`)
	client := &http.Client{Timeout: 10 * time.Second}
	order := func(n int) {
		req, err := http.NewRequest("POST", url, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d", n))
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
	// Warm the pools, the statement caches and the token cache first.
	for i := range 50 {
		order(-1 - i)
	}
	n := 0
	cpu0, alloc0 := cpuTime(b), allocated()
	for b.Loop() {
		n++
		order(n)
	}
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(n), "cpu-us/op")
	b.ReportMetric(float64(allocated()-alloc0)/float64(n), "alloc-B/op")
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// allocated is the bytes the process has allocated on the heap so far.
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
