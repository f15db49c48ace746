package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

// keySource is the user service's admin listener as the gateway sees it:
// it serves doc, or fails with a 500 while doc is empty.
type keySource struct {
	mu      sync.Mutex
	doc     string
	fetches atomic.Int32
	url     string
}

func startKeySource(t *testing.T) *keySource {
	t.Helper()
	s := &keySource{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		doc := s.doc
		s.mu.Unlock()
		if r.URL.Path != "/.well-known/jwks.json" || doc == "" {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(doc))
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/.well-known/jwks.json"
	return s
}

func (s *keySource) set(doc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doc = doc
}

const (
	keySet1 = `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1","alg":"EdDSA","use":"sig"}]}`
	keySet2 = `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1","alg":"EdDSA"},{"kty":"OKP","crv":"Ed25519","x":"3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08","kid":"k2","alg":"EdDSA"}]}`
	// A private key set, as a misconfigured source might serve it.
	privateKeySet = `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","kid":"k1"}]}`
)

func TestJWKS_FetchedCachedRefreshedAndStaleOnFailure(t *testing.T) {
	src := startKeySource(t)
	clk := newTestClock()
	e := newEnv(t, func(c *Config) { c.JWKSSourceURL = src.url; c.Clock = clk.now })
	get := func() response { return e.do(t, "GET", "/.well-known/jwks.json", nil, nil) }

	// Never fetched and the source down: 503 with Retry-After.
	r := get()
	wantStatus(t, r, http.StatusServiceUnavailable, codes.Unavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}

	src.set(keySet1)
	clk.advance(jwksRetry)
	r = get()
	if r.status != http.StatusOK || string(r.body) != keySet1 {
		t.Fatalf("status %d, body %s; want the source's key set", r.status, r.body)
	}
	if ct, cc := r.header.Get("Content-Type"), r.header.Get("Cache-Control"); ct != "application/json" || cc != "public, max-age=60" {
		t.Errorf("Content-Type %q, Cache-Control %q", ct, cc)
	}

	// Within the TTL the copy is served without asking the source.
	before := src.fetches.Load()
	src.set(keySet2)
	clk.advance(jwksTTL - time.Second)
	if r := get(); string(r.body) != keySet1 || src.fetches.Load() != before {
		t.Errorf("within the TTL: body %s, %d more fetches", r.body, src.fetches.Load()-before)
	}
	// After it, a rotated set is picked up.
	clk.advance(time.Second)
	if r := get(); string(r.body) != keySet2 {
		t.Errorf("after the TTL: body %s, want the rotated set", r.body)
	}

	// The source fails, or serves private keys: the last good copy stays.
	for _, bad := range []string{"", privateKeySet, `{"keys":[]}`, `not json`} {
		src.set(bad)
		clk.advance(jwksTTL)
		if r := get(); r.status != http.StatusOK || string(r.body) != keySet2 {
			t.Errorf("source serving %q: status %d, body %s; want the last good set", bad, r.status, r.body)
		}
	}
}

func TestJWKS_PrivateKeysNeverPublished(t *testing.T) {
	src := startKeySource(t)
	src.set(privateKeySet)
	e := newEnv(t, func(c *Config) { c.JWKSSourceURL = src.url })
	r := e.do(t, "GET", "/.well-known/jwks.json", nil, nil)
	wantStatus(t, r, http.StatusServiceUnavailable, codes.Unavailable)
	if !e.logs.has("private member") {
		t.Error("the refusal is not logged")
	}
}

func TestOpenIDConfiguration_PointsAtTheIssuer(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AuthIssuer = "https://api.kassa.example/" })
	r := e.do(t, "GET", "/.well-known/openid-configuration", nil, nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q, body %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	var doc struct {
		Issuer     string   `json:"issuer"`
		JWKSURI    string   `json:"jwks_uri"`
		Token      string   `json:"token_endpoint"`
		Algs       []string `json:"id_token_signing_alg_values_supported"`
		Responses  []string `json:"response_types_supported"`
		Subjects   []string `json:"subject_types_supported"`
		GrantTypes []string `json:"grant_types_supported"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	const iss = "https://api.kassa.example"
	if doc.Issuer != iss || doc.JWKSURI != iss+"/.well-known/jwks.json" || doc.Token != iss+"/v1/auth/token" {
		t.Errorf("document = %s", r.body)
	}
	if !slices.Equal(doc.Algs, []string{"EdDSA"}) || !slices.Equal(doc.Responses, []string{"token"}) ||
		!slices.Equal(doc.Subjects, []string{"public"}) ||
		!slices.Equal(doc.GrantTypes, []string{"password", "refresh_token", "client_credentials"}) {
		t.Errorf("document = %s", r.body)
	}
}

func TestWellKnown_NotConfigured_404(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/.well-known/jwks.json", "/.well-known/openid-configuration"} {
		if r := e.do(t, "GET", p, nil, nil); r.status != http.StatusNotFound {
			t.Errorf("%s: status %d", p, r.status)
		}
	}
}
