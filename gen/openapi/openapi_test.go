package openapi_test

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/gen/openapi"
)

// ruleRE matches the verb and path of an HTTP rule in proto/http.yaml.
var ruleRE = regexp.MustCompile(`(?m)^\s+(get|post|patch|delete|put): (\S+)$`)

// paramRE matches a path parameter; the generator writes user_id as userId.
var paramRE = regexp.MustCompile(`\{([a-z_.]+)\}`)

func lowerCamel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
	}
	return strings.Join(parts, "")
}

// Every REST route of the HTTP rules is in the served OpenAPI document.
func TestDocumentListsEveryRoute(t *testing.T) {
	rules, err := os.ReadFile("../../proto/http.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	var want, missing []string
	for _, m := range ruleRE.FindAllStringSubmatch(string(rules), -1) {
		path := paramRE.ReplaceAllStringFunc(m[2], func(p string) string { return "{" + lowerCamel(p[1:len(p)-1]) + "}" })
		want = append(want, m[1]+" "+path)
		if _, ok := doc.Paths[path][m[1]]; !ok {
			missing = append(missing, m[1]+" "+path)
		}
	}
	if len(want) != 18 {
		t.Fatalf("found %d rules in http.yaml, want the 18 public routes: %v", len(want), want)
	}
	if len(missing) > 0 {
		var have []string
		for p, ops := range doc.Paths {
			for op := range ops {
				have = append(have, op+" "+p)
			}
		}
		sort.Strings(have)
		t.Errorf("OpenAPI document lacks %v\nit has %v", missing, have)
	}
}

// publicOps are the routes anyone may call without a token: registration
// and the token endpoints. Every other operation needs the bearer token.
var publicOps = map[string]bool{
	"post /v1/users":        true,
	"post /v1/auth/login":   true,
	"post /v1/auth/refresh": true,
	"post /v1/auth/logout":  true,
	"post /v1/auth/token":   true,
}

// The document declares the bearer scheme, requires it everywhere but on
// the public routes, and lists the answers of the access checks on every
// operation, so tools that read it know about tokens and their refusals.
func TestDocumentDeclaresBearerAndAccessAnswers(t *testing.T) {
	var doc struct {
		SecurityDefinitions map[string]struct {
			Type string `json:"type"`
			In   string `json:"in"`
			Name string `json:"name"`
		} `json:"securityDefinitions"`
		Security []map[string][]string `json:"security"`
		Paths    map[string]map[string]struct {
			Security  *[]map[string][]string     `json:"security"`
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openapi.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	if b, ok := doc.SecurityDefinitions["Bearer"]; !ok || b.Type != "apiKey" || b.In != "header" || b.Name != "Authorization" {
		t.Fatalf("securityDefinitions = %+v, want Bearer as the Authorization header", doc.SecurityDefinitions)
	}
	if len(doc.Security) != 1 || doc.Security[0]["Bearer"] == nil {
		t.Fatalf("top-level security = %v, want Bearer", doc.Security)
	}
	seenPublic := 0
	for path, ops := range doc.Paths {
		for method, op := range ops {
			key := method + " " + path
			switch {
			case publicOps[key]:
				seenPublic++
				if op.Security == nil || len(*op.Security) != 0 {
					t.Errorf("%s: security = %v, want [] (public)", key, op.Security)
				}
			case op.Security != nil:
				t.Errorf("%s: overrides security with %v; only the public routes may", key, *op.Security)
			}
			for _, code := range []string{"200", "401", "403", "404", "429"} {
				if _, ok := op.Responses[code]; !ok {
					t.Errorf("%s: no %s answer", key, code)
				}
			}
		}
	}
	if seenPublic != len(publicOps) {
		t.Errorf("found %d of the %d public routes in the document", seenPublic, len(publicOps))
	}
}
