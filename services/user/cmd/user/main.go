// Command user runs the user service: it registers users, opens their
// billing accounts through the billing service and soft-deletes them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/kassa-dev/kassa/services/platform/boot"
	"github.com/kassa-dev/kassa/services/user/keys"
	"github.com/kassa-dev/kassa/services/user/wire"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "user:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 1 && args[1] == "keygen" {
		return keygen(args[2:], getenv, stdout)
	}
	if len(args) > 1 && args[1] == "grant-admin" {
		return grantAdmin(ctx, args[2:], getenv, stdout)
	}
	return boot.Run(ctx, wire.Spec(), args, getenv, stdout)
}

// keygen adds a new signing key to a key file, creating the file when it
// is missing: "user keygen -out .data/signing-keys.json". The new key signs
// from the next start; remove the old one once the tokens it signed have
// expired.
func keygen(args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("user keygen", flag.ContinueOnError)
	fs.SetOutput(stdout)
	out := fs.String("out", getenv("AUTH_SIGNING_KEYS"), "the signing key file to create or extend (env AUTH_SIGNING_KEYS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("keygen: want -out <path> (or AUTH_SIGNING_KEYS) and no other arguments")
	}
	kid, err := keys.Generate(*out)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	fmt.Fprintf(stdout, "added signing key %s to %s\n", kid, *out)
	return nil
}
