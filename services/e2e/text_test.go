package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/paging"
)

// Text that PostgreSQL cannot store (a NUL byte, invalid UTF-8) and page
// tokens it cannot read reached the database before the fix and came back
// as 500. Every string field of every REST route must answer 400 instead,
// name the field and change nothing.

// victim is a user with one paid order and its letter: every route has
// something real to point at, and a refused request that slipped through
// would show in the user's snapshot.
type victim struct {
	owner               *customer
	user, order, letter string
}

// stringField is one string field of a route's request as a client sends
// it: where it goes (path, query or body), its name there, and the request
// field the refusal must name.
type stringField struct {
	in    string // "path", "query" or "body"
	name  string // path parameter, query parameter or body member
	field string // the request field, as the refusal names it
}

// textRoute is one rule of proto/http.yaml with every string field of its
// request a client can set.
type textRoute struct {
	method, pattern string
	params          func(v victim) map[string]string // path parameter values
	body            func(v victim) map[string]any    // a valid body; nil for none
	fields          []stringField
}

func (r textRoute) key() string { return r.method + " " + r.pattern }

// caller is who sends the route's requests: the victim, who may use every
// route but the admin's list of users.
func (r textRoute) caller(t *testing.T, v victim) *customer {
	if r.key() == "GET /v1/users" {
		return admin(t)
	}
	return v.owner
}

func inPath(name, field string) stringField  { return stringField{"path", name, field} }
func inQuery(name, field string) stringField { return stringField{"query", name, field} }
func inBody(name, field string) stringField  { return stringField{"body", name, field} }

func onlyUser(v victim) map[string]string { return map[string]string{"user_id": v.user} }

func newUserBody(victim) map[string]any {
	id := randomID()
	return map[string]any{"username": "text-" + id, "email": "text-" + id + "@example.com", "password": testPassword(id), "firstName": "Ann", "lastName": "Lee", "phone": "+15551234567", "requestId": "text-" + id}
}

func loginBody(victim) map[string]any {
	return map[string]any{"username": "nobody-" + randomID(), "password": "not the password"}
}

func refreshBody(victim) map[string]any {
	return map[string]any{"refreshToken": "not-a-token-" + randomID()}
}

var pageToken = inQuery("pageToken", "page_token")

