package wire

import (
	"context"

	"github.com/kassa-dev/kassa/services/platform/usertoken"

	"github.com/kassa-dev/kassa/services/notification/grpcserver"
	"github.com/kassa-dev/kassa/services/notification/postgres"
	"github.com/kassa-dev/kassa/services/platform/boot"
)

// Spec is the notification service as a process runs it, on its own
// (cmd/notification) or with the others (the all-in-one process). It has
// no settings of its own.
func Spec() boot.Spec {
	return boot.Spec{
		Name:       "notification",
		Addr:       ":50054",
		AdminAddr:  ":9104",
		Migrations: postgres.Migrations,
		Peers: []boot.Peer{
			// Only for the service token (AuthService.Token).
			{Name: "user", Addr: "localhost:50051"},
			// GetAccount: whether a user with an empty mailbox exists.
			{Name: "billing", Addr: "localhost:50052"},
		},
		Auth: grpcserver.Rules,
		Setup: func(ctx context.Context, d *boot.Deps) error {
			// Billing admits GetAccount from a service only with that
			// service's own token.
			if err := d.UseServiceToken("the notification service asks billing whether users exist", usertoken.Exchange(d.Peers["user"])); err != nil {
				return err
			}
			New(d.Server, d.DB, Peers{Billing: d.Peers["billing"]}, Config{Log: d.Log, Metrics: d.Metrics})
			return nil
		},
	}
}
