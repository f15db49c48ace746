// Command order runs the order service: it places orders, pays for them
// through billing and tells the buyer the outcome through notification.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/order/app"
	"github.com/kassa-dev/kassa/services/order/grpcserver"
	"github.com/kassa-dev/kassa/services/order/postgres"
	"github.com/kassa-dev/kassa/services/order/wire"
	"github.com/kassa-dev/kassa/services/platform/boot"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "order:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return boot.Run(ctx, boot.Spec{
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
		Options: append(append([]boot.Option{
			{Name: "default-currency", Default: "USD", Usage: "ISO 4217 currency of orders that name none"},
			boot.RepairIntervalOption(30*time.Second, "how often pending orders are resumed and undelivered letters relayed"),
		}, boot.RetryOptions()...), boot.LimitOptions(buyerLimit, "CreateOrder calls of one buyer", app.DefaultBuyerLimit)...),
		Auth: grpcserver.Rules,
		Setup: func(ctx context.Context, d *boot.Deps) error {
			// Before anything calls a peer: user, billing and notification
			// admit the order service only with its own service token,
			// also for the repair loop and the relay, which act with no
			// user present.
			if err := d.UseServiceToken("the order service calls user, billing and notification", tokenExchange(d)); err != nil {
				return err
			}
			interval, err := boot.RepairInterval(d.Config.Options)
			if err != nil {
				return err
			}
			policy, err := boot.RetryPolicy(d.Config.Options)
			if err != nil {
				return err
			}
			buyers, err := boot.Limit(d.Config.Options, buyerLimit, app.DefaultBuyerLimit)
			if err != nil {
				return err
			}
			svc, err := wire.New(d.Server, d.DB, wire.Peers{
				User: d.Peers["user"], Billing: d.Peers["billing"], Notification: d.Peers["notification"],
			}, wire.Config{
				DefaultCurrency: d.Config.Options["default-currency"],
				CallTimeout:     d.Config.CallTimeout,
				Retry:           policy,
				Log:             d.Log,
				Metrics:         d.Metrics,
				BuyerLimit:      buyers,
			})
			if err != nil {
				return fmt.Errorf("default-currency (DEFAULT_CURRENCY): %w", err)
			}
			d.Go(func(ctx context.Context) { svc.RunRepair(ctx, interval) })
			return nil
		},
	}, args, getenv, stdout)
}

// buyerLimit is the prefix of the settings of app.Config.BuyerLimit.
const buyerLimit = "buyer-"

// tokenExchange asks the user service's AuthService.Token for this
// service's token; the call itself goes without a token.
func tokenExchange(d *boot.Deps) boot.TokenExchange {
	tokens := userv1.NewAuthServiceClient(d.Peers["user"])
	return func(ctx context.Context, id, secret string) (string, time.Duration, error) {
		resp, err := tokens.Token(ctx, &userv1.TokenRequest{GrantType: "client_credentials", ClientId: id, ClientSecret: secret})
		return resp.GetAccessToken(), time.Duration(resp.GetExpiresIn()) * time.Second, err
	}
}