var textRoutes = []textRoute{
	{method: "POST", pattern: "/v1/users", body: newUserBody, fields: []stringField{
		inBody("username", "user.username"), inBody("email", "user.email"), inBody("firstName", "user.first_name"),
		inBody("lastName", "user.last_name"), inBody("phone", "user.phone"), inBody("id", "user.id"),
		inBody("password", "user.password"), inBody("requestId", "request_id"), inQuery("requestId", "request_id"),
	}},
	{method: "GET", pattern: "/v1/users", fields: []stringField{pageToken}},
	{method: "GET", pattern: "/v1/users/{id}", params: func(v victim) map[string]string { return map[string]string{"id": v.user} },
		fields: []stringField{inPath("id", "id")}},
	{method: "PATCH", pattern: "/v1/users/{user.id}", params: func(v victim) map[string]string { return map[string]string{"user.id": v.user} },
		body: func(victim) map[string]any {
			return map[string]any{"username": "patched-" + randomID(), "email": "patched-" + randomID() + "@example.com", "firstName": "Bob", "lastName": "Roe", "phone": "+15557654321"}
		},
		fields: []stringField{
			inPath("user.id", "user.id"), inBody("username", "user.username"), inBody("email", "user.email"),
			inBody("firstName", "user.first_name"), inBody("lastName", "user.last_name"), inBody("phone", "user.phone"),
			inQuery("updateMask", "update_mask"),
		}},
	{method: "DELETE", pattern: "/v1/users/{id}", params: func(v victim) map[string]string { return map[string]string{"id": v.user} },
		fields: []stringField{inPath("id", "id")}},

	{method: "GET", pattern: "/v1/users/{user_id}/account", params: onlyUser, fields: []stringField{inPath("user_id", "user_id")}},
	{method: "POST", pattern: "/v1/users/{user_id}/account:deposit", params: onlyUser,
		body: func(victim) map[string]any {
			return map[string]any{"amount": "1", "currency": "USD", "requestId": "dep-" + randomID()}
		},
		fields: []stringField{inPath("user_id", "user_id"), inBody("currency", "currency"), inBody("requestId", "request_id")}},
	{method: "POST", pattern: "/v1/users/{user_id}/account:withdraw", params: onlyUser,
		body: func(victim) map[string]any {
			return map[string]any{"amount": "1", "currency": "USD", "requestId": "wd-" + randomID()}
		},
		fields: []stringField{inPath("user_id", "user_id"), inBody("currency", "currency"), inBody("requestId", "request_id"), inBody("orderId", "order_id")}},
	{method: "GET", pattern: "/v1/users/{user_id}/account/transactions", params: onlyUser, fields: []stringField{inPath("user_id", "user_id"), pageToken}},

	{method: "POST", pattern: "/v1/users/{user_id}/orders", params: onlyUser,
		body: func(victim) map[string]any {
			return map[string]any{"price": "1", "currency": "USD", "requestId": "order-" + randomID()}
		},
		fields: []stringField{
			inPath("user_id", "user_id"), inBody("currency", "order.currency"), inBody("requestId", "request_id"), inQuery("requestId", "request_id"),
			inBody("id", "order.id"), inBody("userId", "order.user_id"), inBody("failureReason", "order.failure_reason"),
		}},
	{method: "GET", pattern: "/v1/users/{user_id}/orders", params: onlyUser, fields: []stringField{inPath("user_id", "user_id"), pageToken}},
	{method: "GET", pattern: "/v1/users/{user_id}/orders/{id}", params: func(v victim) map[string]string { return map[string]string{"user_id": v.user, "id": v.order} },
		fields: []stringField{inPath("user_id", "user_id"), inPath("id", "id")}},
	{method: "POST", pattern: "/v1/users/{user_id}/orders/{id}:cancel", params: func(v victim) map[string]string { return map[string]string{"user_id": v.user, "id": v.order} },
		body: func(victim) map[string]any {
			return map[string]any{"reason": "changed my mind", "requestId": "cancel-" + randomID()}
		},
		fields: []stringField{inPath("user_id", "user_id"), inPath("id", "id"), inBody("reason", "reason"), inBody("requestId", "request_id")}},

	{method: "GET", pattern: "/v1/users/{user_id}/notifications", params: onlyUser, fields: []stringField{inPath("user_id", "user_id"), pageToken}},
	{method: "POST", pattern: "/v1/auth/login", body: loginBody, fields: []stringField{inBody("username", "username"), inBody("password", "password")}},
	{method: "POST", pattern: "/v1/auth/refresh", body: refreshBody, fields: []stringField{inBody("refreshToken", "refresh_token")}},
	{method: "POST", pattern: "/v1/auth/logout", body: refreshBody, fields: []stringField{inBody("refreshToken", "refresh_token")}},
	{method: "POST", pattern: "/v1/auth/token",
		body: func(victim) map[string]any {
			return map[string]any{"grantType": "client_credentials", "clientId": "nobody", "clientSecret": "not the secret"}
		},
		fields: []stringField{inBody("grantType", "grant_type"), inBody("clientId", "client_id"), inBody("clientSecret", "client_secret")}},

	{method: "GET", pattern: "/v1/users/{user_id}/notifications/{id}", params: func(v victim) map[string]string { return map[string]string{"user_id": v.user, "id": v.letter} },
		fields: []stringField{inPath("user_id", "user_id"), inPath("id", "id")}},
}

