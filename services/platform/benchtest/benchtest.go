// Package benchtest is what kassa's in-process benchmarks share: one paid
// REST order as a client sends it, and the CPU the benchmark's process
// spent, so that each benchmark reports the same cpu-us/op.
package benchtest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// Order places an order of 100 minor units at url (…/v1/users/{id}/orders)
// with token and idempotency key key, and fails tb unless it is paid.
func Order(tb testing.TB, client *http.Client, url, token, key string) {
	tb.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader([]byte(`{"price":"100"}`)))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(out, []byte("STATUS_PAID")) {
		tb.Fatalf("order %s: %d %s", key, resp.StatusCode, out)
	}
}

// CPU measures the CPU time (user and system) the process spends from
// StartCPU on; Report gives it per operation, in microseconds, as cpu-us/op.
type CPU struct{ start time.Duration }

// StartCPU starts measuring.
func StartCPU(b *testing.B) CPU { return CPU{start: cpuTime(b)} }

// Report adds cpu-us/op over n operations to b's results.
func (c CPU) Report(b *testing.B, n int) {
	b.ReportMetric(float64((cpuTime(b)-c.start).Microseconds())/float64(n), "cpu-us/op")
}

func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Key is the idempotency key of the n-th order of a benchmark.
func Key(n int) string { return fmt.Sprintf("bench-%d", n) }
