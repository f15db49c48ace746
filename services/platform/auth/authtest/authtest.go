// Package authtest gives tests an identity provider of their own: an
// in-process issuer with a fresh Ed25519 key served as a JWKS over
// httptest, tokens for customers, admins and services (and broken ones),
// and ways to call a server with a token or run a handler as someone.
package authtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Audience is the aud of tokens an Issuer mints unless told otherwise.
const Audience = auth.DefaultAudience

// Issuer is an in-process token issuer. Its iss is the URL of its
// httptest server, which serves /.well-known/jwks.json and
// /.well-known/openid-configuration.
type Issuer struct {
	URL      string // iss
	Audience string
	JWKSURL  string
	cfg      issuerConfig

	mu   sync.Mutex
	keys []jwk.Key // private; the last one signs
}

type issuerConfig struct {
	external          bool
	userClaim, roles  string
	audience          string
	noDiscoveryInConf bool
}

// IssuerOption configures NewIssuer.
type IssuerOption func(*issuerConfig)

// External makes the issuer play an external OIDC provider: the verifier
// built by Verifier treats it as external, and Customer puts the user id
// in userClaim and the roles in rolesClaim.
func External(userClaim, rolesClaim string) IssuerOption {
	return func(c *issuerConfig) { c.external, c.userClaim, c.roles = true, userClaim, rolesClaim }
}

// WithAudience sets the issuer's audience (default Audience).
func WithAudience(aud string) IssuerOption { return func(c *issuerConfig) { c.audience = aud } }

// NewIssuer starts an issuer with one fresh key; it stops with the test.
func NewIssuer(t testing.TB, opts ...IssuerOption) *Issuer {
	t.Helper()
	cfg := issuerConfig{userClaim: "sub", roles: "roles", audience: Audience}
	for _, o := range opts {
		o(&cfg)
	}
	i := &Issuer{cfg: cfg, Audience: cfg.audience}
	i.AddKey(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(i.PublicSet(t))
	})
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": i.URL, "jwks_uri": i.JWKSURL,
			"id_token_signing_alg_values_supported": []string{"EdDSA"}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	i.URL, i.JWKSURL = srv.URL, srv.URL+"/.well-known/jwks.json"
	return i
}

// AddKey creates a key, publishes it and makes it the signing key (a
// rotation); it returns the new kid.
func (i *Issuer) AddKey(t testing.TB) string {
	t.Helper()
	k := newKey(t)
	i.mu.Lock()
	i.keys = append(i.keys, k)
	i.mu.Unlock()
	kid, _ := k.KeyID()
	return kid
}

// RemoveKey unpublishes kid (the end of a rotation).
func (i *Issuer) RemoveKey(kid string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for n, k := range i.keys {
		if id, _ := k.KeyID(); id == kid {
			i.keys = append(i.keys[:n], i.keys[n+1:]...)
			return
		}
	}
}

// KeyID is the kid of the current signing key.
func (i *Issuer) KeyID() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	kid, _ := i.keys[len(i.keys)-1].KeyID()
	return kid
}

// PublicSet is the issuer's JWKS document, private parts stripped.
func (i *Issuer) PublicSet(t testing.TB) jwk.Set {
	t.Helper()
	i.mu.Lock()
	defer i.mu.Unlock()
	set := jwk.NewSet()
	for _, k := range i.keys {
		pub, err := k.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := set.AddKey(pub); err != nil {
			t.Fatal(err)
		}
	}
	return set
}

// Config is the issuer as a Verifier trusts it.
func (i *Issuer) Config() auth.Issuer {
	c := auth.Issuer{Issuer: i.URL, Audience: i.Audience, JWKSURL: i.JWKSURL}
	if i.cfg.external {
		c.External, c.UserClaim, c.RolesClaim = true, i.cfg.userClaim, i.cfg.roles
	}
	return c
}

// Verifier returns a Verifier trusting issuers (the first is usually
// kassa's; External ones are customers only), closed with the test. It
// refetches key sets on an unknown kid without the production pause, so a
// rotation shows at once.
func Verifier(t testing.TB, issuers ...*Issuer) *auth.Verifier {
	t.Helper()
	opts := auth.VerifierOptions{UnknownKeyRefresh: time.Millisecond, RefreshInterval: time.Hour}
	for _, i := range issuers {
		opts.Issuers = append(opts.Issuers, i.Config())
	}
	v, err := auth.NewVerifier(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// Verifier is Verifier(t, i).
func (i *Issuer) Verifier(t testing.TB) *auth.Verifier { t.Helper(); return Verifier(t, i) }

func newKey(t testing.TB) jwk.Key {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.Import(priv)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{jwk.KeyIDKey: uuid.NewString(), jwk.AlgorithmKey: jwa.EdDSA(), jwk.KeyUsageKey: "sig"} {
		if err := k.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

func (i *Issuer) signer() jwk.Key {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.keys[len(i.keys)-1]
}

// NewUserID returns a fresh user id.
func NewUserID() string { return uuid.NewString() }

// Customer mints a token for the customer userID.
func (i *Issuer) Customer(t testing.TB, userID string, opts ...TokenOption) string {
	t.Helper()
	return i.user(t, userID, []string{auth.RoleCustomer}, opts)
}

// Admin mints a token for userID with the customer and admin roles.
func (i *Issuer) Admin(t testing.TB, userID string, opts ...TokenOption) string {
	t.Helper()
	return i.user(t, userID, []string{auth.RoleCustomer, auth.RoleAdmin}, opts)
}

func (i *Issuer) user(t testing.TB, userID string, roles []string, opts []TokenOption) string {
	t.Helper()
	claims := map[string]any{i.cfg.userClaim: userID}
	if i.cfg.userClaim != "sub" {
		claims["sub"] = "idp|" + userID
	}
	setPath(claims, i.cfg.roles, roles)
	return i.Token(t, claims, opts...)
}

// Service mints the service identity name ("order"), as the user service
// does for client credentials.
func (i *Issuer) Service(t testing.TB, name string, opts ...TokenOption) string {
	t.Helper()
	return i.Token(t, map[string]any{"sub": "service:" + name, "client_id": name, "roles": []string{auth.RoleService}}, opts...)
}

// Token mints a token with claims on top of the standard ones (iss, aud,
// iat, nbf, exp in 15 minutes, jti), then applies opts.
func (i *Issuer) Token(t testing.TB, claims map[string]any, opts ...TokenOption) string {
	t.Helper()
	now := time.Now()
	m := &minting{key: i.signer(), alg: jwa.EdDSA(), claims: map[string]any{
		jwt.IssuerKey: i.URL, jwt.AudienceKey: []string{i.Audience}, jwt.IssuedAtKey: now,
		jwt.NotBeforeKey: now, jwt.ExpirationKey: now.Add(15 * time.Minute), jwt.JwtIDKey: uuid.NewString(),
	}}
	for k, v := range claims {
		m.claims[k] = v
	}
	for _, o := range opts {
		o(t, m)
	}
	return m.sign(t)
}

func setPath(claims map[string]any, path string, v any) {
	m := claims
	for {
		name, rest, found := cutDot(path)
		if !found {
			m[name] = v
			return
		}
		next, ok := m[name].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[name] = next
		}
		m, path = next, rest
	}
}

func cutDot(s string) (string, string, bool) {
	for n := range len(s) {
		if s[n] == '.' {
			return s[:n], s[n+1:], true
		}
	}
	return s, "", false
}

// String names the issuer in test output.
func (i *Issuer) String() string { return fmt.Sprintf("issuer %s", i.URL) }
