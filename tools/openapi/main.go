// Command openapi turns the Swagger 2.0 document protoc-gen-openapiv2 writes
// for kassa into the OpenAPI 3.0 document the gateway serves
// (gen/openapi/kassa.openapi.json). The generator writes everything it can
// express from the contracts and proto/openapi.yaml; this step converts the
// result with kin-openapi and adds only what Swagger 2.0 or the generator
// cannot say:
//
//   - int64 fields as a decimal string or a JSON number (the gateway accepts
//     both; Swagger 2.0 has no oneOf),
//   - timestamps as nullable (the gateway writes an unset one as null),
//   - one path template per path (the generator writes /v1/users/{user.id}
//     beside /v1/users/{id}, and a parameter named user.id),
//   - $ref without siblings (tools ignore a description beside a $ref),
//   - the bearer token as an HTTP bearer scheme (Swagger 2.0 knows only API
//     keys),
//   - servers, short summaries, no tags of services without routes, and
//     the error schema named Status.
//
// The output is deterministic, so `make check-generated` can compare it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("openapi", flag.ContinueOnError)
	in := fs.String("in", "", "Swagger 2.0 document written by protoc-gen-openapiv2")
	out := fs.String("out", "", "OpenAPI 3.0 document to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return errors.New("-in and -out are required")
	}
	src, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	doc, err := Convert(src)
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	return os.WriteFile(*out, doc, 0o644)
}

// Convert returns the OpenAPI 3.0 document for a Swagger 2.0 one.
func Convert(v2 []byte) ([]byte, error) {
	var raw map[string]any
	if err := json.Unmarshal(v2, &raw); err != nil {
		return nil, err
	}
	onePathPerTemplate(raw)
	walk(raw, unwrapRefSiblings)

	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var doc2 openapi2.T
	if err := json.Unmarshal(b, &doc2); err != nil {
		return nil, fmt.Errorf("read Swagger 2.0: %w", err)
	}
	doc3, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, fmt.Errorf("convert to OpenAPI 3: %w", err)
	}
	if b, err = json.Marshal(doc3); err != nil {
		return nil, err
	}
	var v3 map[string]any
	if err := json.Unmarshal(b, &v3); err != nil {
		return nil, err
	}

	v3["servers"] = []any{
		map[string]any{"url": "/", "description": "The gateway that serves this document."},
		map[string]any{"url": "http://localhost:8080", "description": "make run on this machine."},
	}
	bearerScheme(v3)
	dropUnusedTags(v3)
	// The error body is google.rpc.Status; "rpc.Status" reads as a type of
	// the API's own in generated clients.
	renameSchema(v3, "rpc.Status", "Status")
	shortSummaries(v3)
	dropConverterExtensions(v3)
	walk(v3, widenSchema)

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v3); err != nil {
		return nil, err
	}
	if err := check(buf.Bytes()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// check loads the result with kin-openapi's validator, so a conversion that
// produced an invalid document fails the generation, not a later tool.
func check(doc []byte) error {
	loader := openapi3.NewLoader()
	t, err := loader.LoadFromData(doc)
	if err != nil {
		return fmt.Errorf("result does not load: %w", err)
	}
	if err := t.Validate(context.Background()); err != nil {
		return fmt.Errorf("result is not valid OpenAPI 3: %w", err)
	}
	return nil
}

// walk calls fn on every JSON object of v, parents before children. The
// objects are collected first, so fn may add objects it will not be called on.
func walk(v any, fn func(map[string]any)) {
	var objs []map[string]any
	var collect func(any)
	collect = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			objs = append(objs, v)
			for _, k := range sortedKeys(v) {
				collect(v[k])
			}
		case []any:
			for _, child := range v {
				collect(child)
			}
		}
	}
	collect(v)
	for _, obj := range objs {
		fn(obj)
	}
}

// dottedParam matches a path parameter that names a field of a sub-message,
// as in /v1/users/{user.id}.
var dottedParam = regexp.MustCompile(`\{(?:[A-Za-z0-9_]+\.)+([A-Za-z0-9_]+)\}`)

// onePathPerTemplate renames {user.id} to {id} (the last part of the field
// path) and merges the operations of paths that then coincide: the routes
// are one template to an HTTP router, and tools that see two route PATCH to
// the wrong one.
func onePathPerTemplate(raw map[string]any) {
	paths, _ := raw["paths"].(map[string]any)
	for _, p := range sortedKeys(paths) {
		if !dottedParam.MatchString(p) {
			continue
		}
		item := paths[p].(map[string]any)
		delete(paths, p)
		renamed := dottedParam.ReplaceAllString(p, "{$1}")
		for _, op := range item {
			op, ok := op.(map[string]any)
			if !ok {
				continue
			}
			params, _ := op["parameters"].([]any)
			for _, prm := range params {
				prm := prm.(map[string]any)
				if prm["in"] == "path" {
					name := prm["name"].(string)
					prm["name"] = name[strings.LastIndex(name, ".")+1:]
				}
			}
		}
		target, ok := paths[renamed].(map[string]any)
		if !ok {
			paths[renamed] = item
			continue
		}
		for method, op := range item {
			target[method] = op
		}
	}
}

