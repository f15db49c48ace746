package wire

import (
	"context"
	"fmt"
	"time"

	"github.com/kassa-dev/kassa/services/platform/usertoken"

	"github.com/kassa-dev/kassa/services/order/app"
	"github.com/kassa-dev/kassa/services/order/grpcserver"
	"github.com/kassa-dev/kassa/services/order/postgres"
	"github.com/kassa-dev/kassa/services/platform/admission"
	"github.com/kassa-dev/kassa/services/platform/boot"
	"github.com/kassa-dev/kassa/services/platform/retry"
)

// Options are the order service's own settings, parsed once with the
// shared ones.
type Options struct {
	DefaultCurrency string        // -default-currency, DEFAULT_CURRENCY
	RepairInterval  time.Duration // -repair-interval, REPAIR_INTERVAL
	Retry           retry.Policy  // -retry-*, RETRY_*
	// BuyerLimit bounds one buyer's CreateOrder calls at once
	// (-buyer-max-in-flight, -buyer-max-queue, -buyer-max-wait).
	BuyerLimit admission.Config
}

// Declare declares the settings on f.
func (o *Options) Declare(f *boot.Flags) {
	f.String(&o.DefaultCurrency, "default-currency", "USD", "ISO 4217 currency of orders that name none")
	f.RepairInterval(&o.RepairInterval, 30*time.Second, "how often pending orders are resumed and undelivered letters relayed")
	f.Retry(&o.Retry)
	f.Limit(&o.BuyerLimit, "buyer-", "CreateOrder calls of one buyer", app.DefaultBuyerLimit)
}

// Spec is the order service as a process runs it, on its own (cmd/order)
// or with the others (the all-in-one process).
func Spec() boot.Spec {
	o := new(Options)
	return boot.Spec{
		Name:       "order",
		Addr:       ":50053",
		AdminAddr:  ":9103",
		Migrations: postgres.Migrations,
		Peers: []boot.Peer{
			{Name: "user", Addr: "localhost:50051"},
			{Name: "billing", Addr: "localhost:50052"},
			// A failed letter hand-over is no error (the relay delivers the
			// letter), so the order's answer does not wait for retries.
			{Name: "notification", Addr: "localhost:50054", NoRetry: true},
		},
		Flags: o.Declare,
		Auth:  grpcserver.Rules,
		Setup: func(ctx context.Context, d *boot.Deps) error {
			// Before anything calls a peer: user, billing and notification
			// admit the order service only with its own service token,
			// also for the repair loop and the relay, which act with no
			// user present.
			if err := d.UseServiceToken("the order service calls user, billing and notification", usertoken.Exchange(d.Peers["user"])); err != nil {
				return err
			}
			svc, err := New(d.Server, d.DB, Peers{
				User: d.Peers["user"], Billing: d.Peers["billing"], Notification: d.Peers["notification"],
			}, Config{
				DefaultCurrency: o.DefaultCurrency,
				CallTimeout:     d.Config.CallTimeout,
				Retry:           o.Retry,
				Log:             d.Log,
				Metrics:         d.Metrics,
				BuyerLimit:      o.BuyerLimit,
			})
			if err != nil {
				return fmt.Errorf("default-currency (DEFAULT_CURRENCY): %w", err)
			}
			d.Go(func(ctx context.Context) { svc.RunRepair(ctx, o.RepairInterval) })
			return nil
		},
	}
}
