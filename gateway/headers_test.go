package gateway

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The fake user service sets a header and a trailer on every GetUser, and
// gRPC itself sends content-type: none of it reaches the HTTP client, on a
// success or an error, even when the client says it takes trailers.
func TestResponse_NoGRPCMetadataHeaders(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		name, path string
		status     int
	}{
		{"success", "/v1/users/" + testUserID, http.StatusOK},
		{"error", "/v1/users/missing", http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", e.url+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("TE", "trailers")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body) // trailers arrive after the body
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			for _, h := range []http.Header{resp.Header, resp.Trailer} {
				for k := range h {
					if k = strings.ToLower(k); strings.HasPrefix(k, "grpc-") || strings.HasPrefix(k, "x-fake") || k == "trailer" {
						t.Errorf("response carries %s: %q", k, h.Values(k))
					}
				}
			}
		})
	}
	if got := e.rec.get("GetUser.x-request-id"); len(got) != 2 {
		t.Fatalf("GetUser was called %d times, want 2: the test needs its metadata", len(got))
	}
}

// Every answer carries X-Request-Id: the client's when it sent a valid
// one, else a new one; whether a service, the router, the body checks or
// the rate limit made the answer.
func TestRequestID_OnEveryAnswer(t *testing.T) {
	clk := newTestClock()
	e := newEnv(t, func(c *Config) {
		c.MaxBodyBytes = 64
		c.RateAuthAddress = RateLimit{PerSecond: 0.001, Burst: 1}
		c.Clock = clk.now
	})
	user := "/v1/users/" + testUserID
	text := map[string]string{"Content-Type": "text/plain"}
	tests := []struct {
		name, method, path string
		body               string
		chunked            bool // sent without Content-Length
		header             map[string]string
		status             int
	}{
		{"success", "GET", user, "", false, nil, http.StatusOK},
		{"service error", "GET", "/v1/users/missing", "", false, nil, http.StatusNotFound},
		{"service unavailable", "GET", "/v1/users/raw-unavailable", "", false, nil, http.StatusServiceUnavailable},
		{"unmatched route", "GET", "/v1/nothing", "", false, nil, http.StatusNotFound},
		{"wrong method", "PUT", "/v1/users", `{}`, false, nil, http.StatusMethodNotAllowed},
		{"HEAD", "HEAD", user, "", false, nil, http.StatusOK},
		{"bad Idempotency-Key", "POST", user + "/account:deposit", `{}`, false, map[string]string{"Idempotency-Key": strings.Repeat("k", 129)}, http.StatusBadRequest},
		{"too large", "POST", "/v1/users", strings.Repeat("a", 65), false, nil, http.StatusRequestEntityTooLarge},
		{"too large, chunked", "POST", "/v1/users", `{"username":"` + strings.Repeat("a", 100) + `"}`, true, nil, http.StatusRequestEntityTooLarge},
		{"not JSON", "POST", "/v1/users", "x", false, text, http.StatusUnsupportedMediaType},
		{"first login", "POST", "/v1/auth/login", `{}`, false, nil, http.StatusNotImplemented},
		{"rate limited", "POST", "/v1/auth/login", `{}`, false, nil, http.StatusTooManyRequests},
		{"own route", "GET", "/healthz", "", false, nil, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each case twice where the limit allows: with the client's id
			// and without one. The rate-limited case is sent once, with.
			ids := []string{"client-" + strings.ReplaceAll(tt.name, " ", "-"), ""}
			if tt.path == "/v1/auth/login" {
				ids = ids[:1]
			}
			for _, id := range ids {
				h := map[string]string{"X-Request-Id": id}
				for k, v := range tt.header {
					h[k] = v
				}
				if id == "" {
					delete(h, "X-Request-Id")
				}
				var body any
				switch {
				case tt.chunked:
					body = io.MultiReader(strings.NewReader(tt.body))
				case tt.body != "":
					body = tt.body
				}
				r := e.do(t, tt.method, tt.path, body, h)
				if r.status != tt.status {
					t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
				}
				got := r.header.Get("X-Request-Id")
				switch {
				case id != "" && got != id:
					t.Errorf("X-Request-Id = %q, want the client's %q", got, id)
				case id == "" && len(got) != 26:
					t.Errorf("X-Request-Id = %q, want a generated one", got)
				}
			}
		})
	}
}
