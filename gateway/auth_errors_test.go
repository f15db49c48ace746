package gateway

import (
	"net/http"
	"slices"
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

// The services verify tokens themselves, so the gateway must pass the
// Authorization header on untouched as "authorization" metadata, and must
// not write it into its access log, on success or refusal.
func TestAuthorization_ForwardedAsMetadata_NeverLogged(t *testing.T) {
	e := newEnv(t)
	const token = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlLWJ5dGVz"
	for _, id := range []string{testUserID, "unauthenticated", "forbidden"} {
		e.do(t, "GET", "/v1/users/"+id, nil, map[string]string{"Authorization": "Bearer " + token})
	}
	e.do(t, "GET", "/v1/users/"+testUserID, nil, nil)
	got := e.rec.get("GetUser.authorization")
	want := []string{"Bearer " + token, "Bearer " + token, "Bearer " + token, ""}
	if !slices.Equal(got, want) {
		t.Errorf("authorization metadata = %q, want %q", got, want)
	}
	lines := e.logs.lines(t)
	if len(lines) < 4 {
		t.Fatalf("%d log lines, want one per request", len(lines))
	}
	for _, part := range strings.Split(token, ".") {
		if e.logs.has(part) {
			t.Errorf("the log holds a part of the token (%s)", part)
		}
	}
}
