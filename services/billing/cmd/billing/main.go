// Command billing runs the billing service: one money account per user and
// the append-only ledger of its deposits and withdrawals.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/kassa-dev/kassa/services/billing/grpcserver"
	"github.com/kassa-dev/kassa/services/billing/postgres"
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
	return boot.Run(ctx, spec(), args, getenv, stdout)
}

// spec describes the service: every call must carry a token that
// grpcserver.Rules admits for its method.
func spec() boot.Spec {
	return boot.Spec{
		Name:       "billing",
		Addr:       ":50052",
		AdminAddr:  ":9102",
		Migrations: postgres.Migrations,
		Auth:       grpcserver.Rules,
		Options: []boot.Option{{
			Name:    "default-currency",
			Default: "USD",
			Usage:   "ISO 4217 currency of accounts opened without one",
		}},
		Setup: func(ctx context.Context, d *boot.Deps) error {
			_, err := wire.New(d.Server, d.DB, wire.Config{
				DefaultCurrency: d.Config.Options["default-currency"],
				Metrics:         d.Metrics,
			})
			return err
		},
	}
}
