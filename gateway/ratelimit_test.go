package gateway

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

// testClock is the rate limiters' time, moved by the test.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// serveFrom sends a request straight to the gateway as if from addr.
func (e *testEnv) serveFrom(t *testing.T, addr, method, path, body string, header map[string]string) response {
	t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	req := httptest.NewRequest(method, path, rd)
	req.RemoteAddr = addr
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, req)
	return response{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
}

// wantRateLimited fails unless r is the gateway's 429 with the wait.
func wantRateLimited(t *testing.T, r response, retryAfter string) {
	t.Helper()
	m := wantStatus(t, r, http.StatusTooManyRequests, codes.ResourceExhausted)
	if got := r.header.Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After = %q, want %q", got, retryAfter)
	}
	d, _ := asSlice(m["details"])[0].(map[string]any)
	if d["@type"] != "type.googleapis.com/google.rpc.ErrorInfo" || d["reason"] != "RATE_LIMITED" || d["domain"] != "kassa.dev" {
		t.Errorf("details = %v, want ErrorInfo RATE_LIMITED", m["details"])
	}
}

func jwtWithSub(sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"EdDSA","kid":"k1"}`)) + "." + enc([]byte(`{"sub":"`+sub+`"}`)) + "." + enc([]byte("sig"))
}

func TestRateLimit_PerAddress_RefusesOverBurst_OthersUnaffected_PassesAfterRefill(t *testing.T) {
	clk := newTestClock()
	e := newEnv(t, func(c *Config) { c.RateAddress = RateLimit{PerSecond: 0.5, Burst: 3}; c.Clock = clk.now })
	path := "/v1/users/" + testUserID
	for i := range 3 {
		if r := e.serveFrom(t, "192.0.2.1:4000", "GET", path, "", nil); r.status != http.StatusOK {
			t.Fatalf("request %d: status %d, body %s", i+1, r.status, r.body)
		}
	}
	calls := len(e.rec.get("method"))
	wantRateLimited(t, e.serveFrom(t, "192.0.2.1:4001", "GET", path, "", nil), "2")
	if got := len(e.rec.get("method")); got != calls {
		t.Errorf("a refused request reached a service (%d calls, want %d)", got, calls)
	}
	if !e.logs.has(`"status":429`) {
		t.Error("the refused request is not in the access log")
	}
	if r := e.serveFrom(t, "192.0.2.2:4000", "GET", path, "", nil); r.status != http.StatusOK {
		t.Errorf("another address: status %d, body %s", r.status, r.body)
	}
	// A refused request takes no token: after one refill interval exactly
	// one request passes again.
	clk.advance(2 * time.Second)
	if r := e.serveFrom(t, "192.0.2.1:4000", "GET", path, "", nil); r.status != http.StatusOK {
		t.Errorf("after the refill: status %d, body %s", r.status, r.body)
	}
	wantRateLimited(t, e.serveFrom(t, "192.0.2.1:4000", "GET", path, "", nil), "2")
	// Probes are never limited.
	if r := e.serveFrom(t, "192.0.2.1:4000", "GET", "/healthz", "", nil); r.status != http.StatusOK {
		t.Errorf("/healthz: status %d", r.status)
	}
}

func TestRateLimit_AuthRoutes_StricterPerAddress(t *testing.T) {
	clk := newTestClock()
	e := newEnv(t, func(c *Config) {
		c.RateAddress = RateLimit{PerSecond: 100, Burst: 100}
		c.RateAuthAddress = RateLimit{PerSecond: 1, Burst: 2}
		c.Clock = clk.now
	})
	login := `{"username":"ada","password":"wrong password"}`
	for i := range 2 {
		if r := e.serveFrom(t, "192.0.2.1:1", "POST", "/v1/auth/login", login, nil); r.status == http.StatusTooManyRequests {
			t.Fatalf("login %d refused: %s", i+1, r.body)
		}
	}
	wantRateLimited(t, e.serveFrom(t, "192.0.2.1:1", "POST", "/v1/auth/token", `{}`, nil), "1")
	if r := e.serveFrom(t, "192.0.2.1:1", "GET", "/v1/users/"+testUserID, "", nil); r.status != http.StatusOK {
		t.Errorf("other routes of that address: status %d, body %s", r.status, r.body)
	}
	if r := e.serveFrom(t, "192.0.2.9:1", "POST", "/v1/auth/login", login, nil); r.status == http.StatusTooManyRequests {
		t.Errorf("another address refused: %s", r.body)
	}
}

func TestRateLimit_PerUser_AcrossAddresses_BadTokenFallsBackToAddress(t *testing.T) {
	clk := newTestClock()
	e := newEnv(t, func(c *Config) {
		c.RateUser = RateLimit{PerSecond: 1, Burst: 2}
		c.RateAddress = RateLimit{PerSecond: 1, Burst: 4}
		c.Clock = clk.now
	})
	path := "/v1/users/" + testUserID
	ada := map[string]string{"Authorization": "Bearer " + jwtWithSub("ada")}
	for i, addr := range []string{"192.0.2.1:1", "192.0.2.2:1"} {
		if r := e.serveFrom(t, addr, "GET", path, "", ada); r.status != http.StatusOK {
			t.Fatalf("request %d: status %d, body %s", i+1, r.status, r.body)
		}
	}
	wantRateLimited(t, e.serveFrom(t, "192.0.2.3:1", "GET", path, "", ada), "1")
	bob := map[string]string{"Authorization": "Bearer " + jwtWithSub("bob")}
	if r := e.serveFrom(t, "192.0.2.3:1", "GET", path, "", bob); r.status != http.StatusOK {
		t.Errorf("another user: status %d, body %s", r.status, r.body)
	}
	// A token without a readable sub counts against its address only: it
	// neither escapes the address limit nor spends anybody's user budget.
	for _, bad := range []string{"not-a-jwt", "a.%%%.c", "a." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":""}`)) + ".c"} {
		h := map[string]string{"Authorization": "Bearer " + bad}
		if r := e.serveFrom(t, "192.0.2.4:1", "GET", path, "", h); r.status != http.StatusOK {
			t.Errorf("token %q: status %d, body %s", bad, r.status, r.body)
		}
	}
	e.serveFrom(t, "192.0.2.4:1", "GET", path, "", nil)
	wantRateLimited(t, e.serveFrom(t, "192.0.2.4:1", "GET", path, "", map[string]string{"Authorization": "Bearer junk"}), "1")
}

