package gateway

import (
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

func TestCreateUser_AnswersWithLowerCamelCaseJSON(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "POST", "/v1/users", `{"username":"ada","email":"ada@example.com","firstName":"Ada"}`, nil)
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, body %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	u := r.json(t)
	if u["id"] != testUserID || u["firstName"] != "Ada" || u["email"] != "ada@example.com" {
		t.Errorf("user = %s", r.body)
	}
	if _, ok := u["first_name"]; ok {
		t.Errorf("proto field names leak into JSON: %s", r.body)
	}
	// Unset fields are shown, so clients see the whole shape.
	if v, ok := u["lastName"]; !ok || v != "" {
		t.Errorf("lastName = %v (present %v), want \"\"", v, ok)
	}
}

func TestGetAccount_ShowsZeroBalanceAsString(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "GET", "/v1/users/"+testUserID+"/account", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, body %s", r.status, r.body)
	}
	if !strings.Contains(string(r.body), `"balance":"0"`) {
		t.Errorf("body %s lacks \"balance\":\"0\"", r.body)
	}
	if acc := r.json(t); acc["userId"] != testUserID {
		t.Errorf("userId = %v", acc["userId"])
	}
}

// Every rule of proto/http.yaml reaches its RPC.
func TestRoutes_ReachTheirRPC(t *testing.T) {
	e := newEnv(t)
	u := "/v1/users/" + testUserID
	tests := []struct {
		method, path, body, rpc string
	}{
		{"POST", "/v1/users", `{"username":"ada"}`, "/kassa.user.v1.UserService/CreateUser"},
		{"GET", "/v1/users", "", "/kassa.user.v1.UserService/ListUsers"},
		{"GET", u, "", "/kassa.user.v1.UserService/GetUser"},
		{"PATCH", u, `{"firstName":"Ada"}`, "/kassa.user.v1.UserService/UpdateUser"},
		{"DELETE", u, "", "/kassa.user.v1.UserService/DeleteUser"},
		{"POST", "/v1/auth/login", `{"username":"ada","password":"correct horse"}`, "/kassa.user.v1.AuthService/Login"},
		{"POST", "/v1/auth/refresh", `{"refreshToken":"r"}`, "/kassa.user.v1.AuthService/Refresh"},
		{"POST", "/v1/auth/logout", `{"refreshToken":"r"}`, "/kassa.user.v1.AuthService/Logout"},
		{"POST", "/v1/auth/token", `{"grantType":"client_credentials","clientId":"order","clientSecret":"s"}`, "/kassa.user.v1.AuthService/Token"},
		{"GET", u + "/account", "", "/kassa.billing.v1.BillingService/GetAccount"},
		{"POST", u + "/account:deposit", `{"amount":"100","requestId":"r1"}`, "/kassa.billing.v1.BillingService/Deposit"},
		{"POST", u + "/account:withdraw", `{"amount":"100","requestId":"r2"}`, "/kassa.billing.v1.BillingService/Withdraw"},
		{"GET", u + "/account/transactions?pageSize=10", "", "/kassa.billing.v1.BillingService/ListTransactions"},
		{"POST", u + "/orders", `{"price":"2500"}`, "/kassa.order.v1.OrderService/CreateOrder"},
		{"GET", u + "/orders", "", "/kassa.order.v1.OrderService/ListOrders"},
		{"GET", u + "/orders/o1", "", "/kassa.order.v1.OrderService/GetOrder"},
		{"POST", u + "/orders/o1:cancel", `{"reason":"changed my mind"}`, "/kassa.order.v1.OrderService/CancelOrder"},
		{"GET", u + "/notifications", "", "/kassa.notification.v1.NotificationService/ListNotifications"},
		{"GET", u + "/notifications/n1", "", "/kassa.notification.v1.NotificationService/GetNotification"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var body any
			if tt.body != "" {
				body = tt.body
			}
			r := e.do(t, tt.method, tt.path, body, nil)
			calls := e.rec.get("method")
			if len(calls) == 0 || calls[len(calls)-1] != tt.rpc {
				t.Errorf("last RPC = %v, want %s (HTTP %d %s)", calls, tt.rpc, r.status, r.body)
			}
		})
	}
}

