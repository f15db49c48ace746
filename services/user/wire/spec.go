package wire

import (
	"context"
	"fmt"
	"time"

	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/boot"
	"github.com/kassa-dev/kassa/services/platform/retry"
	"github.com/kassa-dev/kassa/services/user/app"
	"github.com/kassa-dev/kassa/services/user/grpcserver"
	"github.com/kassa-dev/kassa/services/user/keys"
	"github.com/kassa-dev/kassa/services/user/postgres"
	"github.com/kassa-dev/kassa/services/user/revoked"
	"github.com/kassa-dev/kassa/services/user/token"
)

// Options are the user service's own settings, parsed once with the
// shared ones. The issuer and audience (-auth-issuer, -auth-audience) are
// the platform's, shared with every verifier.
type Options struct {
	Currency       string        // -default-currency, DEFAULT_CURRENCY
	RepairInterval time.Duration // -repair-interval, REPAIR_INTERVAL
	Retry          retry.Policy  // -retry-*, RETRY_*
	// SigningKeys is the file of the private JWK Set that signs access
	// tokens; empty disables login.
	SigningKeys string        // -auth-signing-keys, AUTH_SIGNING_KEYS
	AccessTTL   time.Duration // -auth-access-ttl, AUTH_ACCESS_TTL
	RefreshTTL  time.Duration // -auth-refresh-ttl, AUTH_REFRESH_TTL
	Clients     app.Clients   // -auth-clients, AUTH_CLIENTS
	// Lock is the brute-force rule (-login-max-failures, -login-lock-*).
	MaxFailures       int
	LockBase, LockMax time.Duration
}

// Declare declares the settings on f.
func (o *Options) Declare(f *boot.Flags) {
	f.String(&o.Currency, "default-currency", "USD", "ISO 4217 currency of the billing accounts of new users")
	f.RepairInterval(&o.RepairInterval, 10*time.Second, "how often to open the billing accounts of users whose CreateUser failed at billing")
	f.Retry(&o.Retry)
	f.String(&o.SigningKeys, "auth-signing-keys", "", "file of the Ed25519 private JWK Set that signs access tokens (create one with 'user keygen -out <file>'); empty disables login")
	f.PositiveDuration(&o.AccessTTL, "auth-access-ttl", "15m", "lifetime of access tokens")
	f.PositiveDuration(&o.RefreshTTL, "auth-refresh-ttl", "720h", "how long an unused refresh token stays valid")
	var clients string
	f.String(&clients, "auth-clients", "", "service clients of the client credentials grant: name=<sha256 hex of the secret>,... or a file holding that list")
	f.Int(&o.MaxFailures, "login-max-failures", app.DefaultMaxFailures, 1, 1000, "failed logins in a row after which an account is locked", "a number from 1 to 1000")
	f.PositiveDuration(&o.LockBase, "login-lock-base", app.DefaultLockBase.String(), "first lock after login-max-failures; it doubles with each further failure")
	f.PositiveDuration(&o.LockMax, "login-lock-max", app.DefaultLockMax.String(), "longest lock")
	f.Check(func() error {
		if o.RefreshTTL <= o.AccessTTL {
			return boot.SettingError("auth-refresh-ttl", "must be longer than auth-access-ttl (%v), got %v", o.AccessTTL, o.RefreshTTL)
		}
		if o.LockMax < o.LockBase {
			return boot.SettingError("login-lock-max", "must be at least login-lock-base (%v), got %v", o.LockBase, o.LockMax)
		}
		var err error
		if o.Clients, err = app.ParseClients(clients); err != nil {
			return boot.SettingError("auth-clients", "%v", err)
		}
		return nil
	})
}

// authConfig is the identity provider's configuration: without a key file
// it has no Issuer and the key set is nil.
func (o *Options) authConfig(issuer, audience string) (app.AuthConfig, *keys.Set, error) {
	a := app.AuthConfig{RefreshTTL: o.RefreshTTL, Clients: o.Clients}
	a.Lock.MaxFailures, a.Lock.Base, a.Lock.Max = o.MaxFailures, o.LockBase, o.LockMax
	if o.SigningKeys == "" {
		return a, nil, nil
	}
	ks, err := keys.Load(o.SigningKeys)
	if err != nil {
		return a, nil, boot.SettingError("auth-signing-keys", "%v", err)
	}
	if a.Issuer, err = token.New(token.Config{Keys: ks, Issuer: issuer, Audience: audience, TTL: o.AccessTTL}); err != nil {
		return a, nil, fmt.Errorf("auth-issuer, auth-audience: %w", err)
	}
	return a, ks, nil
}

// Spec is the user service as a process runs it, on its own (cmd/user) or
// with the others (the all-in-one process). Tokens are verified with the
// platform's Verifier, pointed by -auth-jwks-url at this service's own
// admin listener (the platform builds it from the URL alone): keys are
// fetched on the first token, and the admin listener opens before the
// gRPC one.
func Spec() boot.Spec {
	o := new(Options)
	return boot.Spec{
		Name:       "user",
		Addr:       ":50051",
		AdminAddr:  ":9101",
		Migrations: postgres.Migrations,
		Auth:       grpcserver.Rules,
		Peers:      []boot.Peer{{Name: "billing", Addr: "localhost:50052"}},
		Flags:      o.Declare,
		// The other services' token exchange: each makes it about once per
		// access TTL, and one refused under load would fail every call of
		// that service until it gets through, turning an overload into an
		// outage. Login stays shed: it is the customers' and costs a
		// password hash.
		NeverShed: []string{userv1.AuthService_Token_FullMethodName},
		Setup: func(ctx context.Context, d *boot.Deps) error {
			authCfg, ks, err := o.authConfig(d.Config.Auth.Issuer, d.Config.Auth.Audience)
			if err != nil {
				return err
			}
			if ks == nil {
				d.Log.WarnContext(ctx, "login is disabled: no -auth-signing-keys (AUTH_SIGNING_KEYS); AuthService answers FAILED_PRECONDITION")
			} else {
				d.Admin.Handle("GET /.well-known/jwks.json", ks.Handler())
				// The other services refuse the tokens of users deleted in
				// the last access TTL by this list.
				d.Admin.Handle("GET "+revoked.Path, revoked.Handler(postgres.New(d.DB), revoked.Window(o.AccessTTL), d.Log))
				// The user service is the issuer, so it signs its own
				// service token for its calls to billing.
				d.UsePeerTokens(auth.Cached(auth.TokenSourceFunc(authCfg.Issuer.ServiceSource("user"))))
				d.Log.InfoContext(ctx, "login enabled", "signing_kid", ks.SignerKID(), "issuer", d.Config.Auth.Issuer)
			}
			svc, err := New(d.Server, d.DB, Peers{Billing: d.Peers["billing"]}, Config{
				Currency: o.Currency,
				Retry:    o.Retry,
				Auth:     authCfg,
				Log:      d.Log,
				Metrics:  d.Metrics,
			})
			if err != nil {
				return fmt.Errorf("default-currency (DEFAULT_CURRENCY): %w", err)
			}
			d.Go(func(ctx context.Context) { svc.RunRepair(ctx, o.RepairInterval) })
			return nil
		},
	}
}
