package wire

import (
	"flag"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/services/platform/boot"
	"github.com/kassa-dev/kassa/services/user/keys"
)

// parse reads the user service's own settings from args, as boot.Run does.
func parse(args ...string) (*Options, error) {
	o := new(Options)
	fs := flag.NewFlagSet("user", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := boot.NewFlags(fs, func(string) string { return "" })
	o.Declare(f)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return o, f.Parse()
}

func TestAuthConfig_Defaults_LoginDisabledWithoutKeys(t *testing.T) {
	o, err := parse()
	if err != nil {
		t.Fatal(err)
	}
	a, ks, err := o.authConfig("http://localhost:8080", "kassa")
	if err != nil || ks != nil || a.Issuer != nil || a.Lock.MaxFailures != 5 {
		t.Fatalf("authConfig(defaults) = %+v, %v, %v; want login disabled, 5 failures", a, ks, err)
	}
	path := filepath.Join(t.TempDir(), "k.json")
	if _, err := keys.Generate(path); err != nil {
		t.Fatal(err)
	}
	if o, err = parse("-auth-signing-keys", path); err != nil {
		t.Fatal(err)
	}
	a, ks, err = o.authConfig("http://localhost:8080", "kassa")
	if err != nil || ks == nil || a.Issuer == nil {
		t.Fatalf("with keys: %+v, %v, %v", a, ks, err)
	}
}

func TestOptions_BadValue_NamesFlagAndEnv(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"auth-access-ttl", "soon", "auth-access-ttl (AUTH_ACCESS_TTL)"},
		{"auth-refresh-ttl", "1m", "auth-refresh-ttl (AUTH_REFRESH_TTL): must be longer"},
		{"login-max-failures", "0", "login-max-failures (LOGIN_MAX_FAILURES)"},
		{"login-max-failures", "1001", "login-max-failures (LOGIN_MAX_FAILURES): want a number from 1 to 1000"},
		{"login-lock-base", "-1s", "login-lock-base (LOGIN_LOCK_BASE)"},
		{"login-lock-max", "10ms", "login-lock-max (LOGIN_LOCK_MAX): must be at least"},
		{"auth-clients", "order=12", "auth-clients (AUTH_CLIENTS)"},
		{"auth-signing-keys", "/nonexistent/keys.json", "auth-signing-keys (AUTH_SIGNING_KEYS)"},
		{"repair-interval", "0s", "repair-interval (REPAIR_INTERVAL)"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			o, err := parse("-"+tt.name, tt.value)
			if err == nil {
				_, _, err = o.authConfig("http://localhost:8080", "kassa")
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%s=%q: %v, want %q", tt.name, tt.value, err, tt.want)
			}
		})
	}
}
