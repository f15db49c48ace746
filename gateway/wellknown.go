package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The gateway publishes the user service's public signing keys, which that
// service serves only on its admin listener, so that any client or proxy
// can verify kassa's tokens from the public URL (the issuer's), and an
// OpenID discovery document that points there.

const (
	// jwksTTL is how long a fetched key set is served before it is fetched
	// again. Short, because a new key signs as soon as the user service has
	// it; it is also the max-age clients get.
	jwksTTL = time.Minute
	// jwksRetry spaces out fetches while the source fails, so a down user
	// service is not asked on every request.
	jwksRetry = time.Second
	// jwksMaxBytes bounds the document; a key set is a few hundred bytes
	// per key.
	jwksMaxBytes = 1 << 16
)

// jwksCache fetches the key set from the source and keeps the last good
// copy, served while the source fails.
type jwksCache struct {
	url    string
	client *http.Client
	now    func() time.Time
	log    *slog.Logger

	mu      sync.Mutex // held while fetching: one fetch at a time
	body    []byte     // last good document; nil until one was fetched
	fetched time.Time  // when body was fetched
	tried   time.Time  // the last fetch attempt
}

func newJWKSCache(url string, now func() time.Time, log *slog.Logger) *jwksCache {
	if now == nil {
		now = time.Now
	}
	return &jwksCache{url: url, client: &http.Client{Timeout: 2 * time.Second}, now: now, log: log}
}

// get returns the key set, fetching it when the copy is older than jwksTTL.
func (c *jwksCache) get(ctx context.Context) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.body != nil && now.Sub(c.fetched) < jwksTTL {
		return c.body, nil
	}
	if !c.tried.IsZero() && now.Sub(c.tried) < jwksRetry {
		if c.body != nil {
			return c.body, nil
		}
		return nil, errors.New("the last fetch failed moments ago")
	}
	c.tried = now
	body, err := c.fetch(ctx)
	if err != nil {
		c.log.WarnContext(ctx, "fetch signing keys", "url", c.url, "error", err, "serving_stale", c.body != nil)
		if c.body != nil {
			return c.body, nil
		}
		return nil, err
	}
	c.body, c.fetched = body, now
	return body, nil
}

func (c *jwksCache) fetch(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > jwksMaxBytes {
		return nil, fmt.Errorf("larger than %d bytes", jwksMaxBytes)
	}
	return body, checkPublicKeySet(body)
}

// checkPublicKeySet refuses a document that is not a non-empty JWK Set or
// that holds private key material (RFC 7518 section 6: "d", and the RSA
// private members): publishing that would hand out the signing key.
func checkPublicKeySet(body []byte) error {
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return fmt.Errorf("not a JWK Set: %w", err)
	}
	if len(set.Keys) == 0 {
		return errors.New("the JWK Set has no keys")
	}
	for i, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[private]; ok {
				return fmt.Errorf("key %d has the private member %q; refusing to publish it", i, private)
			}
		}
	}
	return nil
}

func (g *Gateway) serveJWKS(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	body, err := g.jwks.get(r.Context())
	if err != nil {
		_, out := runtime.MarshalerForRequest(g.mux, r)
		runtime.HTTPError(r.Context(), g.mux, out, w, r,
			status.Error(codes.Unavailable, "the signing keys are not available yet, retry later"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(jwksTTL.Seconds())))
	_, _ = w.Write(body)
}

// openIDConfiguration is the discovery document (OpenID Connect Discovery
// 1.0, section 3) of the kassa issuer: enough for a client or proxy to find
// the keys and the token endpoint. kassa issues access tokens only, no ID
// tokens; the fields marked REQUIRED by the spec are present anyway so
// that generic libraries accept the document.
func openIDConfiguration(issuer string) ([]byte, error) {
	issuer = strings.TrimSuffix(issuer, "/")
	return json.Marshal(map[string]any{
		"issuer":                                issuer,
		"jwks_uri":                              issuer + "/.well-known/jwks.json",
		"token_endpoint":                        issuer + "/v1/auth/token",
		"id_token_signing_alg_values_supported": []string{"EdDSA"},
		"response_types_supported":              []string{"token"},
		"subject_types_supported":               []string{"public"},
		"grant_types_supported":                 []string{"password", "refresh_token", "client_credentials"},
	})
}

func serveStaticJSON(body []byte) runtime.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(body)
	}
}
