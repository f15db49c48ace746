package auth

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/kassa-dev/kassa/services/platform/process"
)

// Defaults of the shared settings (see Config).
const (
	DefaultIssuer   = "http://localhost:8080"
	DefaultAudience = "kassa"
	DefaultJWKSURL  = "http://localhost:9101/.well-known/jwks.json"
)

// Config is the identity setting every kassa process shares: whom to trust
// (the kassa issuer and optionally an external OIDC issuer) and, for a
// service that calls peers, its own client credentials. Each field is a
// flag with an environment fallback; see RegisterFlags.
type Config struct {
	Issuer   string // -auth-issuer, AUTH_ISSUER
	Audience string // -auth-audience, AUTH_AUDIENCE
	JWKSURL  string // -auth-jwks-url, AUTH_JWKS_URL
	// RevocationURL is the kassa issuer's revocation list
	// (-auth-revocation-url, AUTH_REVOCATION_URL). Unset, Load makes it
	// the JWKS URL's origin + RevocationPath when JWKSURL is the default,
	// and leaves it empty otherwise: a JWKS elsewhere need not be the user
	// service. Empty: no list is checked.
	RevocationURL string
	revocationSet bool // given as a flag or variable, even empty

	ExternalIssuer     string // -auth-external-issuer; empty: none
	ExternalAudience   string // -auth-external-audience
	ExternalJWKSURL    string // -auth-external-jwks-url; empty: discovered
	ExternalUserClaim  string // -auth-external-user-claim, default "sub"
	ExternalRolesClaim string // -auth-external-roles-claim, default "roles"

	ClientID         string // -auth-client-id, default the service name
	ClientSecret     string // -auth-client-secret, or read from the file below by Load
	ClientSecretFile string // -auth-client-secret-file
}

// RegisterFlags declares the auth flags on fs, each defaulting to its
// environment variable (getenv) and then to the documented default.
// clientID is the default -auth-client-id (the service's name). Call Load
// after fs.Parse.
func (c *Config) RegisterFlags(fs *flag.FlagSet, getenv func(string) string, clientID string) {
	str := func(dst *string, name, def, usage string) {
		env := process.EnvName(name)
		fs.StringVar(dst, name, process.EnvOr(getenv, env, def), fmt.Sprintf("%s (env %s)", usage, env))
	}
	str(&c.Issuer, "auth-issuer", DefaultIssuer, "iss of kassa's access tokens: the gateway's public URL")
	str(&c.Audience, "auth-audience", DefaultAudience, "aud that kassa's access tokens must carry")
	str(&c.JWKSURL, "auth-jwks-url", DefaultJWKSURL, "URL of the kassa issuer's public key set (the user service's admin listener)")
	if v := getenv(process.EnvName("auth-revocation-url")); v != "" {
		c.RevocationURL, c.revocationSet = v, true
	}
	fs.Var(setString{&c.RevocationURL, &c.revocationSet}, "auth-revocation-url",
		fmt.Sprintf("URL of the kassa issuer's list of revoked subjects; default with the default -auth-jwks-url: its origin + %s; empty: no list (env %s)",
			RevocationPath, process.EnvName("auth-revocation-url")))
	str(&c.ExternalIssuer, "auth-external-issuer", "", "iss of an external OIDC issuer whose tokens are also accepted for customers; empty: none")
	str(&c.ExternalAudience, "auth-external-audience", "", "aud that the external issuer's tokens must carry")
	str(&c.ExternalJWKSURL, "auth-external-jwks-url", "", "key set URL of the external issuer; empty: discovered from <issuer>/.well-known/openid-configuration")
	str(&c.ExternalUserClaim, "auth-external-user-claim", "sub", "claim of external tokens holding the kassa user id (a UUID)")
	str(&c.ExternalRolesClaim, "auth-external-roles-claim", "roles", "claim of external tokens holding the roles (an array; a dotted path reaches into objects)")
	str(&c.ClientID, "auth-client-id", clientID, "this service's client id for its own service token")
	str(&c.ClientSecret, "auth-client-secret", "", "this service's client secret; prefer -auth-client-secret-file")
	str(&c.ClientSecretFile, "auth-client-secret-file", "", "file holding this service's client secret (a mounted Secret)")
}

