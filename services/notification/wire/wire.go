// Package wire builds the notification service from its typed
// configuration, its database and its billing connection: store, peer
// adapter, use cases and gRPC service are put together here once, for
// cmd/notification and for the in-process system tests alike, so the two
// cannot be wired differently.
package wire

import (
	"log/slog"

	"github.com/jmoiron/sqlx"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	"github.com/kassa-dev/kassa/services/notification/app"
	"github.com/kassa-dev/kassa/services/notification/grpcserver"
	"github.com/kassa-dev/kassa/services/notification/peers"
	"github.com/kassa-dev/kassa/services/notification/postgres"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// Config is what the notification service is built from.
type Config struct {
	// Log receives what the peers failed to answer; nil logs nothing.
	Log *slog.Logger
	// Metrics registers the service's business metrics; nil leaves them
	// unregistered.
	Metrics prometheus.Registerer
}

// Peers are the connections to the services the notification service
// calls for its use cases (the user service, which only issues its token,
// is not one).
type Peers struct {
	Billing grpc.ClientConnInterface
}

// New builds the notification service over db and its peers and registers
// NotificationService on srv.
func New(srv grpc.ServiceRegistrar, db *sqlx.DB, p Peers, cfg Config) *app.Service {
	svc := app.New(postgres.New(db), peers.NewAccounts(billingv1.NewBillingServiceClient(p.Billing)), app.Config{
		Log:     cfg.Log,
		Metrics: app.NewMetrics(cfg.Metrics),
	})
	notificationv1.RegisterNotificationServiceServer(srv, grpcserver.New(svc))
	return svc
}
