package e2e

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
)

// Every way a token can be wrong, over REST through the gateway: each is
// 401 with a Bearer challenge and changes nothing. The tokens are forged
// with the stack's own signing key where the case needs one, so the one
// thing wrong with each is the thing the case names.

// stackKey is the signing key of the stack's user service, read from its
// key file (a JWK Set whose last key signs).
type stackKey struct {
	kid  string
	priv ed25519.PrivateKey
}

func loadStackKey(t *testing.T) stackKey {
	t.Helper()
	b, err := os.ReadFile(sys.stack.SigningKeys())
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("signing key file: %v", err)
	}
	k := set.Keys[len(set.Keys)-1]
	seed, err := base64.RawURLEncoding.DecodeString(k.D)
	if err != nil || len(seed) != ed25519.SeedSize {
		t.Fatalf("signing key %s: bad d (%v)", k.Kid, err)
	}
	return stackKey{kid: k.Kid, priv: ed25519.NewKeyFromSeed(seed)}
}

func b64(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// claims are the claims of a valid customer token for userID.
func customerClaims(userID string) map[string]any {
	now := time.Now().Unix()
	return map[string]any{"iss": sys.stack.BaseURL(), "sub": userID, "aud": []string{"kassa"}, "iat": now, "nbf": now,
		"exp": now + 900, "jti": randomID(), "roles": []string{"customer"}}
}

// sign makes a compact JWS of header and claims with key.
func sign(header, claims map[string]any, key ed25519.PrivateKey) string {
	input := b64(header) + "." + b64(claims)
	return input + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(input)))
}

func with(claims map[string]any, name string, v any) map[string]any {
	out := map[string]any{}
	for k, x := range claims {
		out[k] = x
	}
	if v == nil {
		delete(out, name)
	} else {
		out[name] = v
	}
	return out
}

// forgedTokens are the refusal cases for the owner's account.
func forgedTokens(t *testing.T, owner *customer) []authtest.BadToken {
	t.Helper()
	k := loadStackKey(t)
	hdr := map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": k.kid}
	good := customerClaims(owner.id)
	now := time.Now().Unix()
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)

	// The real token with one letter of its signature changed.
	parts := strings.Split(owner.token, ".")
	sig := []byte(parts[2])
	sig[5] = map[bool]byte{true: 'B', false: 'A'}[sig[5] == 'A']
	tampered := parts[0] + "." + parts[1] + "." + string(sig)

	// HS256 keyed with the published public key, under the real kid.
	hsInput := b64(map[string]any{"alg": "HS256", "typ": "JWT", "kid": k.kid}) + "." + b64(good)
	mac := hmac.New(sha256.New, k.priv.Public().(ed25519.PublicKey))
	mac.Write([]byte(hsInput))

	return []authtest.BadToken{
		{Name: "missing", Token: ""},
		{Name: "malformed", Token: "not-a-jwt"},
		{Name: "malformed segments", Token: "a.b.c"},
		{Name: "expired", Token: sign(hdr, with(with(with(good, "exp", now-3600), "iat", now-4500), "nbf", now-4500), k.priv)},
		{Name: "not yet valid", Token: sign(hdr, with(with(good, "nbf", now+300), "iat", now+300), k.priv)},
		{Name: "wrong issuer", Token: sign(hdr, with(good, "iss", "https://issuer.invalid"), k.priv)},
		{Name: "wrong audience", Token: sign(hdr, with(good, "aud", []string{"someone-else"}), k.priv)},
		{Name: "bad signature", Token: tampered},
		{Name: "alg none", Token: b64(map[string]any{"alg": "none", "typ": "JWT"}) + "." + b64(good) + "."},
		{Name: "HS256 keyed with the public key", Token: hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))},
		{Name: "no kid", Token: sign(map[string]any{"alg": "EdDSA", "typ": "JWT"}, good, k.priv)},
		{Name: "unknown kid", Token: sign(with(hdr, "kid", newUUID()), good, stranger)},
		{Name: "user id not a UUID", Token: sign(hdr, with(good, "sub", "alice"), k.priv)},
	}
}

func TestBadTokens_REST_Answer401WithBearerChallenge_ChangeNothing(t *testing.T) {
	owner := restFundedUser(t, 1000)
	base := "/v1/users/" + owner.id
	// Tokens of an issuer kassa does not trust, in every broken shape and
	// one well-formed: none is kassa's.
	foreign := authtest.NewIssuer(t)
	cases := append(forgedTokens(t, owner), foreign.BadTokens(t, nil)...)
	cases = append(cases, authtest.BadToken{Name: "valid token of a foreign issuer", Token: foreign.Customer(t, owner.id)})
	for _, bt := range cases {
		t.Run(bt.Name, func(t *testing.T) {
			before := snapshot(t, owner)
			var header map[string]string
			if bt.Token != "" {
				header = bearerHeader(bt.Token)
			}
			for _, req := range []struct {
				method, path string
				body         any
			}{
				{"GET", base + "/account", nil},
				{"GET", base + "/orders", nil},
				{"POST", base + "/account:withdraw", map[string]any{"amount": "100", "requestId": "bt-" + randomID()}},
				{"POST", base + "/orders", map[string]any{"price": "100", "requestId": "bt-" + randomID()}},
			} {
				a := call(t, req.method, req.path, req.body, header)
				expectUnauthenticated(t, req.method+" "+req.path, a)
				challenge := a.header.Get("WWW-Authenticate")
				if sent := bt.Token != ""; sent != strings.Contains(challenge, `error="invalid_token"`) {
					t.Errorf("%s %s: challenge %q; error=\"invalid_token\" belongs to a sent token only", req.method, req.path, challenge)
				}
				if bt.Token != "" && strings.Contains(string(a.raw), bt.Token) {
					t.Errorf("%s %s: the answer echoes the token", req.method, req.path)
				}
			}
			if after := snapshot(t, owner); after != before {
				t.Errorf("a refused call changed the owner's state:\n%s", changes(before, after))
			}
		})
	}
	// The same calls with the owner's real token go through: the refusals
	// above are the tokens', not the requests'.
	ok(t, "account with the real token", owner.call(t, "GET", base+"/account", nil, nil))
	ok(t, "withdrawal with the real token", owner.call(t, "POST", base+"/account:withdraw", map[string]any{"amount": "100", "requestId": "bt-real"}, nil))
	if got := balanceOf(t, owner); got != "900" {
		t.Errorf("balance = %s, want 900", got)
	}
}

// A forged token that gets everything right but the signing key is what
// a stolen public key set would allow; the stack's real key, used the same
// way, is accepted, so the forgery helpers themselves are sound.
func TestForgedToken_WithStackKey_IsAccepted(t *testing.T) {
	owner := restFundedUser(t, 10)
	k := loadStackKey(t)
	tok := sign(map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": k.kid}, customerClaims(owner.id), k.priv)
	a := call(t, "GET", "/v1/users/"+owner.id+"/account", nil, bearerHeader(tok))
	if a.status != http.StatusOK {
		t.Fatalf("a token signed like the user service's: %s", a)
	}
}

// adminView is a user's money, orders and letters as an admin reads them
// (the user's own token may no longer read them).
func adminView(t *testing.T, a *customer, userID string) string {
	t.Helper()
	var b strings.Builder
	for _, path := range []string{"/account", "/account/transactions?pageSize=1000", "/orders?pageSize=1000", "/notifications?pageSize=1000"} {
		r := a.call(t, "GET", "/v1/users/"+userID+path, nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("admin reads %s: %s", path, r)
		}
		b.WriteString(path + ": " + string(r.raw) + "\n")
	}
	return b.String()
}
