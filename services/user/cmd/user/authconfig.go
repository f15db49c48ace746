package main

import (
	"fmt"
	"strconv"

	"github.com/kassa-dev/kassa/services/platform/boot"
	"github.com/kassa-dev/kassa/services/user/app"
	"github.com/kassa-dev/kassa/services/user/keys"
	"github.com/kassa-dev/kassa/services/user/token"
)

// authOptions are the identity provider's settings. The issuer and
// audience (-auth-issuer, -auth-audience) are the platform's, shared with
// every verifier.
var authOptions = []boot.Option{
	{Name: "auth-signing-keys", Usage: "file of the Ed25519 private JWK Set that signs access tokens (create one with 'user keygen -out <file>'); empty disables login"},
	{Name: "auth-access-ttl", Default: "15m", Usage: "lifetime of access tokens"},
	{Name: "auth-refresh-ttl", Default: "720h", Usage: "how long an unused refresh token stays valid"},
	{Name: "auth-clients", Usage: "service clients of the client credentials grant: name=<sha256 hex of the secret>,... or a file holding that list"},
	{Name: "login-max-failures", Default: strconv.Itoa(app.DefaultMaxFailures), Usage: "failed logins in a row after which an account is locked"},
	{Name: "login-lock-base", Default: app.DefaultLockBase.String(), Usage: "first lock after login-max-failures; it doubles with each further failure"},
	{Name: "login-lock-max", Default: app.DefaultLockMax.String(), Usage: "longest lock"},
}

// authConfig checks the auth options. Without a key file the returned
// options have no Issuer and the key set is nil.
func authConfig(opts map[string]string, issuer, audience string) (app.AuthConfig, *keys.Set, error) {
	var a app.AuthConfig
	access, err := boot.PositiveDuration(opts, "auth-access-ttl")
	if err != nil {
		return a, nil, err
	}
	if a.RefreshTTL, err = boot.PositiveDuration(opts, "auth-refresh-ttl"); err != nil {
		return a, nil, err
	}
	if a.RefreshTTL <= access {
		return a, nil, boot.OptionError("auth-refresh-ttl", "must be longer than auth-access-ttl (%v), got %v", access, a.RefreshTTL)
	}
	if a.Lock.Base, err = boot.PositiveDuration(opts, "login-lock-base"); err != nil {
		return a, nil, err
	}
	if a.Lock.Max, err = boot.PositiveDuration(opts, "login-lock-max"); err != nil {
		return a, nil, err
	}
	if a.Lock.Max < a.Lock.Base {
		return a, nil, boot.OptionError("login-lock-max", "must be at least login-lock-base (%v), got %v", a.Lock.Base, a.Lock.Max)
	}
	if a.Lock.MaxFailures, err = strconv.Atoi(opts["login-max-failures"]); err != nil || a.Lock.MaxFailures < 1 || a.Lock.MaxFailures > 1000 {
		return a, nil, boot.OptionError("login-max-failures", "want a number from 1 to 1000, got %q", opts["login-max-failures"])
	}
	if a.Clients, err = app.ParseClients(opts["auth-clients"]); err != nil {
		return a, nil, boot.OptionError("auth-clients", "%v", err)
	}
	path := opts["auth-signing-keys"]
	if path == "" {
		return a, nil, nil
	}
	ks, err := keys.Load(path)
	if err != nil {
		return a, nil, boot.OptionError("auth-signing-keys", "%v", err)
	}
	if a.Issuer, err = token.New(token.Config{Keys: ks, Issuer: issuer, Audience: audience, TTL: access}); err != nil {
		return a, nil, fmt.Errorf("auth-issuer, auth-audience: %w", err)
	}
	return a, ks, nil
}
