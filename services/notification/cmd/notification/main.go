// Command notification runs the notification service: it stores the letters
// kassa sends to users and lists them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	"github.com/kassa-dev/kassa/services/notification/app"
	"github.com/kassa-dev/kassa/services/notification/grpcserver"
	"github.com/kassa-dev/kassa/services/notification/postgres"
	"github.com/kassa-dev/kassa/services/platform/service"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "notification:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return service.Run(ctx, service.Spec{
		Name:       "notification",
		Addr:       ":50054",
		AdminAddr:  ":9104",
		Migrations: postgres.Migrations,
		Auth:       grpcserver.Rules,
		Setup: func(ctx context.Context, d *service.Deps) error {
			svc := app.New(postgres.New(d.DB), app.WithMetrics(app.NewMetrics(d.Metrics)))
			notificationv1.RegisterNotificationServiceServer(d.Server, grpcserver.New(svc))
			return nil
		},
	}, args, getenv, stdout)
}
