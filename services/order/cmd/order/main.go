// Command order runs the order service: it places orders, pays for them
// through billing and tells the buyer the outcome through notification.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

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
	return boot.Run(ctx, wire.Spec(), args, getenv, stdout)
}
