// Package token mints kassa's access tokens: JWTs signed with the newest
// key of the user service's key set (EdDSA, with its kid in the header).
//
// Claims: iss, sub, aud, exp, iat, nbf (= iat), jti (random) and roles.
// A customer's sub is the user id and roles are ["customer"] or
// ["customer", "admin"]; a service's sub is "service:<name>", roles are
// ["service"] and client_id is <name>. Verifiers (services/platform/auth)
// rely on exactly this shape.
package token

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/kassa-dev/kassa/services/user/keys"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Roles carried in the roles claim.
const (
	RoleCustomer = "customer"
	RoleAdmin    = "admin"
	RoleService  = "service"
)

// ServicePrefix starts the sub of a service identity.
const ServicePrefix = "service:"

// Issuer signs access tokens.
type Issuer struct {
	keys     *keys.Set
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
}

// Config configures an Issuer.
type Config struct {
	Keys     *keys.Set
	Issuer   string // iss
	Audience string // aud
	TTL      time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New returns an Issuer.
func New(c Config) (*Issuer, error) {
	switch {
	case c.Keys == nil:
		return nil, errors.New("token: no signing keys")
	case c.Issuer == "" || c.Audience == "":
		return nil, errors.New("token: issuer and audience are required")
	case c.TTL <= 0:
		return nil, errors.New("token: the lifetime must be positive")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Issuer{keys: c.Keys, issuer: c.Issuer, audience: c.Audience, ttl: c.TTL, now: c.Now}, nil
}

// Access is a signed access token.
type Access struct {
	Token  string
	Expiry time.Time
	// TTL is the lifetime from issue to Expiry (expires_in).
	TTL time.Duration
}

// Customer mints a token for the user userID; admin adds the admin role.
func (i *Issuer) Customer(userID string, admin bool) (Access, error) {
	roles := []string{RoleCustomer}
	if admin {
		roles = append(roles, RoleAdmin)
	}
	return i.sign(jwt.NewBuilder().Subject(userID).Claim("roles", roles))
}

// Service mints a token for the kassa service name ("order").
func (i *Issuer) Service(name string) (Access, error) {
	if name == "" {
		return Access{}, errors.New("token: empty service name")
	}
	return i.sign(jwt.NewBuilder().Subject(ServicePrefix+name).Claim("roles", []string{RoleService}).Claim("client_id", name))
}

// TTL is the lifetime of the tokens i mints.
func (i *Issuer) TTL() time.Duration { return i.ttl }

func (i *Issuer) sign(b *jwt.Builder) (Access, error) {
	// Whole seconds: the claims are NumericDate seconds, and expires_in
	// should match exp exactly.
	now := i.now().Truncate(time.Second)
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return Access{}, fmt.Errorf("token id: %w", err)
	}
	exp := now.Add(i.ttl)
	tok, err := b.Issuer(i.issuer).Audience([]string{i.audience}).IssuedAt(now).NotBefore(now).Expiration(exp).
		JwtID(base64.RawURLEncoding.EncodeToString(jti)).Build()
	if err != nil {
		return Access{}, fmt.Errorf("build token: %w", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), i.keys.Signer()))
	if err != nil {
		return Access{}, fmt.Errorf("sign token: %w", err)
	}
	return Access{Token: string(signed), Expiry: exp, TTL: exp.Sub(now)}, nil
}

// ServiceSource returns a function minting a service token for name, in
// the shape of the platform's auth.TokenSourceFunc, so the issuer's own
// calls to peers carry a token it signed itself.
func (i *Issuer) ServiceSource(name string) func(ctx context.Context) (string, time.Time, error) {
	return func(context.Context) (string, time.Time, error) {
		a, err := i.Service(name)
		return a.Token, a.Expiry, err
	}
}
