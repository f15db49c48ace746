package wire

import (
	"context"
	"time"

	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/notification/grpcserver"
	"github.com/kassa-dev/kassa/services/notification/postgres"
	"github.com/kassa-dev/kassa/services/platform/boot"
	"google.golang.org/grpc"
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
			if err := d.UseServiceToken("the notification service asks billing whether users exist", tokenExchange(d.Peers["user"])); err != nil {
				return err
			}
			New(d.Server, d.DB, Peers{Billing: d.Peers["billing"]}, Config{Log: d.Log, Metrics: d.Metrics})
			return nil
		},
	}
}

// tokenExchange asks the user service's AuthService.Token, on conn, for a
// service's token; the call itself goes without a token.
func tokenExchange(conn grpc.ClientConnInterface) boot.TokenExchange {
	tokens := userv1.NewAuthServiceClient(conn)
	return func(ctx context.Context, id, secret string) (string, time.Duration, error) {
		resp, err := tokens.Token(ctx, &userv1.TokenRequest{GrantType: "client_credentials", ClientId: id, ClientSecret: secret})
		return resp.GetAccessToken(), time.Duration(resp.GetExpiresIn()) * time.Second, err
	}
}
