// Command notification runs the notification service: it stores the letters
// kassa sends to users and lists them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/notification/grpcserver"
	"github.com/kassa-dev/kassa/services/notification/postgres"
	"github.com/kassa-dev/kassa/services/notification/wire"
	"github.com/kassa-dev/kassa/services/platform/boot"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "notification:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return boot.Run(ctx, boot.Spec{
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
			if err := d.UseServiceToken("the notification service asks billing whether users exist", tokenExchange(d)); err != nil {
				return err
			}
			wire.New(d.Server, d.DB, wire.Peers{Billing: d.Peers["billing"]}, wire.Config{
				Log:     d.Log,
				Metrics: d.Metrics,
			})
			return nil
		},
	}, args, getenv, stdout)
}

// tokenExchange asks the user service's AuthService.Token for this
// service's token; the call itself goes without a token.
func tokenExchange(d *boot.Deps) boot.TokenExchange {
	tokens := userv1.NewAuthServiceClient(d.Peers["user"])
	return func(ctx context.Context, id, secret string) (string, time.Duration, error) {
		resp, err := tokens.Token(ctx, &userv1.TokenRequest{GrantType: "client_credentials", ClientId: id, ClientSecret: secret})
		return resp.GetAccessToken(), time.Duration(resp.GetExpiresIn()) * time.Second, err
	}
}
