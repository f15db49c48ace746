// Command billing runs the billing service: one money account per user and
// the append-only ledger of its deposits and withdrawals.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/kassa-dev/kassa/services/billing/wire"
	"github.com/kassa-dev/kassa/services/platform/boot"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "billing:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return boot.Run(ctx, wire.Spec(), args, getenv, stdout)
}
