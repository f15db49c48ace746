package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

// The codes of the services' token checks become the HTTP answers RFC 6750
// and RFC 6585 describe: a Bearer challenge on 401, a bare 403, and a 429
// that says when to come back.
func TestAuthErrors_MapToHTTPWithHeaders(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RetryAfter = 7 * time.Second })
	bearer := map[string]string{"Authorization": "Bearer not-a-valid-token"}
	tests := []struct {
		name       string
		id         string
		header     map[string]string
		httpStatus int
		code       codes.Code
		challenge  string // WWW-Authenticate; "" means absent
		retryAfter string // Retry-After; "" means absent
	}{
		{"no token", "unauthenticated", nil, 401, codes.Unauthenticated, `Bearer realm="kassa"`, ""},
		{"refused token", "unauthenticated", bearer, 401, codes.Unauthenticated, `Bearer realm="kassa", error="invalid_token"`, ""},
		{"no role", "forbidden", bearer, 403, codes.PermissionDenied, "", ""},
		{"exhausted without hint: the default", "exhausted", nil, 429, codes.ResourceExhausted, "", "7"},
		{"login locked: the service's delay", "locked", nil, 429, codes.ResourceExhausted, "", "42"},
		{"hint of another domain: the default", "locked-other-domain", nil, 429, codes.ResourceExhausted, "", "7"},
		{"RetryInfo rounded up", "retry-info", nil, 429, codes.ResourceExhausted, "", "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, "GET", "/v1/users/"+tt.id, nil, tt.header)
			wantStatus(t, r, tt.httpStatus, tt.code)
			if got := r.header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			if got := r.header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
		})
	}
}

// A refused token is not echoed anywhere the client or the logs see: the
// message is the service's own, and the header stays out of the challenge.
func TestAuthErrors_TokenNotEchoed(t *testing.T) {
	e := newEnv(t)
	const token = "eyJhbGciOiJFZERTQSJ9.c2VjcmV0LWNsYWltcw.c2lnbmF0dXJl"
	r := e.do(t, "GET", "/v1/users/unauthenticated", nil, map[string]string{"Authorization": "Bearer " + token})
	if r.status != http.StatusUnauthorized {
		t.Fatalf("status = %d, body %s", r.status, r.body)
	}
	for where, s := range map[string]string{"body": string(r.body), "WWW-Authenticate": r.header.Get("WWW-Authenticate")} {
		if strings.Contains(s, token) {
			t.Errorf("%s holds the token: %s", where, s)
		}
	}
}
