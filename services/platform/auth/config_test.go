package auth_test

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/services/platform/auth"
)

func parseAuth(t *testing.T, args []string, env map[string]string) (auth.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c auth.Config
	c.RegisterFlags(fs, func(k string) string { return env[k] }, "order")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return c, c.Load()
}

func TestConfig_Defaults_MatchTheDesign(t *testing.T) {
	c, err := parseAuth(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "http://localhost:8080" || c.Audience != "kassa" || c.JWKSURL != "http://localhost:9101/.well-known/jwks.json" ||
		c.ClientID != "order" || c.ExternalUserClaim != "sub" || c.ExternalRolesClaim != "roles" {
		t.Errorf("defaults = %+v", c)
	}
	if got := c.Issuers(); len(got) != 1 || got[0].External {
		t.Errorf("Issuers() without an external issuer = %+v", got)
	}
}

func TestConfig_BadSetting_NamesIt(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-auth-issuer", "localhost:8080"}, nil, "AUTH_ISSUER"},
		{nil, map[string]string{"AUTH_JWKS_URL": "/jwks.json"}, "AUTH_JWKS_URL"},
		{[]string{"-auth-audience", ""}, nil, "AUTH_AUDIENCE"},
		{nil, map[string]string{"AUTH_REVOCATION_URL": "user:9101/revoked"}, "AUTH_REVOCATION_URL"},
		{[]string{"-auth-external-issuer", "https://idp.example"}, nil, "AUTH_EXTERNAL_AUDIENCE"},
		{[]string{"-auth-external-issuer", "idp"}, nil, "AUTH_EXTERNAL_ISSUER"},
		{[]string{"-auth-external-issuer", "http://localhost:8080", "-auth-external-audience", "x"}, nil, "AUTH_EXTERNAL_ISSUER"},
		{[]string{"-auth-external-issuer", "https://idp.example", "-auth-external-audience", "x", "-auth-external-jwks-url", "keys"}, nil, "AUTH_EXTERNAL_JWKS_URL"},
		{[]string{"-auth-external-issuer", "https://idp.example", "-auth-external-audience", "x", "-auth-external-user-claim", ""}, nil, "AUTH_EXTERNAL_USER_CLAIM"},
		{[]string{"-auth-client-id", ""}, nil, "AUTH_CLIENT_ID"},
		{[]string{"-auth-client-secret", "a", "-auth-client-secret-file", secret}, nil, "AUTH_CLIENT_SECRET_FILE"},
		{[]string{"-auth-client-secret-file", secret + ".missing"}, nil, "AUTH_CLIENT_SECRET_FILE"},
	}
	for _, tt := range tests {
		if _, err := parseAuth(t, tt.args, tt.env); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v %v: %v, want an error naming %s", tt.args, tt.env, err, tt.want)
		}
	}
	c, err := parseAuth(t, []string{"-auth-client-secret-file", secret, "-auth-external-issuer", "https://idp.example",
		"-auth-external-audience", "shop"}, nil)
	if err != nil || c.ClientSecret != "s3cret" {
		t.Fatalf("secret file: %q, %v", c.ClientSecret, err)
	}
	if got := c.Issuers(); len(got) != 2 || !got[1].External || got[1].Audience != "shop" {
		t.Errorf("Issuers() = %+v", got)
	}
}

// The revocation list defaults to the user service's admin listener only
// when the JWKS URL is the default one; a key set elsewhere need not be
// served by the user service, so there the list is off unless given.
func TestConfig_RevocationURL_DefaultFollowsTheDefaultJWKS(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"defaults", nil, nil, "http://localhost:9101/.well-known/revoked-subjects.json"},
		{"custom JWKS, no list given", []string{"-auth-jwks-url", "http://user:9101/.well-known/jwks.json"}, nil, ""},
		{"given by variable", nil, map[string]string{"AUTH_JWKS_URL": "http://user:9101/.well-known/jwks.json",
			"AUTH_REVOCATION_URL": "http://user:9101/.well-known/revoked-subjects.json"}, "http://user:9101/.well-known/revoked-subjects.json"},
		{"flag beats variable", []string{"-auth-revocation-url", "https://a.example/r.json"},
			map[string]string{"AUTH_REVOCATION_URL": "https://b.example/r.json"}, "https://a.example/r.json"},
		{"explicitly empty is off", []string{"-auth-revocation-url", ""}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseAuth(t, tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.RevocationURL != tt.want {
				t.Errorf("RevocationURL = %q, want %q", c.RevocationURL, tt.want)
			}
			if got := c.Issuers()[0].RevocationURL; got != tt.want {
				t.Errorf("kassa issuer's RevocationURL = %q, want %q", got, tt.want)
			}
		})
	}
}
