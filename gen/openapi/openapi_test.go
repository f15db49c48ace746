package openapi_test

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/gen/openapi"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"sigs.k8s.io/yaml"

	// The contracts register their descriptors, which tell which requests
	// carry an idempotency key.
	_ "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	_ "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	_ "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	_ "github.com/kassa-dev/kassa/gen/kassa/user/v1"
)

// rule is one HTTP rule of proto/http.yaml.
type rule struct {
	Selector string `json:"selector"`
	Get      string `json:"get"`
	Post     string `json:"post"`
	Patch    string `json:"patch"`
	Delete   string `json:"delete"`
	Body     string `json:"body"`
}

func (r rule) route() (method, path string) {
	for _, m := range []struct{ name, path string }{{"get", r.Get}, {"post", r.Post}, {"patch", r.Patch}, {"delete", r.Delete}} {
		if m.path != "" {
			return m.name, m.path
		}
	}
	return "", ""
}

func rules(t *testing.T) []rule {
	t.Helper()
	b, err := os.ReadFile("../../proto/http.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		HTTP struct {
			Rules []rule `json:"rules"`
		} `json:"http"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.HTTP.Rules) < 18 {
		t.Fatalf("found %d rules in http.yaml, want at least the 18 public routes", len(cfg.HTTP.Rules))
	}
	return cfg.HTTP.Rules
}

type operation struct {
	OperationID string                     `json:"operationId"`
	Summary     string                     `json:"summary"`
	Tags        []string                   `json:"tags"`
	Security    *[]map[string][]any        `json:"security"`
	Parameters  []parameter                `json:"parameters"`
	RequestBody *json.RawMessage           `json:"requestBody"`
	Responses   map[string]response        `json:"responses"`
	Extra       map[string]json.RawMessage `json:"-"`
}

type parameter struct {
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required"`
}

type response struct {
	Description string `json:"description"`
	Content     map[string]struct {
		Schema struct {
			Ref string `json:"$ref"`
		} `json:"schema"`
	} `json:"content"`
}

