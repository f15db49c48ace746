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
	"github.com/kassa-dev/kassa/services/platform/auth"
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
			ts, err := serviceToken(d)
			if err != nil {
				return err
			}
			d.UsePeerTokens(ts)
			wire.New(d.Server, d.DB, wire.Peers{Billing: d.Peers["billing"]}, wire.Config{
				Log:     d.Log,
				Metrics: d.Metrics,
			})
			return nil
		},
	}, args, getenv, stdout)
}

// serviceToken is the notification service's identity toward billing: an
// access token for service "notification" (-auth-client-id) from the user
// service's AuthService.Token with the client secret, fetched on the first
// peer call, cached and renewed shortly before it expires.
func serviceToken(d *boot.Deps) (auth.TokenSource, error) {
	cfg := d.Config.Auth
	if cfg.ClientSecret == "" {
		return nil, fmt.Errorf("%w: the notification service asks billing whether users exist as service %q", auth.ErrNoClientSecret, cfg.ClientID)
	}
	tokens := userv1.NewAuthServiceClient(d.Peers["user"])
	return auth.ClientCredentials(func(ctx context.Context) (string, time.Duration, error) {
		resp, err := tokens.Token(ctx, &userv1.TokenRequest{
			GrantType: "client_credentials", ClientId: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		})
		if err != nil {
			return "", 0, fmt.Errorf("service token for %q from the user service: %w", cfg.ClientID, err)
		}
		return resp.GetAccessToken(), time.Duration(resp.GetExpiresIn()) * time.Second, nil
	}), nil
}
