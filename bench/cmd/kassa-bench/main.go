// Command kassa-bench measures kassa against the best the machine allows:
// it starts a fresh throwaway stack (PostgreSQL with fsync on, the four
// services and the gateway, as `make run` does), measures the PostgreSQL
// ceiling with pgbench running kassa's own SQL, searches the peak order
// rate through the REST gateway and through direct gRPC with an
// open-model load generator, compares latencies at half the REST peak,
// records memory and CPU, and finally checks that every order, letter and
// cent is where it must be. A wrong run exits non-zero however fast it was.
//
//	go run ./cmd/kassa-bench            # the full benchmark (about 5 minutes)
//	go run ./cmd/kassa-bench -smoke     # a few seconds at a low rate: correctness only
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kassa-bench:", err)
		os.Exit(1)
	}
}
