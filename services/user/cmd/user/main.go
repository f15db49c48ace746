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
	"time"

	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/boot"
	"github.com/kassa-dev/kassa/services/user/grpcserver"
	"github.com/kassa-dev/kassa/services/user/keys"
	"github.com/kassa-dev/kassa/services/user/postgres"
	"github.com/kassa-dev/kassa/services/user/revoked"
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
	return boot.Run(ctx, boot.Spec{
		Name:       "user",
		Addr:       ":50051",
		AdminAddr:  ":9101",
		Migrations: postgres.Migrations,
		// Tokens are verified with the platform's Verifier, pointed by
		// -auth-jwks-url at this service's own admin listener (the
		// platform builds it from the URL alone): keys are fetched on the
		// first token, and the admin listener opens before the gRPC one.
		Auth:  grpcserver.Rules,
		Peers: []boot.Peer{{Name: "billing", Addr: "localhost:50052"}},
		// The other services' token exchange: each makes it about once per
		// access TTL, and one refused under load would fail every call of
		// that service until it gets through, turning an overload into an
		// outage. Login stays shed: it is the customers' and costs a
		// password hash.
		NeverShed: []string{userv1.AuthService_Token_FullMethodName},
		Options: append([]boot.Option{
			{Name: "default-currency", Default: "USD", Usage: "ISO 4217 currency of the billing accounts of new users"},
			boot.RepairIntervalOption(10*time.Second, "how often to open the billing accounts of users whose CreateUser failed at billing"),
		}, append(boot.RetryOptions(), authOptions...)...),
		Setup: func(ctx context.Context, d *boot.Deps) error {
			interval, err := boot.RepairInterval(d.Config.Options)
			if err != nil {
				return err
			}
			policy, err := boot.RetryPolicy(d.Config.Options)
			if err != nil {
				return err
			}
			authCfg, ks, err := authConfig(d.Config.Options, d.Config.Auth.Issuer, d.Config.Auth.Audience)
			if err != nil {
				return err
			}
			if ks == nil {
				d.Log.WarnContext(ctx, "login is disabled: no -auth-signing-keys (AUTH_SIGNING_KEYS); AuthService answers FAILED_PRECONDITION")
			} else {
				d.Admin.Handle("GET /.well-known/jwks.json", ks.Handler())
				// The other services refuse the tokens of users deleted in
				// the last access TTL by this list (authConfig has checked
				// the TTL).
				access, _ := boot.PositiveDuration(d.Config.Options, "auth-access-ttl")
				d.Admin.Handle("GET "+revoked.Path, revoked.Handler(postgres.New(d.DB), revoked.Window(access), d.Log))
				// The user service is the issuer, so it signs its own
				// service token for its calls to billing.
				d.UsePeerTokens(auth.Cached(auth.TokenSourceFunc(authCfg.Issuer.ServiceSource("user"))))
				d.Log.InfoContext(ctx, "login enabled", "signing_kid", ks.SignerKID(), "issuer", d.Config.Auth.Issuer)
			}
			svc, err := wire.New(d.Server, d.DB, wire.Peers{Billing: d.Peers["billing"]}, wire.Config{
				Currency: d.Config.Options["default-currency"],
				Retry:    policy,
				Auth:     authCfg,
				Log:      d.Log,
				Metrics:  d.Metrics,
			})
			if err != nil {
				return fmt.Errorf("default-currency (DEFAULT_CURRENCY): %w", err)
			}
			d.Go(func(ctx context.Context) { svc.RunRepair(ctx, interval) })
			return nil
		},
	}, args, getenv, stdout)
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
