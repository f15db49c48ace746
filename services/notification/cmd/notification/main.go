// Command notification runs the notification service: it stores the letters
// kassa sends to users and lists them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

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
	return boot.Run(ctx, wire.Spec(), args, getenv, stdout)
}