// The table above must follow proto/http.yaml: a new route, or one that
// changed its pattern, is a route whose fields nobody tried.
func TestTextRoutes_CoverEveryHTTPRule(t *testing.T) {
	f, err := os.Open("../../proto/http.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rule := regexp.MustCompile(`^\s*(get|post|patch|put|delete):\s*(\S+)\s*$`)
	var inYAML, inTable []string
	selectors := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(strings.TrimSpace(sc.Text()), "- selector:") {
			selectors++
		}
		if m := rule.FindStringSubmatch(sc.Text()); m != nil {
			inYAML = append(inYAML, strings.ToUpper(m[1])+" "+m[2])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, r := range textRoutes {
		inTable = append(inTable, r.key())
	}
	sort.Strings(inYAML)
	sort.Strings(inTable)
	if len(inYAML) == 0 || len(inYAML) != selectors {
		t.Fatalf("found %d rules for %d selectors in http.yaml, the parser missed some: %v", len(inYAML), selectors, inYAML)
	}
	if !slices.Equal(inYAML, inTable) {
		t.Errorf("http.yaml rules:\n  %s\ntested routes:\n  %s", strings.Join(inYAML, "\n  "), strings.Join(inTable, "\n  "))
	}
}

// request builds a call to r in which the named field holds bad (a valid
// value with something appended where that makes sense) and everything
// else is valid. The body is returned encoded, so bad may hold bytes that
// are not UTF-8.
func (r textRoute) request(t *testing.T, v victim, f stringField, bad string) (target string, body []byte) {
	t.Helper()
	params := map[string]string{}
	if r.params != nil {
		params = r.params(v)
	}
	var members map[string]any
	if r.body != nil {
		members = r.body(v)
	}
	q := url.Values{}
	const marker = "\uE000bad\uE000" // stands for bad in the JSON until it is encoded
	switch f.in {
	case "path":
		params[f.name] += bad
	case "query":
		q.Set(f.name, bad)
		delete(members, f.name) // a key in the body too would be refused for differing
	case "body":
		old, _ := members[f.name].(string)
		members[f.name] = old + marker
	}
	target = r.pattern
	for name, value := range params {
		target = strings.Replace(target, "{"+name+"}", url.PathEscape(value), 1)
	}
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	if members != nil {
		b, err := json.Marshal(members)
		if err != nil {
			t.Fatal(err)
		}
		// json.Marshal escapes a NUL as \u0000, as a client would send it;
		// invalid UTF-8 has no escape and goes in as raw bytes.
		enc, _ := json.Marshal(bad)
		if !strings.ContainsRune(bad, 0) {
			enc = []byte(`"` + bad + `"`)
		}
		body = []byte(strings.Replace(string(b), marker, string(enc[1:len(enc)-1]), 1))
	}
	return target, body
}

func newVictim(t *testing.T) victim {
	t.Helper()
	owner := restFundedUser(t, 1000)
	v := victim{owner: owner, user: owner.id}
	o := ok(t, "victim's order", owner.call(t, "POST", "/v1/users/"+v.user+"/orders", map[string]any{"price": "100", "requestId": "victim"}, nil))
	v.order = str(o, "id")
	letters := where(lettersOf(t, owner), "orderId", v.order)
	if len(letters) != 1 {
		t.Fatalf("victim's letters = %v", letters)
	}
	v.letter = str(letters[0], "id")
	return v
}

func TestEveryStringField_NUL_Answers400NamingFieldAndChangesNothing(t *testing.T) {
	v := newVictim(t)
	for _, r := range textRoutes {
		for _, f := range r.fields {
			t.Run(r.key()+" "+f.in+" "+f.name, func(t *testing.T) {
				before := snapshot(t, v.owner)
				target, body := r.request(t, v, f, "\x00")
				var sent any
				if body != nil {
					sent = body
				}
				a := r.caller(t, v).call(t, r.method, target, sent, nil)
				expect(t, "NUL in "+f.name, a, http.StatusBadRequest, "")
				leaf := f.field[strings.LastIndex(f.field, ".")+1:]
				if !strings.Contains(a.message(), leaf) {
					t.Errorf("message %q does not name %s", a.message(), leaf)
				}
				if fields := a.violatedFields(); len(fields) != 1 || !strings.HasPrefix(fields[0], f.field) {
					t.Errorf("field violations %v, want %s", fields, f.field)
				}
				if after := snapshot(t, v.owner); after != before {
					t.Fatalf("the refused request changed the victim:\n%s", changes(before, after))
				}
				if r.key() == "POST /v1/users" {
					// Nothing was kept under the key or the names: the
					// request without the NUL creates the user.
					ok(t, "the same user without the NUL", call(t, "POST", "/v1/users", withoutNUL(t, body), nil))
				}
			})
		}
	}
}

// withoutNUL returns a JSON body with every escaped NUL taken out, which
// is the request the refused one would have been.
func withoutNUL(t *testing.T, body []byte) []byte {
	t.Helper()
	return []byte(strings.ReplaceAll(string(body), `\u0000`, ""))
}

func TestEveryStringField_InvalidUTF8_Answers400AndChangesNothing(t *testing.T) {
	v := newVictim(t)
	for _, r := range textRoutes {
		for _, f := range r.fields {
			t.Run(r.key()+" "+f.in+" "+f.name, func(t *testing.T) {
				before := snapshot(t, v.owner)
				target, body := r.request(t, v, f, "a\xff\xfeb")
				a := r.caller(t, v).call(t, r.method, target, body, nil)
				expect(t, "invalid UTF-8 in "+f.name, a, http.StatusBadRequest, "")
				if after := snapshot(t, v.owner); after != before {
					t.Fatalf("the refused request changed the victim:\n%s", changes(before, after))
				}
			})
		}
	}
}

// Page tokens are opaque, but a client can decode and re-encode one. The
// paging package reads ids with uuid.Parse, which takes spellings
// PostgreSQL's uuid type refuses: before the fix those were a 500.
func TestListRoutes_PageTokenWithOtherUUIDSpelling_Answers400(t *testing.T) {
	v := newVictim(t)
	const id = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
	spellings := map[string]string{
		"urn":        "urn:uuid:" + id,
		"braces":     "{" + id + "}",
		"upper case": strings.ToUpper(id),
		"bare hex":   strings.ReplaceAll(id, "-", ""),
	}
	for _, r := range textRoutes {
		if !slices.Contains(r.fields, pageToken) {
			continue
		}
		target := r.pattern
		if r.params != nil {
			for name, value := range r.params(v) {
				target = strings.Replace(target, "{"+name+"}", value, 1)
			}
		}
		for name, spelling := range spellings {
			t.Run(r.key()+" "+name, func(t *testing.T) {
				token := paging.Encode(paging.Cursor{Time: time.Now().UTC(), ID: spelling})
				a := r.caller(t, v).call(t, "GET", target+"?pageToken="+token, nil, nil)
				expect(t, "token with id "+spelling, a, http.StatusBadRequest, "")
				if !slices.Contains(a.violatedFields(), "page_token") {
					t.Errorf("field violations %v, want page_token", a.violatedFields())
				}
			})
		}
		// The canonical spelling of the same token is a valid position.
		token := paging.Encode(paging.Cursor{Time: time.Now().UTC(), ID: id})
		ok(t, r.key()+" canonical token", r.caller(t, v).call(t, "GET", target+"?pageToken="+token, nil, nil))
	}
}

// The Idempotency-Key header is a string field too: HTTP lets it carry
// bytes that are not UTF-8, and it lands in request_id.
func TestIdempotencyKeyHeader_InvalidUTF8_Answers400AndChangesNothing(t *testing.T) {
	v := newVictim(t)
	for _, r := range textRoutes {
		keyed := slices.ContainsFunc(r.fields, func(f stringField) bool { return f.field == "request_id" })
		if r.method != "POST" || !keyed {
			continue // the header only fills request_id
		}
		t.Run(r.key(), func(t *testing.T) {
			before := snapshot(t, v.owner)
			target, _ := r.request(t, v, stringField{in: "none"}, "")
			members := r.body(v)
			delete(members, "requestId")
			a := r.caller(t, v).call(t, r.method, target, members, map[string]string{"Idempotency-Key": "key-\xff"})
			expect(t, "invalid UTF-8 in the Idempotency-Key header", a, http.StatusBadRequest, "")
			if !slices.Contains(a.violatedFields(), "request_id") {
				t.Errorf("field violations %v, want request_id", a.violatedFields())
			}
			if after := snapshot(t, v.owner); after != before {
				t.Fatalf("the refused request changed the victim:\n%s", changes(before, after))
			}
		})
	}
}
