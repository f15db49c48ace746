package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/gen/openapi"
	"google.golang.org/grpc/codes"
)

// everyMethod is what the tests send to each path: the methods of
// probedMethods, HEAD, and one no route will ever have.
var everyMethod = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}

// ruleRE matches the verb and path of an HTTP rule in proto/http.yaml.
var ruleRE = regexp.MustCompile(`(?m)^\s+(get|post|patch|delete|put): (\S+)$`)

// templateParamRE matches a path parameter of a template, in http.yaml
// ({user_id}, {user.id}) or OpenAPI ({userId}) spelling.
var templateParamRE = regexp.MustCompile(`\{[^}]+\}`)

// concrete fills every parameter of a path template with one id, so the
// templates that differ only in parameter names (/v1/users/{id} and
// /v1/users/{user.id}) become the same path, as the mux sees them.
func concrete(template string) string {
	return templateParamRE.ReplaceAllString(template, testUserID)
}

// methodsByPath groups "verb template" pairs by their concrete path, with
// HEAD wherever GET is (the gateway answers HEAD as GET).
//
// A path with a custom verb (/orders/{id}:cancel) is also routed by every
// verb-less template ending in a parameter at its place (/orders/{id}):
// the mux takes the whole last segment, verb included, as that
// parameter's value when the verb is not the template's (so GET of it is
// GetOrder of the id "x:cancel", which the service refuses as malformed).
func methodsByPath(pairs [][2]string) map[string][]string {
	out := make(map[string][]string)
	endsInParam := make(map[string]bool) // concrete paths of templates ending in a parameter
	add := func(path, m string) {
		out[path] = append(out[path], m)
		if m == "GET" {
			out[path] = append(out[path], "HEAD")
		}
	}
	for _, p := range pairs {
		add(concrete(p[1]), strings.ToUpper(p[0]))
		if strings.HasSuffix(p[1], "}") {
			endsInParam[concrete(p[1])] = true
		}
	}
	for path := range out {
		slash, colon := strings.LastIndex(path, "/"), strings.LastIndex(path, ":")
		if colon > slash && endsInParam[path[:colon]] {
			for _, m := range out[path[:colon]] {
				add(path, m)
			}
		}
	}
	for path := range out {
		slices.Sort(out[path])
		out[path] = slices.Compact(out[path])
	}
	return out
}

func httpYAMLRoutes(t *testing.T) map[string][]string {
	t.Helper()
	rules, err := os.ReadFile("../proto/http.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var pairs [][2]string
	for _, m := range ruleRE.FindAllStringSubmatch(string(rules), -1) {
		pairs = append(pairs, [2]string{m[1], m[2]})
	}
	if len(pairs) != 19 {
		t.Fatalf("found %d rules in http.yaml, want the 19 public routes", len(pairs))
	}
	return methodsByPath(pairs)
}

// openAPIRoutes reads only the paths object's keys and method names,
// which Swagger 2.0 and OpenAPI 3 share.
func openAPIRoutes(t *testing.T) map[string][]string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	var pairs [][2]string
	for path, item := range doc.Paths {
		for key := range item {
			// A path item also holds parameters, summary, servers, ...
			if slices.Contains(everyMethod, strings.ToUpper(key)) {
				pairs = append(pairs, [2]string{key, path})
			}
		}
	}
	return methodsByPath(pairs)
}

// allowOf parses an Allow header into a sorted list.
func allowOf(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Allow") {
		for m := range strings.SplitSeq(v, ",") {
			if m = strings.TrimSpace(m); m != "" {
				out = append(out, m)
			}
		}
	}
	slices.Sort(out)
	return out
}

// checkMethods sends every method to path: one of allowed is routed (any
// status but 405), any other is 405 with exactly allowed in Allow and no
// service called.
func checkMethods(t *testing.T, e *testEnv, path string, allowed []string) {
	t.Helper()
	for _, m := range everyMethod {
		if slices.Contains(allowed, m) {
			continue
		}
		before := len(e.rec.get("method"))
		r := e.do(t, m, path, nil, nil)
		if r.status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: status %d, want 405; body %s", m, path, r.status, r.body)
			continue
		}
		if got := allowOf(r.header); !slices.Equal(got, allowed) {
			t.Errorf("%s %s: Allow = %q, want %q", m, path, got, allowed)
		}
		if m != "HEAD" { // a HEAD answer has no body
			msg, _ := wantStatus(t, r, http.StatusMethodNotAllowed, codes.Unimplemented)["message"].(string)
			if want := "method " + m + " is not allowed"; !strings.Contains(msg, want) {
				t.Errorf("%s %s: message %q, want it to contain %q", m, path, msg, want)
			}
		}
		if calls := e.rec.get("method"); len(calls) != before {
			t.Errorf("%s %s reached %v", m, path, calls[before:])
		}
	}
	for _, m := range allowed {
		if m == "GET" || m == "HEAD" {
			// Reads are harmless to send; a 405 here would mean the Allow
			// header lists a method the mux refuses.
			if r := e.do(t, m, path, nil, nil); r.status == http.StatusMethodNotAllowed {
				t.Errorf("%s %s: 405 although Allow lists it", m, path)
			}
		}
	}
}

