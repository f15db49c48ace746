package wire

import (
	"context"

	"github.com/kassa-dev/kassa/services/billing/grpcserver"
	"github.com/kassa-dev/kassa/services/billing/postgres"
	"github.com/kassa-dev/kassa/services/platform/boot"
)

// Options are the billing service's own settings, parsed once with the
// shared ones.
type Options struct {
	DefaultCurrency string // -default-currency, DEFAULT_CURRENCY
}

// Declare declares the settings on f.
func (o *Options) Declare(f *boot.Flags) {
	f.String(&o.DefaultCurrency, "default-currency", "USD", "ISO 4217 currency of accounts opened without one")
}

// Spec is the billing service as a process runs it, on its own
// (cmd/billing) or with the others (the all-in-one process): every call
// must carry a token that grpcserver.Rules admits for its method.
func Spec() boot.Spec {
	o := new(Options)
	return boot.Spec{
		Name:       "billing",
		Addr:       ":50052",
		AdminAddr:  ":9102",
		Migrations: postgres.Migrations,
		Auth:       grpcserver.Rules,
		Flags:      o.Declare,
		Setup: func(ctx context.Context, d *boot.Deps) error {
			_, err := New(d.Server, d.DB, Config{DefaultCurrency: o.DefaultCurrency, Metrics: d.Metrics})
			return err
		},
	}
}