// PATCH without updateMask changes the fields the body names (grpc-gateway
// derives the mask, in proto field names); an explicit mask wins.
func TestUpdateUser_MaskFromBodyOrQuery(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "PATCH", "/v1/users/"+testUserID, `{"firstName":"Ada","phone":"+15551234567"}`, nil)
	if r.status != http.StatusOK || r.json(t)["id"] != testUserID {
		t.Fatalf("status = %d, body %s", r.status, r.body)
	}
	r = e.do(t, "PATCH", "/v1/users/"+testUserID+"?updateMask=last_name", `{"firstName":"Ada","lastName":"L"}`, nil)
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, body %s", r.status, r.body)
	}
	got := e.rec.get("UpdateUser.update_mask")
	if len(got) != 2 || !sameSet(strings.Split(got[0], ","), []string{"first_name", "phone"}) || got[1] != "last_name" {
		t.Errorf("update masks = %q", got)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestIdempotencyKey_BecomesRequestID(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "POST", "/v1/users", `{"username":"ada"}`, map[string]string{"Idempotency-Key": "key-user-1"})
	if r.status != http.StatusOK {
		t.Fatalf("CreateUser status = %d, body %s", r.status, r.body)
	}
	r = e.do(t, "POST", "/v1/users/"+testUserID+"/account:deposit", `{"amount":"100"}`, map[string]string{"Idempotency-Key": "key-dep-1"})
	if r.status != http.StatusOK {
		t.Fatalf("Deposit status = %d, body %s", r.status, r.body)
	}
	// The same key in header and body is no conflict.
	r = e.do(t, "POST", "/v1/users/"+testUserID+"/account:deposit", `{"amount":"100","requestId":"key-dep-2"}`, map[string]string{"Idempotency-Key": "key-dep-2"})
	if r.status != http.StatusOK {
		t.Fatalf("Deposit with equal keys: status = %d, body %s", r.status, r.body)
	}
	// Without the header, the body's requestId goes through untouched.
	r = e.do(t, "POST", "/v1/users/"+testUserID+"/account:deposit", `{"amount":"100","requestId":"body-only"}`, nil)
	if r.status != http.StatusOK {
		t.Fatalf("Deposit without header: status = %d, body %s", r.status, r.body)
	}
	// A cancellation's body is all optional: the header alone is its key.
	r = e.do(t, "POST", "/v1/users/"+testUserID+"/orders/o1:cancel", `{"reason":"changed my mind"}`, map[string]string{"Idempotency-Key": "key-cancel-1"})
	if r.status != http.StatusOK {
		t.Fatalf("CancelOrder status = %d, body %s", r.status, r.body)
	}
	if got := e.rec.get("CancelOrder.request_id"); !slices.Equal(got, []string{"key-cancel-1"}) {
		t.Errorf("CancelOrder request_ids = %q", got)
	}
	if got := e.rec.get("CreateUser.request_id"); !slices.Equal(got, []string{"key-user-1"}) {
		t.Errorf("CreateUser request_ids = %q", got)
	}
	if got := e.rec.get("Deposit.request_id"); !slices.Equal(got, []string{"key-dep-1", "key-dep-2", "body-only"}) {
		t.Errorf("Deposit request_ids = %q", got)
	}
}

