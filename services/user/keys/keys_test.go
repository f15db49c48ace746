package keys_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/services/user/keys"
)

func TestGenerate_CreatesThenAppends_NewestSigns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signing-keys.json")
	kid1, err := keys.Generate(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	s, err := keys.Load(path)
	if err != nil || s.SignerKID() != kid1 {
		t.Fatalf("Load = %v, kid %q; want signer %q", err, s.SignerKID(), kid1)
	}
	kid2, err := keys.Generate(path)
	if err != nil || kid2 == kid1 {
		t.Fatalf("second Generate = %q, %v; want a new kid", kid2, err)
	}
	s, err = keys.Load(path)
	if err != nil || s.SignerKID() != kid2 {
		t.Fatalf("after rotation signer = %q, %v; want the newest %q", s.SignerKID(), err, kid2)
	}
	var pub struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(s.PublicJSON(), &pub); err != nil {
		t.Fatal(err)
	}
	if len(pub.Keys) != 2 {
		t.Fatalf("public set has %d keys, want both", len(pub.Keys))
	}
	for _, k := range pub.Keys {
		if _, ok := k["d"]; ok {
			t.Fatalf("public set leaks the private part: %v", k)
		}
		if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["kid"] == "" {
			t.Fatalf("public key %v: want OKP Ed25519 EdDSA with a kid", k)
		}
	}
}

func TestParse_RefusesBadSets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.json")
	if _, err := keys.Generate(path); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	_ = json.Unmarshal(good, &set)
	edit := func(f func(k map[string]any)) string {
		k := map[string]any{}
		for n, v := range set.Keys[0] {
			k[n] = v
		}
		f(k)
		b, _ := json.Marshal(map[string]any{"keys": []any{k}})
		return string(b)
	}
	twiceJSON, _ := json.Marshal(map[string]any{"keys": []any{set.Keys[0], set.Keys[0]}})
	twice := string(twiceJSON)
	tests := []struct{ name, doc, want string }{
		{"not JSON", "nope", "not a JSON Web Key Set"},
		{"empty", `{"keys":[]}`, "no key"},
		{"no kid", edit(func(k map[string]any) { delete(k, "kid") }), "no kid"},
		{"public only", edit(func(k map[string]any) { delete(k, "d") }), "not an Ed25519 private key"},
		{"no alg", edit(func(k map[string]any) { delete(k, "alg") }), "alg EdDSA"},
		{"symmetric", `{"keys":[{"kty":"oct","kid":"a","alg":"HS256","k":"c2VjcmV0c2VjcmV0c2VjcmV0"}]}`, "not an Ed25519 private key"},
		{"twice", twice, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := keys.Parse([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	// Generate refuses to extend a file it cannot read, rather than
	// replacing it.
	bad := filepath.Join(t.TempDir(), "bad.json")
	_ = os.WriteFile(bad, []byte("nope"), 0o600)
	if _, err := keys.Generate(bad); err == nil {
		t.Fatal("Generate over a broken file succeeded")
	}
	if b, _ := os.ReadFile(bad); string(b) != "nope" {
		t.Fatalf("Generate changed a broken file to %q", b)
	}
}

func TestHandler_ServesPublicSet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.json")
	if _, err := keys.Generate(path); err != nil {
		t.Fatal(err)
	}
	s, _ := keys.Load(path)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/jwks.json", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/jwk-set+json" || rec.Body.String() != string(s.PublicJSON()) {
		t.Fatalf("GET = %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/.well-known/jwks.json", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST = %d, want 405", rec.Code)
	}
}
