package gateway

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
)

// A body that is not labelled JSON is refused with 415, the Accept-Post or
// Accept-Patch header naming application/json, and reaches no service.
func TestRequestBody_NotJSON_Gets415(t *testing.T) {
	e := newEnv(t)
	users := "/v1/users"
	user := "/v1/users/" + testUserID
	deposit := user + "/account:deposit"
	body := `{"username":"ada"}`
	tests := []struct {
		name, method, path string
		body               any
		header             map[string]string // "Content-Type": "" removes the one do sets
		wantMsg            string
	}{
		{"plain text", "POST", users, body, map[string]string{"Content-Type": "text/plain"}, "Content-Type text/plain is not supported"},
		{"form data", "POST", users, "username=ada", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "application/x-www-form-urlencoded"},
		{"multipart", "POST", deposit, "--x\r\n\r\n--x--", map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, "multipart/form-data"},
		{"JSON body, no Content-Type", "POST", users, body, map[string]string{"Content-Type": ""}, "needs Content-Type: application/json"},
		{"chunked body, no Content-Type", "POST", users, io.MultiReader(strings.NewReader(body)), map[string]string{"Content-Type": ""}, "needs Content-Type"},
		{"another JSON flavour", "POST", users, body, map[string]string{"Content-Type": "application/merge-patch+json"}, "application/merge-patch+json"},
		{"charset not utf-8", "POST", users, body, map[string]string{"Content-Type": "application/json; charset=iso-8859-1"}, `charset "iso-8859-1"`},
		{"malformed Content-Type", "POST", users, body, map[string]string{"Content-Type": "application/json; ;"}, "malformed"},
		{"compressed", "POST", users, body, map[string]string{"Content-Encoding": "gzip"}, `Content-Encoding "gzip"`},
		{"PATCH as text", "PATCH", user, `{"firstName":"Ada"}`, map[string]string{"Content-Type": "text/plain"}, "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, tt.body, tt.header)
			m := wantStatus(t, r, http.StatusUnsupportedMediaType, codes.InvalidArgument)
			if msg, _ := m["message"].(string); !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", msg, tt.wantMsg)
			}
			accept, other := "Accept-Post", "Accept-Patch"
			if tt.method == "PATCH" {
				accept, other = other, accept
			}
			if got := r.header.Get(accept); got != "application/json" {
				t.Errorf("%s = %q, want application/json", accept, got)
			}
			if got := r.header.Get(other); got != "" {
				t.Errorf("%s = %q, want none on a %s", other, got, tt.method)
			}
			if got, want := r.header.Get("Accept-Encoding"), map[bool]string{true: "identity"}[tt.header["Content-Encoding"] != ""]; got != want {
				t.Errorf("Accept-Encoding = %q, want %q", got, want)
			}
			if r.header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
		})
	}
	if calls := e.rec.get("method"); len(calls) != 0 {
		t.Errorf("refused bodies reached %v", calls)
	}
}

// JSON with or without parameters passes, and so does a request without a
// body and without Content-Type: it is the empty message, for the service
// to judge.
func TestRequestBody_JSON_Accepted(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, method, path string
		body               any
		header             map[string]string
		rpc                string
	}{
		{"application/json", "POST", "/v1/users", `{"username":"ada"}`, nil, "/kassa.user.v1.UserService/CreateUser"},
		{"with charset", "POST", "/v1/users", `{"username":"ada"}`, map[string]string{"Content-Type": "application/json; charset=utf-8"}, "/kassa.user.v1.UserService/CreateUser"},
		{"upper case", "POST", "/v1/users", `{"username":"ada"}`, map[string]string{"Content-Type": "Application/JSON;Charset=UTF-8"}, "/kassa.user.v1.UserService/CreateUser"},
		{"identity coding", "PATCH", "/v1/users/" + testUserID, `{"firstName":"Ada"}`, map[string]string{"Content-Encoding": "identity"}, "/kassa.user.v1.UserService/UpdateUser"},
		{"no body, no type", "POST", "/v1/auth/logout", nil, nil, "/kassa.user.v1.AuthService/Logout"},
		// A read's body is never read, so its type does not matter.
		{"GET with a text body", "GET", "/v1/users/" + testUserID, "x", map[string]string{"Content-Type": "text/plain"}, "/kassa.user.v1.UserService/GetUser"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, tt.body, tt.header)
			if r.status == http.StatusUnsupportedMediaType {
				t.Fatalf("status 415: %s", r.body)
			}
			calls := e.rec.get("method")
			if len(calls) == 0 || calls[len(calls)-1] != tt.rpc {
				t.Errorf("last RPC = %v, want %s (HTTP %d %s)", calls, tt.rpc, r.status, r.body)
			}
		})
	}
}

// The checks run in a fixed order, so one request with several faults
// gets a predictable answer: the rate limit, then the declared size, then
// the route (404, 405), then the media type.
func TestRequestBody_OrderOfChecks(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 16 })
	text := map[string]string{"Content-Type": "text/plain"}
	big := strings.Repeat("a", 64)
	for _, tt := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"too large beats 415", "POST", "/v1/users", big, http.StatusRequestEntityTooLarge},
		{"unknown path beats 415", "POST", "/v1/nothing", "x", http.StatusNotFound},
		{"wrong method beats 415", "PUT", "/v1/users", "x", http.StatusMethodNotAllowed},
		{"415 before the body is read", "POST", "/v1/users/" + testUserID + "/orders", "x", http.StatusUnsupportedMediaType},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if r := e.do(t, tt.method, tt.path, tt.body, text); r.status != tt.want {
				t.Errorf("status %d, want %d; body %s", r.status, tt.want, r.body)
			}
		})
	}
}