func TestIdempotencyKey_Refused(t *testing.T) {
	e := newEnv(t)
	dep := "/v1/users/" + testUserID + "/account:deposit"
	tests := []struct {
		name, path, body, key, wantMsg string
	}{
		{"differs from body requestId", dep, `{"amount":"100","requestId":"other"}`, "key-1", "differ"},
		{"differs from query requestId", "/v1/users?requestId=other", `{"username":"ada"}`, "key-1", "differ"},
		{"longer than 128 characters", dep, `{"amount":"100"}`, strings.Repeat("k", 129), "at most 128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, "POST", tt.path, tt.body, map[string]string{"Idempotency-Key": tt.key})
			m := wantStatus(t, r, http.StatusBadRequest, codes.InvalidArgument)
			if msg, _ := m["message"].(string); !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message = %q, want it to mention %q", msg, tt.wantMsg)
			}
		})
	}
	if got := append(e.rec.get("Deposit.request_id"), e.rec.get("CreateUser.request_id")...); len(got) != 0 {
		t.Errorf("refused requests reached the services with request_ids %q", got)
	}
}

func TestBadRequests_GetStatusJSON(t *testing.T) {
	e := newEnv(t)
	big := `{"username":"` + strings.Repeat("a", 2<<20) + `"}`
	tests := []struct {
		name       string
		method     string
		path       string
		body       any
		httpStatus int
		code       codes.Code
		wantMsg    string
	}{
		{"malformed JSON", "POST", "/v1/users", `{"username":`, 400, codes.InvalidArgument, ""},
		{"unknown JSON field", "POST", "/v1/users", `{"username":"ada","nickname":"x"}`, 400, codes.InvalidArgument, "unknown field"},
		{"wrong JSON type", "POST", "/v1/users/" + testUserID + "/account:deposit", `{"amount":"lots"}`, 400, codes.InvalidArgument, ""},
		{"body over the limit", "POST", "/v1/users", big, 413, codes.InvalidArgument, "request body larger than 1048576 bytes"},
		{"unknown route", "GET", "/v1/nothing", nil, 404, codes.NotFound, ""},
		{"method not allowed", "PUT", "/v1/users", `{}`, 405, codes.Unimplemented, "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, tt.body, nil)
			m := wantStatus(t, r, tt.httpStatus, tt.code)
			if msg, _ := m["message"].(string); !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", msg, tt.wantMsg)
			}
		})
	}
	if got := e.rec.get("CreateUser.request_id"); len(got) != 0 {
		t.Errorf("bad requests reached CreateUser %d times", len(got))
	}
}

func TestBodyOverLimit_Chunked_Gets413(t *testing.T) {
	e := newEnv(t)
	// An io.MultiReader has no known length, so the client sends it chunked
	// and only the limited reader can catch it.
	body := io.MultiReader(strings.NewReader(`{"username":"`), strings.NewReader(strings.Repeat("a", 2<<20)), strings.NewReader(`"}`))
	r := e.do(t, "POST", "/v1/users", body, nil)
	if cl := e.lastContentLength.Load(); cl != -1 {
		t.Fatalf("request had Content-Length %d; the test needs a chunked body", cl)
	}
	m := wantStatus(t, r, http.StatusRequestEntityTooLarge, codes.InvalidArgument)
	if m["message"] != "request body larger than 1048576 bytes" {
		t.Errorf("message = %q", m["message"])
	}
	if got := e.rec.get("CreateUser.request_id"); len(got) != 0 {
		t.Errorf("oversized request reached CreateUser")
	}
}

func TestBodyLimit_IsConfigurable(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 64 })
	r := e.do(t, "POST", "/v1/users", `{"username":"ada"}`, nil)
	if r.status != http.StatusOK {
		t.Fatalf("small body: status = %d, body %s", r.status, r.body)
	}
	r = e.do(t, "POST", "/v1/users", `{"username":"`+strings.Repeat("a", 64)+`"}`, nil)
	wantStatus(t, r, http.StatusRequestEntityTooLarge, codes.InvalidArgument)
}

