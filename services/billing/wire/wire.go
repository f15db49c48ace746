// Package wire builds the billing service from its typed configuration and
// its database: store, use cases and gRPC service are put together here
// once, for cmd/billing and for the in-process system tests alike, so the
// two cannot be wired differently.
package wire

import (
	"github.com/jmoiron/sqlx"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/billing/app"
	"github.com/kassa-dev/kassa/services/billing/grpcserver"
	"github.com/kassa-dev/kassa/services/billing/postgres"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// Config is what the billing service is built from; cmd/billing reads it
// from its flags.
type Config struct {
	// DefaultCurrency is the ISO 4217 currency of accounts opened without
	// one (-default-currency); required.
	DefaultCurrency string
	// Metrics registers the service's business metrics; nil leaves them
	// unregistered.
	Metrics prometheus.Registerer
}

// New builds the billing service over db and registers BillingService on
// srv.
func New(srv grpc.ServiceRegistrar, db *sqlx.DB, cfg Config) (*app.Service, error) {
	svc, err := app.New(postgres.New(db), app.Config{
		DefaultCurrency: cfg.DefaultCurrency,
		Metrics:         app.NewMetrics(cfg.Metrics, cfg.DefaultCurrency),
	})
	if err != nil {
		return nil, err
	}
	billingv1.RegisterBillingServiceServer(srv, grpcserver.New(svc))
	return svc, nil
}