// unwrapRefSiblings turns {"$ref": r, "description": d} into
// {"allOf": [{"$ref": r}], "description": d}: beside a $ref, OpenAPI 3.0
// ignores every other member.
func unwrapRefSiblings(obj map[string]any) {
	ref, ok := obj["$ref"]
	if !ok || len(obj) == 1 {
		return
	}
	delete(obj, "$ref")
	obj["allOf"] = []any{map[string]any{"$ref": ref}}
}

// widenSchema documents what the gateway's JSON encoding does with int64
// and timestamps, which Swagger 2.0 cannot say.
func widenSchema(s map[string]any) {
	typ, _ := s["type"].(string)
	format, _ := s["format"].(string)
	switch {
	case typ == "string" && (format == "int64" || format == "uint64"):
		// protojson writes 64-bit integers as strings (JavaScript numbers
		// lose precision above 2^53) and reads either form.
		pattern := `^-?[0-9]+$`
		if format == "uint64" {
			pattern = `^[0-9]+$`
		}
		str := map[string]any{"type": "string", "format": format, "pattern": pattern}
		num := map[string]any{"type": "integer", "format": "int64"}
		for _, k := range []string{"type", "format", "pattern"} {
			delete(s, k)
		}
		s["oneOf"] = []any{str, num}
	case typ == "string" && format == "date-time":
		// A google.protobuf.Timestamp that is not set is written as null.
		s["nullable"] = true
	}
}

// bearerScheme turns the Authorization API key the generator can write into
// OpenAPI 3's HTTP bearer scheme, which is what the header carries: tools
// then add the "Bearer " prefix themselves and know the token is a JWT.
func bearerScheme(doc map[string]any) {
	schemes, _ := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
	if b, ok := schemes["Bearer"].(map[string]any); ok {
		schemes["Bearer"] = map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": b["description"]}
	}
}

// dropUnusedTags removes the tags of services that have no REST route (the
// admin services): a tag no operation uses lists an empty group in docs.
func dropUnusedTags(doc map[string]any) {
	used := map[string]bool{}
	forEachOperation(doc, func(_, _ string, op map[string]any) {
		tags, _ := op["tags"].([]any)
		for _, t := range tags {
			used[t.(string)] = true
		}
	})
	tags, _ := doc["tags"].([]any)
	kept := tags[:0]
	for _, t := range tags {
		if used[t.(map[string]any)["name"].(string)] {
			kept = append(kept, t)
		}
	}
	doc["tags"] = kept
}

// shortSummaries keeps the first sentence of an operation's comment as its
// summary and the whole comment, unwrapped, as its description: the
// generator puts a one-paragraph comment into the summary.
func shortSummaries(doc map[string]any) {
	forEachOperation(doc, func(_, _ string, op map[string]any) {
		text, _ := op["summary"].(string)
		if text == "" {
			return
		}
		text = strings.Join(strings.Fields(text), " ")
		summary := text
		if i := strings.Index(text, ". "); i > 0 {
			summary = text[:i]
		}
		op["summary"] = strings.TrimSuffix(summary, ".")
		if desc, _ := op["description"].(string); desc != "" {
			text += "\n\n" + desc
		}
		op["description"] = text
	})
	tags, _ := doc["tags"].([]any)
	for _, t := range tags {
		t := t.(map[string]any)
		if desc, ok := t["description"].(string); ok {
			t["description"] = strings.Join(strings.Fields(desc), " ")
		}
	}
}

// renameSchema renames a component schema and every reference to it.
func renameSchema(doc map[string]any, from, to string) {
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	s, ok := schemas[from]
	if !ok {
		return
	}
	delete(schemas, from)
	schemas[to] = s
	walk(doc, func(obj map[string]any) {
		if obj["$ref"] == "#/components/schemas/"+from {
			obj["$ref"] = "#/components/schemas/" + to
		}
	})
}

// dropConverterExtensions removes the x-originalParamName marks kin-openapi
// leaves on request bodies; they describe the Swagger 2.0 input, not the API.
func dropConverterExtensions(doc map[string]any) {
	walk(doc, func(obj map[string]any) { delete(obj, "x-originalParamName") })
}

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func forEachOperation(doc map[string]any, fn func(path, method string, op map[string]any)) {
	paths, _ := doc["paths"].(map[string]any)
	for _, p := range sortedKeys(paths) {
		item := paths[p].(map[string]any)
		for _, m := range sortedKeys(item) {
			if op, ok := item[m].(map[string]any); ok && slices.Contains(methods, m) {
				fn(p, m, op)
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
