package token_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/user/keys"
	"github.com/kassa-dev/kassa/services/user/token"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

func newIssuer(t *testing.T, now time.Time) (*token.Issuer, *keys.Set) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "k.json")
	for range 2 { // two keys: the newest must sign
		if _, err := keys.Generate(path); err != nil {
			t.Fatal(err)
		}
	}
	ks, err := keys.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := token.New(token.Config{Keys: ks, Issuer: "http://kassa.test", Audience: "kassa", TTL: 15 * time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return iss, ks
}

// parse verifies a token against the public set only, as another service
// would, and returns its claims as JSON values and its header kid.
func parse(t *testing.T, ks *keys.Set, tok string, now time.Time) (map[string]any, string) {
	t.Helper()
	pub, err := jwk.Parse(ks.PublicJSON())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.Parse([]byte(tok), jwt.WithKeySet(pub), jwt.WithIssuer("http://kassa.test"), jwt.WithAudience("kassa"),
		jwt.WithClock(jwt.ClockFunc(func() time.Time { return now }))); err != nil {
		t.Fatalf("verify: %v", err)
	}
	msg, err := jws.Parse([]byte(tok))
	if err != nil {
		t.Fatal(err)
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	kid, _ := hdr.KeyID()
	if alg, _ := hdr.Algorithm(); alg.String() != "EdDSA" {
		t.Fatalf("alg = %v, want EdDSA", alg)
	}
	var claims map[string]any
	if err := json.Unmarshal(msg.Payload(), &claims); err != nil {
		t.Fatal(err)
	}
	return claims, kid
}

func TestCustomer_Claims(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)
	iss, ks := newIssuer(t, now)
	const id = "0190e7a4-0000-7000-8000-000000000001"
	for _, admin := range []bool{false, true} {
		a, err := iss.Customer(id, admin)
		if err != nil {
			t.Fatal(err)
		}
		if a.TTL != 15*time.Minute || !a.Expiry.Equal(now.Truncate(time.Second).Add(15*time.Minute)) {
			t.Fatalf("expiry %v, ttl %v", a.Expiry, a.TTL)
		}
		c, kid := parse(t, ks, a.Token, now)
		if kid != ks.SignerKID() {
			t.Fatalf("kid = %q, want the newest key %q", kid, ks.SignerKID())
		}
		iat := float64(now.Unix())
		if c["iss"] != "http://kassa.test" || c["sub"] != id || c["iat"] != iat || c["nbf"] != iat || c["exp"] != iat+900 {
			t.Fatalf("claims %v", c)
		}
		if aud, _ := c["aud"].([]any); len(aud) != 1 || aud[0] != "kassa" {
			if c["aud"] != "kassa" {
				t.Fatalf("aud = %v", c["aud"])
			}
		}
		if jti, _ := c["jti"].(string); len(jti) < 16 {
			t.Fatalf("jti = %v", c["jti"])
		}
		want := []any{"customer"}
		if admin {
			want = append(want, "admin")
		}
		if roles, _ := c["roles"].([]any); !slices.Equal(roles, want) {
			t.Fatalf("roles = %v, want %v", c["roles"], want)
		}
		if _, ok := c["client_id"]; ok {
			t.Fatalf("a customer token has client_id: %v", c)
		}
	}
}

func TestService_Claims(t *testing.T) {
	now := time.Now()
	iss, ks := newIssuer(t, now)
	a, err := iss.Service("order")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := parse(t, ks, a.Token, now)
	if c["sub"] != "service:order" || c["client_id"] != "order" {
		t.Fatalf("claims %v", c)
	}
	if roles, _ := c["roles"].([]any); !slices.Equal(roles, []any{"service"}) {
		t.Fatalf("roles = %v", c["roles"])
	}
	a2, _ := iss.Service("order")
	if a2.Token == a.Token {
		t.Fatal("two tokens are identical: jti is not random")
	}
	if strings.Count(a.Token, ".") != 2 {
		t.Fatalf("not a compact JWS: %q", a.Token)
	}
}