// Load checks the settings, naming the flag and variable of a bad one, and
// reads the client secret file.
func (c *Config) Load() error {
	bad := func(name, format string, args ...any) error {
		return fmt.Errorf("%s (%s): %s", name, process.EnvName(name), fmt.Sprintf(format, args...))
	}
	if err := checkURL(c.Issuer); err != nil {
		return bad("auth-issuer", "%v", err)
	}
	if c.Audience == "" {
		return bad("auth-audience", "must not be empty")
	}
	if err := checkURL(c.JWKSURL); err != nil {
		return bad("auth-jwks-url", "%v", err)
	}
	if !c.revocationSet && c.RevocationURL == "" && c.JWKSURL == DefaultJWKSURL {
		c.RevocationURL = defaultRevocationURL(c.JWKSURL)
	}
	if c.RevocationURL != "" {
		if err := checkURL(c.RevocationURL); err != nil {
			return bad("auth-revocation-url", "%v", err)
		}
	}
	if c.ExternalIssuer != "" {
		if err := checkURL(c.ExternalIssuer); err != nil {
			return bad("auth-external-issuer", "%v", err)
		}
		if c.ExternalIssuer == c.Issuer {
			return bad("auth-external-issuer", "must differ from auth-issuer (AUTH_ISSUER)")
		}
		if c.ExternalAudience == "" {
			return bad("auth-external-audience", "is required with auth-external-issuer (AUTH_EXTERNAL_ISSUER)")
		}
		if c.ExternalJWKSURL != "" {
			if err := checkURL(c.ExternalJWKSURL); err != nil {
				return bad("auth-external-jwks-url", "%v", err)
			}
		}
		if c.ExternalUserClaim == "" {
			return bad("auth-external-user-claim", "must not be empty")
		}
		if c.ExternalRolesClaim == "" {
			return bad("auth-external-roles-claim", "must not be empty")
		}
	}
	if c.ClientID == "" {
		return bad("auth-client-id", "must not be empty")
	}
	if c.ClientSecretFile != "" {
		if c.ClientSecret != "" {
			return bad("auth-client-secret-file", "set either it or auth-client-secret (AUTH_CLIENT_SECRET), not both")
		}
		b, err := os.ReadFile(c.ClientSecretFile)
		if err != nil {
			return bad("auth-client-secret-file", "%v", err)
		}
		if c.ClientSecret = strings.TrimSpace(string(b)); c.ClientSecret == "" {
			return bad("auth-client-secret-file", "%s is empty", c.ClientSecretFile)
		}
	}
	return nil
}

// setString is a string flag that remembers it was given, so an explicit
// empty value (off) differs from no value (the default).
type setString struct {
	dst *string
	set *bool
}

func (f setString) String() string {
	if f.dst == nil {
		return ""
	}
	return *f.dst
}

func (f setString) Set(v string) error { *f.dst, *f.set = v, true; return nil }

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an absolute http(s) URL, got %q", s)
	}
	return nil
}

// Issuers returns the trusted issuers Config describes, kassa's first.
func (c Config) Issuers() []Issuer {
	out := []Issuer{{Issuer: c.Issuer, Audience: c.Audience, JWKSURL: c.JWKSURL, RevocationURL: c.RevocationURL}}
	if c.ExternalIssuer != "" {
		out = append(out, Issuer{Issuer: c.ExternalIssuer, Audience: c.ExternalAudience, JWKSURL: c.ExternalJWKSURL,
			External: true, UserClaim: c.ExternalUserClaim, RolesClaim: c.ExternalRolesClaim})
	}
	return out
}

// ErrNoClientSecret is returned by callers that need a service token but
// were given no -auth-client-secret.
var ErrNoClientSecret = errors.New("auth-client-secret (AUTH_CLIENT_SECRET) or auth-client-secret-file is required to call peers with a service identity")
