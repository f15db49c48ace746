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
