package authtest

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

type minting struct {
	key     any // a jwk.Key, or []byte for HMAC
	alg     jwa.SignatureAlgorithm
	kid     *string
	claims  map[string]any
	none    bool
	tamper  bool
	dropped []string
}

// TokenOption changes a token before it is signed.
type TokenOption func(testing.TB, *minting)

// Expired sets exp (and iat, nbf) in the past, beyond any leeway.
func Expired() TokenOption {
	return func(_ testing.TB, m *minting) {
		past := time.Now().Add(-time.Hour)
		m.claims[jwt.IssuedAtKey], m.claims[jwt.NotBeforeKey], m.claims[jwt.ExpirationKey] = past, past, past.Add(15*time.Minute)
	}
}

// NotYetValid sets nbf beyond the leeway in the future.
func NotYetValid() TokenOption {
	return func(_ testing.TB, m *minting) {
		m.claims[jwt.NotBeforeKey] = time.Now().Add(5 * time.Minute)
	}
}

// ExpiresIn sets exp to now + d.
func ExpiresIn(d time.Duration) TokenOption {
	return func(_ testing.TB, m *minting) { m.claims[jwt.ExpirationKey] = time.Now().Add(d) }
}

// AudienceClaim sets aud.
func AudienceClaim(aud string) TokenOption {
	return func(_ testing.TB, m *minting) { m.claims[jwt.AudienceKey] = []string{aud} }
}

// IssuedBy sets iss (signing stays with this issuer's key).
func IssuedBy(iss string) TokenOption {
	return func(_ testing.TB, m *minting) { m.claims[jwt.IssuerKey] = iss }
}

// Claim sets (or, with a nil value, removes) one claim.
func Claim(name string, v any) TokenOption {
	return func(_ testing.TB, m *minting) {
		if v == nil {
			delete(m.claims, name)
			return
		}
		m.claims[name] = v
	}
}

// SignedBy signs with another issuer's current key (its kid included).
func SignedBy(other *Issuer) TokenOption {
	return func(_ testing.TB, m *minting) { m.key = other.signer() }
}

// UnknownKey signs with a fresh key no issuer publishes.
func UnknownKey() TokenOption {
	return func(t testing.TB, m *minting) { m.key = newKey(t) }
}

// NoKeyID leaves kid out of the header.
func NoKeyID() TokenOption {
	return func(_ testing.TB, m *minting) { empty := ""; m.kid = &empty }
}

// BadSignature changes a byte of the signature.
func BadSignature() TokenOption { return func(_ testing.TB, m *minting) { m.tamper = true } }

// AlgNone makes an unsigned token (alg "none").
func AlgNone() TokenOption { return func(_ testing.TB, m *minting) { m.none = true } }

// HS256WithPublicKey signs with HMAC-SHA256 keyed by the issuer's raw
// public key, with the real kid: the classic algorithm-confusion forgery.
func HS256WithPublicKey() TokenOption {
	return func(t testing.TB, m *minting) {
		k := m.key.(jwk.Key)
		kid, _ := k.KeyID()
		var priv ed25519.PrivateKey
		if err := jwk.Export(k, &priv); err != nil {
			t.Fatal(err)
		}
		m.key, m.alg, m.kid = []byte(priv.Public().(ed25519.PublicKey)), jwa.HS256(), &kid
	}
}

func (m *minting) sign(t testing.TB) string {
	t.Helper()
	tok := jwt.New()
	for k, v := range m.claims {
		if err := tok.Set(k, v); err != nil {
			t.Fatalf("claim %s: %v", k, err)
		}
	}
	if m.none {
		b, err := jwt.Sign(tok, jwt.WithInsecureNoSignature())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	var sub []jwt.Option
	if m.kid != nil {
		hdr := jws.NewHeaders()
		if *m.kid != "" {
			_ = hdr.Set(jws.KeyIDKey, *m.kid)
		}
		sub = append(sub, jws.WithProtectedHeaders(hdr))
		if k, ok := m.key.(jwk.Key); ok {
			// A kid set on the key would be copied into the header.
			c, _ := k.Clone()
			_ = c.Remove(jwk.KeyIDKey)
			m.key = c
		}
	}
	b, err := jwt.Sign(tok, jwt.WithKey(m.alg, m.key, sub...))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if m.tamper {
		dot := strings.LastIndexByte(s, '.')
		sig := []byte(s[dot+1:])
		// Another base64url letter in a position that holds six whole
		// bits of the signature: still decodes, no longer verifies.
		// (Flipping bits could make '-' or '_' a letter outside the
		// alphabet, which is a malformed token instead.)
		if sig[10] == 'A' {
			sig[10] = 'B'
		} else {
			sig[10] = 'A'
		}
		s = s[:dot+1] + string(sig)
	}
	return s
}

// BadToken is one way a token must be refused.
type BadToken struct {
	Name   string
	Token  string // "" for no token at all
	Reason auth.Reason
}

// BadTokens returns every refusal case for i, for tests of any layer
// (gRPC, REST) to run: each must be refused and change nothing. other is a
// second trusted issuer whose key is used for the kid-of-another-issuer
// case; without one that case is left out.
func (i *Issuer) BadTokens(t testing.TB, other *Issuer) []BadToken {
	t.Helper()
	user := NewUserID()
	out := []BadToken{
		{"missing", "", auth.ReasonMissing},
		{"malformed", "not-a-jwt", auth.ReasonMalformed},
		{"malformed segments", "a.b.c", auth.ReasonMalformed},
		{"expired", i.Customer(t, user, Expired()), auth.ReasonExpired},
		{"not yet valid", i.Customer(t, user, NotYetValid()), auth.ReasonNotYetValid},
		{"wrong issuer", i.Customer(t, user, IssuedBy("https://issuer.invalid")), auth.ReasonWrongIssuer},
		{"wrong audience", i.Customer(t, user, AudienceClaim("someone-else")), auth.ReasonWrongAudience},
		{"bad signature", i.Customer(t, user, BadSignature()), auth.ReasonBadSignature},
		{"alg none", i.Customer(t, user, AlgNone()), auth.ReasonAlgNone},
		{"HS256 keyed with the public key", i.Customer(t, user, HS256WithPublicKey()), auth.ReasonAlgSymmetric},
		{"no kid", i.Customer(t, user, NoKeyID()), auth.ReasonNoKeyID},
		{"unknown kid", i.Customer(t, user, UnknownKey()), auth.ReasonUnknownKeyID},
		{"user id not a UUID", i.Customer(t, "alice"), auth.ReasonBadClaims},
		{"service sub without client_id", i.Service(t, "order", Claim("client_id", nil)), auth.ReasonBadClaims},
	}
	if other != nil {
		out = append(out, BadToken{"kid of another issuer", i.Customer(t, user, SignedBy(other)), auth.ReasonForeignKeyID})
	}
	return out
}