func TestUpstreamErrors_MapToHTTPStatus(t *testing.T) {
	e := newEnv(t)
	u := "/v1/users/" + testUserID
	tests := []struct {
		name, method, path string
		body               any
		httpStatus         int
		code               codes.Code
	}{
		{"NOT_FOUND", "GET", "/v1/users/missing", nil, 404, codes.NotFound},
		{"ALREADY_EXISTS", "POST", "/v1/users", `{"username":"taken"}`, 409, codes.AlreadyExists},
		{"FAILED_PRECONDITION", "POST", u + "/account:withdraw", `{"amount":"100","requestId":"w1"}`, 400, codes.FailedPrecondition},
		{"UNIMPLEMENTED", "GET", u + "/orders", nil, 501, codes.Unimplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantStatus(t, e.do(t, tt.method, tt.path, tt.body, nil), tt.httpStatus, tt.code)
		})
	}
}

func TestUpstreamErrorDetails_AreForwarded(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "POST", "/v1/users/"+testUserID+"/account:withdraw", `{"amount":"100","requestId":"w1"}`, nil)
	m := wantStatus(t, r, http.StatusBadRequest, codes.FailedPrecondition)
	details, _ := m["details"].([]any)
	if len(details) != 1 {
		t.Fatalf("details = %v", m["details"])
	}
	d, _ := details[0].(map[string]any)
	if d["@type"] != "type.googleapis.com/google.rpc.ErrorInfo" || d["reason"] != "INSUFFICIENT_FUNDS" {
		t.Errorf("detail = %v", d)
	}
}

func TestUpstreamStalled_Gets504AfterCallTimeout(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CallTimeout = 100 * time.Millisecond })
	start := time.Now()
	r := e.do(t, "GET", "/v1/users/stall", nil, nil)
	m := wantStatus(t, r, http.StatusGatewayTimeout, codes.DeadlineExceeded)
	if m["message"] != "the user service did not answer in time, retry later" {
		t.Errorf("message = %q, want the gateway's own", m["message"])
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v with a 100ms call timeout", d)
	}
}

func TestUpstreamUnreachable_Gets503WithoutInternalAddress(t *testing.T) {
	addr := closedAddr(t)
	e := newEnv(t, func(c *Config) { c.UserAddr = addr })
	r := e.do(t, "GET", "/v1/users/"+testUserID, nil, nil)
	want503(t, r, "user")
	if strings.Contains(string(r.body), addr) {
		t.Errorf("body %s names the address", r.body)
	}
}

// closedAddr returns an address nothing listens on: a Unix socket path in
// an empty folder. (A freed TCP port could be taken again at once by a
// server of another test running in parallel.)
func closedAddr(t *testing.T) string {
	t.Helper()
	return "unix://" + filepath.Join(t.TempDir(), "nobody.sock")
}

// The kassa.dev ErrorInfo reason decides the HTTP status where the gRPC
// code alone cannot; other errors keep grpc-gateway's mapping.
func TestErrorReason_DecidesHTTPStatus(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		username   string
		httpStatus int
		code       codes.Code
		reason     string
	}{
		{"reused", http.StatusUnprocessableEntity, codes.AlreadyExists, "REQUEST_ID_REUSED"},
		{"in-use", http.StatusConflict, codes.Unavailable, "IDEMPOTENCY_KEY_IN_USE"},
		{"exceeds", http.StatusConflict, codes.FailedPrecondition, "REFUND_EXCEEDS_REMAINING"},
		{"foreign-reason", http.StatusConflict, codes.AlreadyExists, "REQUEST_ID_REUSED"}, // not kassa.dev: by code
		{"taken", http.StatusConflict, codes.AlreadyExists, ""},
	}
	for _, tt := range tests {
		t.Run(tt.username, func(t *testing.T) {
			r := e.do(t, "POST", "/v1/users", `{"username":"`+tt.username+`","requestId":"k"}`, nil)
			m := wantStatus(t, r, tt.httpStatus, tt.code)
			var reason any
			if d := asSlice(m["details"]); len(d) > 0 {
				reason = d[0].(map[string]any)["reason"]
			}
			if tt.reason != "" && reason != tt.reason {
				t.Errorf("details = %v, want the ErrorInfo %s passed through", m["details"], tt.reason)
			}
		})
	}
}
