package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/services/user/keys"
)

func defaults() map[string]string {
	m := map[string]string{}
	for _, o := range authOptions {
		m[o.Name] = o.Default
	}
	return m
}

func TestAuthConfig_Defaults_LoginDisabledWithoutKeys(t *testing.T) {
	a, ks, err := authConfig(defaults(), "http://localhost:8080", "kassa")
	if err != nil || ks != nil || a.Issuer != nil || a.Lock.MaxFailures != 5 {
		t.Fatalf("authConfig(defaults) = %+v, %v, %v; want login disabled, 5 failures", a, ks, err)
	}
	path := filepath.Join(t.TempDir(), "k.json")
	if _, err := keys.Generate(path); err != nil {
		t.Fatal(err)
	}
	o := defaults()
	o["auth-signing-keys"] = path
	a, ks, err = authConfig(o, "http://localhost:8080", "kassa")
	if err != nil || ks == nil || a.Issuer == nil {
		t.Fatalf("with keys: %+v, %v, %v", a, ks, err)
	}
}

func TestAuthConfig_BadValue_NamesFlagAndEnv(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"auth-access-ttl", "soon", "auth-access-ttl (AUTH_ACCESS_TTL)"},
		{"auth-refresh-ttl", "1m", "auth-refresh-ttl (AUTH_REFRESH_TTL): must be longer"},
		{"login-max-failures", "0", "login-max-failures (LOGIN_MAX_FAILURES)"},
		{"login-lock-base", "-1s", "login-lock-base (LOGIN_LOCK_BASE)"},
		{"login-lock-max", "10ms", "login-lock-max (LOGIN_LOCK_MAX): must be at least"},
		{"auth-clients", "order=12", "auth-clients (AUTH_CLIENTS)"},
		{"auth-signing-keys", "/nonexistent/keys.json", "auth-signing-keys (AUTH_SIGNING_KEYS)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := defaults()
			o[tt.name] = tt.value
			_, _, err := authConfig(o, "http://localhost:8080", "kassa")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("authConfig(%s=%q) = %v, want %q", tt.name, tt.value, err, tt.want)
			}
		})
	}
}