type document struct {
	OpenAPI string `json:"openapi"`
	Info    struct {
		Title, Description, Version string
	} `json:"info"`
	Servers    []struct{ URL string } `json:"servers"`
	Security   []map[string][]any     `json:"security"`
	Paths      map[string]map[string]operation
	Components struct {
		SecuritySchemes map[string]struct {
			Type, Scheme, BearerFormat string
		} `json:"securitySchemes"`
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

func load(t *testing.T) document {
	t.Helper()
	var doc document
	if err := json.Unmarshal(openapi.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// publicOps need no token: registration and the token endpoints.
var publicOps = map[string]bool{
	"kassa.user.v1.UserService.CreateUser": true,
	"kassa.user.v1.AuthService.Login":      true,
	"kassa.user.v1.AuthService.Refresh":    true,
	"kassa.user.v1.AuthService.Logout":     true,
	"kassa.user.v1.AuthService.Token":      true,
}

var paramRE = regexp.MustCompile(`\{([a-z_.]+)\}`)

// documentPath is the template the document uses for an http.yaml path:
// parameters in lowerCamelCase, a field path by its last part ({user.id}
// is {id}).
func documentPath(p string) string {
	return paramRE.ReplaceAllStringFunc(p, func(m string) string {
		name := m[1 : len(m)-1]
		name = name[strings.LastIndex(name, ".")+1:]
		parts := strings.Split(name, "_")
		for i := 1; i < len(parts); i++ {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
		return "{" + strings.Join(parts, "") + "}"
	})
}

// hasRequestID tells whether an RPC's request carries the idempotency key,
// from the compiled contracts rather than a list that could drift.
func hasRequestID(t *testing.T, selector string) bool {
	t.Helper()
	i := strings.LastIndex(selector, ".")
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(selector[:i]))
	if err != nil {
		t.Fatalf("%s: %v", selector, err)
	}
	m := d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(selector[i+1:]))
	if m == nil {
		t.Fatalf("%s: no such method", selector)
	}
	return m.Input().Fields().ByName("request_id") != nil
}

// Every HTTP rule has its operation in the document, with a summary, a tag,
// its security, and each error answer the gateway can give on it, all with
// the error schema.
func TestEveryRuleIsDocumented(t *testing.T) {
	doc := load(t)
	seen := map[string]bool{}
	for _, r := range rules(t) {
		method, path := r.route()
		key := method + " " + documentPath(path)
		seen[key] = true
		op, ok := doc.Paths[documentPath(path)][method]
		if !ok {
			t.Errorf("%s (%s): no operation in the document", key, r.Selector)
			continue
		}
		if op.Summary == "" || len(op.Tags) != 1 || op.OperationID == "" {
			t.Errorf("%s: summary %q, tags %v, operationId %q; want all three", key, op.Summary, op.Tags, op.OperationID)
		}
		want := []string{"200", "400", "429", "503", "504", "401"}
		public := publicOps[r.Selector]
		switch {
		case public && (op.Security == nil || len(*op.Security) != 0):
			t.Errorf("%s: security %v, want [] (public)", key, op.Security)
		case !public && op.Security != nil:
			t.Errorf("%s: overrides security with %v; only public routes may", key, *op.Security)
		case !public:
			want = append(want, "403")
		}
		if strings.Contains(path, "{") {
			want = append(want, "404")
		}
		if r.Body != "" {
			want = append(want, "413", "415")
			if op.RequestBody == nil {
				t.Errorf("%s: no requestBody", key)
			}
		}
		keyed := hasRequestID(t, r.Selector)
		if keyed {
			want = append(want, "409", "422")
		}
		for _, code := range want {
			resp, ok := op.Responses[code]
			switch {
			case !ok:
				t.Errorf("%s: no %s answer", key, code)
			case resp.Description == "":
				t.Errorf("%s: %s has no description", key, code)
			case code != "200" && resp.Content["application/json"].Schema.Ref != "#/components/schemas/Status":
				t.Errorf("%s: %s answer is not the Status schema: %+v", key, code, resp.Content)
			}
		}
		hasKeyHeader := false
		for _, p := range op.Parameters {
			if p.In == "header" && p.Name == "Idempotency-Key" {
				hasKeyHeader = true
			}
		}
		if hasKeyHeader != keyed {
			t.Errorf("%s: Idempotency-Key header documented %v, request has request_id %v", key, hasKeyHeader, keyed)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !seen[method+" "+path] {
				t.Errorf("%s %s is in the document but not in http.yaml", method, path)
			}
		}
	}
}

// No two paths are the same template, and every path parameter is in its
// path: tools route by template.
func TestOnePathPerTemplate(t *testing.T) {
	doc := load(t)
	shapes := map[string]string{}
	anyParam := regexp.MustCompile(`\{[^}]*\}`)
	for path, ops := range doc.Paths {
		shape := anyParam.ReplaceAllString(path, "{}")
		if other, ok := shapes[shape]; ok {
			t.Errorf("%s and %s are one template", path, other)
		}
		shapes[shape] = path
		for method, op := range ops {
			for _, p := range op.Parameters {
				if p.In == "path" && (!strings.Contains(path, "{"+p.Name+"}") || !p.Required) {
					t.Errorf("%s %s: path parameter %q (required %v) is not in the path", method, path, p.Name, p.Required)
				}
			}
		}
	}
}

// The document says what the gateway's JSON does: int64 is a string or a
// number, an unset timestamp is null, and no $ref has siblings that tools
// would ignore.
func TestSchemasMatchTheJSONEncoding(t *testing.T) {
	var raw any
	if err := json.Unmarshal(openapi.JSON, &raw); err != nil {
		t.Fatal(err)
	}
	var int64s, timestamps int
	var visit func(path string, v any)
	visit = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["$ref"]; ok && len(v) > 1 {
				t.Errorf("%s: $ref with siblings %v", path, keys(v))
			}
			if v["format"] == "int64" && v["type"] == "string" {
				if !strings.HasSuffix(path, "/oneOf/0") {
					t.Errorf("%s: int64 as a string only; the gateway also accepts a number", path)
				}
				int64s++
			}
			if v["format"] == "date-time" {
				if v["nullable"] != true {
					t.Errorf("%s: timestamp is not nullable; an unset one is null", path)
				}
				timestamps++
			}
			for _, k := range keys(v) {
				visit(path+"/"+k, v[k])
			}
		case []any:
			for i, c := range v {
				visit(path+"/"+string(rune('0'+i)), c)
			}
		}
	}
	visit("#", raw)
	if int64s == 0 || timestamps == 0 {
		t.Errorf("found %d int64 fields and %d timestamps; the walk missed them", int64s, timestamps)
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The document describes the whole API: a title, a description, servers,
// the bearer scheme required by default.
func TestDocumentHeader(t *testing.T) {
	doc := load(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Errorf("openapi = %q, want 3.0.x", doc.OpenAPI)
	}
	if doc.Info.Title != "kassa API" || !strings.Contains(doc.Info.Description, "order") || doc.Info.Version == "" {
		t.Errorf("info = %+v", doc.Info)
	}
	if len(doc.Servers) == 0 || doc.Servers[0].URL != "/" {
		t.Errorf("servers = %v, want the serving gateway (/) first", doc.Servers)
	}
	if b := doc.Components.SecuritySchemes["Bearer"]; b.Type != "http" || b.Scheme != "bearer" || b.BearerFormat != "JWT" {
		t.Errorf("Bearer scheme = %+v, want http bearer JWT", b)
	}
	if len(doc.Security) != 1 || doc.Security[0]["Bearer"] == nil {
		t.Errorf("top-level security = %v, want Bearer", doc.Security)
	}
	if _, ok := doc.Components.Schemas["Status"]; !ok {
		t.Error("no Status schema for error answers")
	}
}

// Answers carry every member (the gateway emits zero values), so every
// member of a schema an answer can contain is required, except in schemas
// that are also request bodies, where only read-only members may be
// required beyond what a request must send. A field added to a contract
// without a required entry in proto/openapi.yaml fails here.
func TestAnswersRequireEveryMember(t *testing.T) {
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Required   []string                   `json:"required"`
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapi.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	refRE := regexp.MustCompile(`"#/components/schemas/([^"]+)"`)
	// Schemas reachable from 200 answers, and those that are request bodies.
	inAnswers, inBodies := map[string]bool{}, map[string]bool{}
	var reach func(raw []byte)
	reach = func(raw []byte) {
		for _, m := range refRE.FindAllSubmatch(raw, -1) {
			name := string(m[1])
			if inAnswers[name] {
				continue
			}
			inAnswers[name] = true
			b, _ := json.Marshal(doc.Components.Schemas[name].Properties)
			reach(b)
		}
	}
	for _, ops := range doc.Paths {
		for _, raw := range ops {
			var op struct {
				RequestBody json.RawMessage            `json:"requestBody"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				continue // path-level members
			}
			for _, m := range refRE.FindAllSubmatch(op.RequestBody, -1) {
				inBodies[string(m[1])] = true
			}
			reach(op.Responses["200"])
		}
	}
	if len(inAnswers) < 10 {
		t.Fatalf("reached only %d schemas from the answers: %v", len(inAnswers), inAnswers)
	}
	for name := range inAnswers {
		s := doc.Components.Schemas[name]
		if len(s.Properties) == 0 {
			continue // enums, Any, empty answers
		}
		required := map[string]bool{}
		for _, r := range s.Required {
			required[r] = true
			if _, ok := s.Properties[r]; !ok {
				t.Errorf("%s requires %q, which it does not have", name, r)
			}
		}
		for prop, raw := range s.Properties {
			readOnly := strings.Contains(string(raw), `"readOnly": true`)
			switch {
			case inBodies[name] && readOnly && !required[prop]:
				t.Errorf("%s.%s is read-only and always answered: list it in required", name, prop)
			case !inBodies[name] && !required[prop]:
				t.Errorf("%s.%s is in every answer: list it in required (proto/openapi.yaml)", name, prop)
			}
		}
	}
}
