// Package wire builds the order service from its typed configuration, its
// database and its peer connections: store, peer adapters, use cases and
// gRPC services are put together here once, for cmd/order and for the
// in-process system tests alike, so the two cannot be wired differently.
package wire

import (
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/order/app"
	"github.com/kassa-dev/kassa/services/order/grpcserver"
	"github.com/kassa-dev/kassa/services/order/peers"
	"github.com/kassa-dev/kassa/services/order/postgres"
	"github.com/kassa-dev/kassa/services/platform/admission"
	"github.com/kassa-dev/kassa/services/platform/retry"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// Config is what the order service is built from; cmd/order reads it from
// its flags.
type Config struct {
	// DefaultCurrency applies to orders without a currency
	// (-default-currency); "" means USD.
	DefaultCurrency string
	// CallTimeout bounds each call to a peer (-call-timeout). The
	// background passes leave an order alone until well past the time its
	// CreateOrder call may take with three such calls.
	CallTimeout time.Duration
	// Retry schedules the background loops' attempts (-retry-*); the zero
	// value means retry.Default.
	Retry retry.Policy
	// Log receives what the peers and the database failed to do; nil logs
	// nothing.
	Log *slog.Logger
	// Metrics registers the service's business metrics; nil leaves them
	// unregistered.
	Metrics prometheus.Registerer
	// BuyerLimit bounds one buyer's orders at once (-buyer-max-*; see
	// app.Config.BuyerLimit); the zero value sets no bound.
	BuyerLimit admission.Config
}

// Peers are the connections to the services the order service calls.
type Peers struct {
	User, Billing, Notification grpc.ClientConnInterface
}

// New builds the order service over db and its peers and registers
// OrderService and the internal OrderAdminService on srv. Its background
// loops are the caller's to run (app.Service.RunRepair).
func New(srv grpc.ServiceRegistrar, db *sqlx.DB, p Peers, cfg Config) (*app.Service, error) {
	metrics := app.NewMetrics(cfg.Metrics, cfg.DefaultCurrency)
	svc, err := app.New(
		postgres.New(db),
		peers.NewUsers(userv1.NewUserServiceClient(p.User)),
		peers.NewPayments(billingv1.NewBillingServiceClient(p.Billing)).WithMetrics(metrics),
		peers.NewLetters(notificationv1.NewNotificationServiceClient(p.Notification)),
		app.Config{
			DefaultCurrency: cfg.DefaultCurrency,
			// Three peer calls of at most CallTimeout each, and a margin,
			// so the repair loop does not race calls still in flight.
			RepairMinAge: 3*cfg.CallTimeout + 5*time.Second,
			Retry:        cfg.Retry,
			Log:          cfg.Log,
			Metrics:      metrics,
			BuyerLimit:   cfg.BuyerLimit,
		})
	if err != nil {
		return nil, err
	}
	orderv1.RegisterOrderServiceServer(srv, grpcserver.New(svc))
	// Internal: no REST route leads here.
	orderv1.RegisterOrderAdminServiceServer(srv, grpcserver.NewAdmin(svc))
	return svc, nil
}