// The defaults let through what the benchmark and the e2e suite send: a
// burst of a thousand requests from one address, and hundreds with one
// user's token (40 concurrent orders, each a few calls).
func TestRateLimit_Defaults_LetTheBenchmarkThrough(t *testing.T) {
	clk := newTestClock()
	e := newEnv(t, func(c *Config) {
		c.RateAddress, c.RateUser, c.RateAuthAddress = DefaultRateAddress, DefaultRateUser, DefaultRateAuthAddress
		c.Clock = clk.now
	})
	ada := map[string]string{"Authorization": "Bearer " + jwtWithSub("ada")}
	for i := range DefaultRateAddress.Burst {
		h := map[string]string(nil)
		if i < DefaultRateUser.Burst {
			h = ada
		}
		// An unknown path is limited like any other and costs no upstream call.
		if r := e.serveFrom(t, "192.0.2.1:1", "GET", "/v1/nothing", "", h); r.status == http.StatusTooManyRequests {
			t.Fatalf("request %d refused", i+1)
		}
	}
	wantRateLimited(t, e.serveFrom(t, "192.0.2.1:1", "GET", "/v1/nothing", "", nil), "1")
}

func TestClientAddress(t *testing.T) {
	l := &limiters{trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}
	tests := []struct {
		name, remote, xff, want string
	}{
		{"direct client", "192.0.2.1:5000", "", "192.0.2.1"},
		{"untrusted peer: X-Forwarded-For ignored", "192.0.2.1:5000", "198.51.100.7", "192.0.2.1"},
		{"trusted proxy", "10.1.2.3:5000", "198.51.100.7", "198.51.100.7"},
		{"trusted proxy, client-written hops on the left", "10.1.2.3:5000", "203.0.113.9, 198.51.100.7", "198.51.100.7"},
		{"two trusted proxies", "10.1.2.3:5000", "198.51.100.7, 10.9.9.9", "198.51.100.7"},
		{"trusted proxy without header", "10.1.2.3:5000", "", "10.1.2.3"},
		{"malformed hop: stop there", "10.1.2.3:5000", "198.51.100.7, bogus", "10.1.2.3"},
		{"IPv6 keyed by /64", "[2001:db8:1:2:3:4:5:6]:443", "", "2001:db8:1:2::/64"},
		{"IPv4-mapped IPv6 is IPv4", "[::ffff:192.0.2.1]:443", "", "192.0.2.1"},
		{"trusted IPv6 proxy", "[fd00::1]:443", "192.0.2.5", "192.0.2.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := l.clientAddress(r); got != tt.want {
				t.Errorf("clientAddress = %q, want %q", got, tt.want)
			}
		})
	}
}

// Buckets of keys that went quiet are dropped, so the tables stay as
// large as the set of recent clients, not of all clients ever seen; a
// dropped bucket had refilled, so dropping it lets nobody through early.
func TestBucketTable_IdleBucketsEvicted(t *testing.T) {
	tbl := newBucketTable(RateLimit{PerSecond: 1, Burst: 2}, time.Minute)
	t0 := newTestClock().now()
	for i := range 100 {
		tbl.reserve(fmt.Sprint("client-", i), t0)
	}
	if n := tbl.size(); n != 100 {
		t.Fatalf("size = %d, want 100", n)
	}
	tbl.reserve("client-0", t0.Add(30*time.Second))
	tbl.reserve("late", t0.Add(time.Minute))
	if n := tbl.size(); n != 2 {
		t.Errorf("after a minute: size = %d, want 2 (the one used within the minute and the new one)", n)
	}
	// The idle period is never shorter than a full refill.
	slow := newBucketTable(RateLimit{PerSecond: 0.01, Burst: 3}, time.Minute)
	if want := 300 * time.Second; slow.idle != want {
		t.Errorf("idle = %v, want %v", slow.idle, want)
	}
}

// A client over its address limit is refused before its token is looked
// at: flooding the gateway with tokens costs it no signature checks.
func TestRateLimit_OverAddressLimit_TokenNotVerified(t *testing.T) {
	clk := newTestClock()
	var verified int
	e := newEnv(t, func(c *Config) {
		c.RateAddress = RateLimit{PerSecond: 1, Burst: 1}
		c.Clock = clk.now
		c.Subject = func(_ context.Context, tok string) (string, bool) { verified++; return "ada", true }
	})
	path := "/v1/users/" + testUserID
	h := map[string]string{"Authorization": "Bearer " + jwtWithSub("ada")}
	if r := e.serveFrom(t, "192.0.2.9:1", "GET", path, "", h); r.status != http.StatusOK {
		t.Fatalf("first request: status %d, body %s", r.status, r.body)
	}
	for range 5 {
		wantRateLimited(t, e.serveFrom(t, "192.0.2.9:1", "GET", path, "", h), "1")
	}
	if verified != 1 {
		t.Errorf("token verified %d times, want once (for the request within the limit)", verified)
	}
}