// Every route of proto/http.yaml answers a method it lacks with 405 and
// an Allow header naming exactly the methods of its path, derived from
// the mux, so a route added to the rules needs no table here.
func TestMethodNotAllowed_EveryRoute_AllowFromHTTPRules(t *testing.T) {
	e := newEnv(t)
	routes := httpYAMLRoutes(t)
	// The shapes the issue names: one path under two templates, and a
	// custom verb beside a plain path.
	for path, want := range map[string][]string{
		"/v1/users/" + testUserID: {"DELETE", "GET", "HEAD", "PATCH"},
		"/v1/users":               {"GET", "HEAD", "POST"},
		"/v1/users/" + testUserID + "/account:deposit": {"POST"},
		"/v1/users/" + testUserID + "/account":         {"GET", "HEAD"},
	} {
		if !slices.Equal(routes[path], want) {
			t.Errorf("http.yaml gives %s the methods %q, the test expects %q", path, routes[path], want)
		}
	}
	for path, allowed := range routes {
		t.Run(path, func(t *testing.T) { checkMethods(t, e, path, allowed) })
	}
}

// The OpenAPI document the gateway serves names, for each path, exactly
// the methods the gateway routes, so a tool that reads it never meets a
// 405 for a documented operation nor an undocumented method.
func TestMethodNotAllowed_AgreesWithOpenAPIPaths(t *testing.T) {
	e := newEnv(t)
	doc := openAPIRoutes(t)
	if rules := httpYAMLRoutes(t); len(doc) != len(rules) {
		t.Errorf("the document has %d paths, http.yaml %d", len(doc), len(rules))
	}
	for path, allowed := range doc {
		t.Run(path, func(t *testing.T) { checkMethods(t, e, path, allowed) })
	}
}

// The gateway's own routes get the same 405 with Allow.
func TestMethodNotAllowed_OwnRoutes(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.AuthIssuer = "http://localhost:8080"
		c.JWKSSourceURL = notFoundURL(t)
	})
	for _, path := range []string{"/openapi.json", "/healthz", "/readyz", "/.well-known/jwks.json", "/.well-known/openid-configuration"} {
		t.Run(path, func(t *testing.T) { checkMethods(t, e, path, []string{"GET", "HEAD"}) })
	}
}

// Wherever the gateway answers 405, on routes of any origin (a route
// registered without this file's knowledge included), the Allow header is
// there and names other methods than the one refused.
func TestMethodNotAllowed_AlwaysCarriesAllow(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AuthIssuer = "http://localhost:8080" })
	paths := []string{"/", "/docs", "/docs/", "/openapi.json", "/healthz", "/readyz", "/.well-known/openid-configuration",
		"/v1/users", "/v1/auth/login", "/v1/users/x/orders/y", "/v1/users/x:deposit", "/v1/nothing"}
	seen := 0
	for _, path := range paths {
		for _, m := range everyMethod {
			r := e.do(t, m, path, nil, nil)
			if r.status != http.StatusMethodNotAllowed {
				continue
			}
			seen++
			allow := allowOf(r.header)
			if len(allow) == 0 || slices.Contains(allow, m) {
				t.Errorf("%s %s: 405 with Allow %q", m, path, allow)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no 405 seen")
	}
}

// HEAD is answered as GET without content, on API routes and the
// gateway's own; a path without GET refuses it with 405.
func TestHead_AnsweredAsGetWithoutBody(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/v1/users/" + testUserID, "/healthz", "/openapi.json"} {
		get := e.do(t, "GET", path, nil, nil)
		head := e.do(t, "HEAD", path, nil, nil)
		if head.status != get.status || head.status != http.StatusOK {
			t.Errorf("%s: HEAD %d, GET %d; want both 200", path, head.status, get.status)
		}
		if len(head.body) != 0 || len(get.body) == 0 {
			t.Errorf("%s: HEAD body %d bytes, GET %d; want none and some", path, len(head.body), len(get.body))
		}
		if head.header.Get("Content-Type") != get.header.Get("Content-Type") {
			t.Errorf("%s: HEAD Content-Type %q, GET %q", path, head.header.Get("Content-Type"), get.header.Get("Content-Type"))
		}
	}
	if calls := e.rec.get("GetUser.x-request-id"); len(calls) != 2 {
		t.Errorf("GetUser called %d times, want 2 (GET and HEAD)", len(calls))
	}
	r := e.do(t, "HEAD", "/v1/auth/login", nil, nil)
	if r.status != http.StatusMethodNotAllowed || !slices.Equal(allowOf(r.header), []string{"POST"}) {
		t.Errorf("HEAD /v1/auth/login: %d, Allow %q; want 405, POST", r.status, allowOf(r.header))
	}
	if !e.logs.has(`method HEAD is not allowed on /v1/auth/login`) {
		t.Error("the 405 of a HEAD names GET, not HEAD")
	}
}

// grpc-gateway's method override and its POST-to-GET fallback for form
// bodies are off: a route is reached by its own method only.
func TestMethodOverride_Ignored(t *testing.T) {
	e := newEnv(t)
	path := "/v1/users/" + testUserID
	for _, h := range []map[string]string{
		{"X-HTTP-Method-Override": "DELETE", "Content-Type": "application/x-www-form-urlencoded"},
		{"Content-Type": "application/x-www-form-urlencoded"},
	} {
		r := e.do(t, "POST", path, "a=b", h)
		if r.status != http.StatusMethodNotAllowed {
			t.Errorf("POST %s with %v: status %d, want 405; body %s", path, h, r.status, r.body)
		}
	}
	if calls := e.rec.get("method"); len(calls) != 0 {
		t.Errorf("a POST reached %v", calls)
	}
}

// notFoundURL is a key set source that has none.
func notFoundURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	return srv.URL + "/.well-known/jwks.json"
}
