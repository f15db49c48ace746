// Package wire builds the user service from its typed configuration, its
// database and its billing connection: store, peer adapter, use cases and
// gRPC services are put together here once, for cmd/user and for the
// in-process system tests alike, so the two cannot be wired differently.
package wire

import (
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/retry"
	"github.com/kassa-dev/kassa/services/user/app"
	"github.com/kassa-dev/kassa/services/user/grpcserver"
	"github.com/kassa-dev/kassa/services/user/peers"
	"github.com/kassa-dev/kassa/services/user/postgres"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// Config is what the user service is built from; cmd/user reads it from
// its flags.
type Config struct {
	// Currency of new users' billing accounts (-default-currency); "" lets
	// billing choose.
	Currency string
	// Retry schedules the repair loop's attempts (-retry-*); the zero value
	// means retry.Default.
	Retry retry.Policy
	// Auth is the identity provider's configuration (-auth-*, -login-*);
	// its Log, when nil, is Log.
	Auth app.AuthConfig
	// Log receives what billing and the database failed to do; nil logs
	// nothing.
	Log *slog.Logger
	// Metrics registers the service's business metrics; nil leaves them
	// unregistered.
	Metrics prometheus.Registerer
}

// Peers are the connections to the services the user service calls.
type Peers struct {
	Billing grpc.ClientConnInterface
}

// repairMinAge is how long the repair loop leaves a pending user to its own
// CreateUser call before finishing it.
const repairMinAge = 5 * time.Second

// New builds the user service over db and its peers and registers
// UserService, the internal UserAdminService and AuthService on srv. Its
// repair loop is the caller's to run (app.Service.RunRepair).
func New(srv grpc.ServiceRegistrar, db *sqlx.DB, p Peers, cfg Config) (*app.Service, error) {
	store := postgres.New(db)
	svc, err := app.New(store, peers.NewAccounts(billingv1.NewBillingServiceClient(p.Billing)), app.Config{
		Currency:     cfg.Currency,
		RepairMinAge: repairMinAge,
		Retry:        cfg.Retry,
		Log:          cfg.Log,
		Metrics:      app.NewMetrics(cfg.Metrics),
	})
	if err != nil {
		return nil, err
	}
	auth := cfg.Auth
	if auth.Log == nil {
		auth.Log = cfg.Log
	}
	userv1.RegisterUserServiceServer(srv, grpcserver.New(svc))
	userv1.RegisterUserAdminServiceServer(srv, grpcserver.NewAdmin(svc))
	userv1.RegisterAuthServiceServer(srv, grpcserver.NewAuth(app.NewAuth(store, auth)))
	return svc, nil
}
