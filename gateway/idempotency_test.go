package gateway

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/gen/openapi"
	"google.golang.org/grpc/codes"
)

// A requestId in the body reaches the call's request_id on every route
// whose request has one, whether the body is the whole request (deposit,
// withdraw) or one field of it (user, order).
func TestBodyRequestID_ReachesRequestIDOnEveryKeyedRoute(t *testing.T) {
	u := "/v1/users/" + testUserID
	tests := []struct {
		name, path, body, recKey string
	}{
		{"CreateUser", "/v1/users", `{"username":"ada","requestId":"k-user"}`, "CreateUser.request_id"},
		{"CreateUser snake_case", "/v1/users", `{"request_id":"k-user","username":"ada"}`, "CreateUser.request_id"},
		{"Deposit", u + "/account:deposit", `{"amount":"100","requestId":"k-user"}`, "Deposit.request_id"},
		{"Withdraw", u + "/account:withdraw", `{"amount":"100","requestId":"k-user"}`, "Withdraw.request_id"},
		{"CreateOrder", u + "/orders", `{"price":"100","requestId":"k-user"}`, "CreateOrder.request_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.do(t, "POST", tt.path, tt.body, nil)
			if tt.name != "Withdraw" && r.status != http.StatusOK { // the fake refuses every withdrawal
				t.Fatalf("status = %d, body %s", r.status, r.body)
			}
			if got := e.rec.get(tt.recKey); !slices.Equal(got, []string{"k-user"}) {
				t.Errorf("%s = %q, want [k-user]", tt.recKey, got)
			}
		})
	}
}

// The reproduction of issue 12: with `body: order` a body requestId used
// to land in the output-only Order.request_id, so every retry got a fresh
// server key and became a second order.
func TestCreateOrder_BodyRequestIDSentTwice_SameRequestIDBothTimes(t *testing.T) {
	e := newEnv(t)
	path := "/v1/users/" + testUserID + "/orders"
	for range 2 {
		r := e.do(t, "POST", path, `{"price":"100","requestId":"k1"}`, nil)
		if r.status != http.StatusOK {
			t.Fatalf("status = %d, body %s", r.status, r.body)
		}
	}
	if got := e.rec.get("CreateOrder.request_id"); !slices.Equal(got, []string{"k1", "k1"}) {
		t.Errorf("CreateOrderRequest.request_id = %q, want [k1 k1]", got)
	}
	if got := e.rec.get("CreateOrder.order.request_id"); !slices.Equal(got, []string{"", ""}) {
		t.Errorf("Order.request_id = %q, want it empty (output only)", got)
	}
}

// Header and body may both carry the key if it is the same key.
func TestIdempotencyKey_HeaderAndBodyEqual_Accepted(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "POST", "/v1/users/"+testUserID+"/orders", `{"price":"100","requestId":"k2"}`, map[string]string{"Idempotency-Key": "k2"})
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, body %s", r.status, r.body)
	}
	if got := e.rec.get("CreateOrder.request_id"); !slices.Equal(got, []string{"k2"}) {
		t.Errorf("request_id = %q, want [k2]", got)
	}
}

// Refused bodies get 400 and reach no service.
func TestBodyRequestID_Refused_NothingCalled(t *testing.T) {
	u := "/v1/users/" + testUserID
	tests := []struct {
		name, path, body, header, wantMsg string
	}{
		{"header differs, order", u + "/orders", `{"price":"100","requestId":"body-key"}`, "header-key", "the Idempotency-Key header and the body's requestId differ"},
		{"header differs, user", "/v1/users", `{"username":"ada","requestId":"body-key"}`, "header-key", "differ"},
		{"header differs, deposit", u + "/account:deposit", `{"amount":"1","requestId":"body-key"}`, "header-key", "differ"},
		{"body differs from query", u + "/orders?requestId=query-key", `{"price":"100","requestId":"body-key"}`, "", "differ"},
		{"number", u + "/orders", `{"price":"100","requestId":42}`, "", "requestId in the body must be a string"},
		{"object", "/v1/users", `{"username":"ada","requestId":{"k":1}}`, "", "must be a string"},
		{"invalid UTF-8", u + "/orders", "{\"price\":\"100\",\"requestId\":\"a\xffb\"}", "", "must be UTF-8 text"},
		{"given twice", u + "/orders", `{"requestId":"a","price":"100","request_id":"a"}`, "", "more than once"},
		{"malformed JSON is the decoder's", u + "/orders", `{"price":"100","requestId":"k"`, "", "unexpected EOF"},
		{"unknown field still refused", "/v1/users", `{"username":"ada","requestId":"k","nickname":"x"}`, "", `unknown field "nickname"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			var h map[string]string
			if tt.header != "" {
				h = map[string]string{"Idempotency-Key": tt.header}
			}
			m := wantStatus(t, e.do(t, "POST", tt.path, tt.body, h), http.StatusBadRequest, codes.InvalidArgument)
			if msg, _ := m["message"].(string); !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", msg, tt.wantMsg)
			}
			if calls := e.rec.get("method"); len(calls) != 0 {
				t.Errorf("refused request reached %q", calls)
			}
		})
	}
}

func TestCutRequestID(t *testing.T) {
	tests := []struct {
		name, in, want, key string
	}{
		{"first member", `{"requestId":"k","price":"1"}`, `{"price":"1"}`, "k"},
		{"last member", `{"price":"1", "requestId":"k"}`, `{"price":"1"}`, "k"},
		{"middle, spaces kept inside values", "{ \"a\" : \"x y\" ,\n \"request_id\" : \"k\" , \"b\":[1, 2]}", `{"a" : "x y","b":[1, 2]}`, "k"},
		{"only member", `{"requestId":"k"}`, `{}`, "k"},
		{"null is absent", `{"price":"1","requestId":null}`, `{"price":"1"}`, ""},
		{"nested requestId stays", `{"meta":{"requestId":"n"},"price":"1"}`, `{"meta":{"requestId":"n"},"price":"1"}`, ""},
		{"escaped key", `{"price":"1","requestId":"a\"b"}`, `{"price":"1"}`, `a"b`},
		{"trailing bytes kept", `{"requestId":"k","price":"1"} junk`, `{"price":"1"} junk`, "k"},
		{"no member", `{"price":"1"}`, `{"price":"1"}`, ""},
		{"not an object", `["requestId"]`, `["requestId"]`, ""},
		{"malformed", `{"requestId":"k",}`, `{"requestId":"k",}`, ""},
		{"empty", ``, ``, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rest, key, err := cutRequestID([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(rest) != tt.want || key != tt.key {
				t.Errorf("cutRequestID(%q) = %q, %q; want %q, %q", tt.in, rest, key, tt.want, tt.key)
			}
		})
	}
}

// keyBesideBody must name exactly the routes whose request has a
// requestId outside the body: in the OpenAPI document generated from
// http.yaml these are the operations with both a body and a requestId
// query parameter.
func TestKeyBesideBody_MatchesOpenAPI(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters  []struct{ Name, In string } `json:"parameters"`
			RequestBody json.RawMessage             `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openapi.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	var want []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			body, key := op.RequestBody != nil, false
			for _, p := range op.Parameters {
				key = key || (p.In == "query" && p.Name == "requestId")
			}
			if body && key {
				want = append(want, strings.ToUpper(method)+" "+strings.ReplaceAll(path, "{userId}", "{user_id}"))
			}
		}
	}
	var got []string
	for route := range keyBesideBody {
		got = append(got, route)
	}
	slices.Sort(want)
	slices.Sort(got)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("keyBesideBody = %q, OpenAPI says %q", got, want)
	}
}
