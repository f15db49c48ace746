package main

// The additions to the converted document; each says why the generator
// cannot write it itself.

import (
	"regexp"
	"strings"
)

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

// inputOnly is how the contracts' comments mark a field a client sends but
// never gets back, as the generator reads "Output only." for readOnly.
const inputOnly = "Input only"

// markInputOnly makes the input-only properties writeOnly, so generated
// clients leave them out of answer types.
func markInputOnly(s map[string]any) {
	props, _ := s["properties"].(map[string]any)
	for _, p := range props {
		p, ok := p.(map[string]any)
		if desc, _ := p["description"].(string); ok && strings.Contains(desc, inputOnly+":") {
			p["writeOnly"] = true
		}
	}
}

// uuidExample is the example of a path parameter that has none: every id
// in kassa's paths is a server-assigned UUID (proto/README.md).
const uuidExample = "0b0f3c5e-8a6d-4c55-9d1e-2f4a7c9b1e33"

// pathExamples gives every path parameter an example, which contract
// testers need to build a request: the generator's x-example where the
// field has one (Swagger 2.0 has no parameter examples), else a UUID.
func pathExamples(doc map[string]any) {
	forEachOperation(doc, func(_, _ string, op map[string]any) {
		params, _ := op["parameters"].([]any)
		for _, p := range params {
			p := p.(map[string]any)
			if ex, ok := p["x-example"]; ok {
				p["example"] = ex
				delete(p, "x-example")
			}
			if _, ok := p["example"]; !ok && p["in"] == "path" {
				p["example"] = uuidExample
			}
		}
	})
}

// patchBodies drops the write-only members from PATCH bodies: they are
// set when a resource is created and an update refuses them (the user's
// password is not a field UpdateUser changes).
func patchBodies(doc map[string]any) {
	forEachOperation(doc, func(_, method string, op map[string]any) {
		if method != "patch" {
			return
		}
		body, _ := op["requestBody"].(map[string]any)
		content, _ := body["content"].(map[string]any)
		for _, media := range content {
			schema, _ := media.(map[string]any)["schema"].(map[string]any)
			if _, isRef := schema["$ref"]; isRef {
				panic("patchBodies: a PATCH body that is a $ref needs its own schema without write-only members")
			}
			props, _ := schema["properties"].(map[string]any)
			for name, p := range props {
				if p.(map[string]any)["writeOnly"] == true {
					delete(props, name)
				}
			}
		}
	})
}

// retryAfter is the header every 429 and 503 of the gateway carries. The
// generator drops the headers of file-level answers, which is where those
// two are declared (every route can give them).
var retryAfter = map[string]any{
	"description": "Seconds to wait before retrying (at least 1).",
	"schema":      map[string]any{"type": "integer", "minimum": 1},
}

// answerHeaders adds Retry-After to every 429 and 503 and spells
// WWW-Authenticate as RFC 9110 does (the generator canonicalises header
// names to Www-Authenticate; HTTP does not care, readers do).
func answerHeaders(doc map[string]any) {
	forEachOperation(doc, func(_, _ string, op map[string]any) {
		responses, _ := op["responses"].(map[string]any)
		for code, r := range responses {
			r := r.(map[string]any)
			headers, _ := r["headers"].(map[string]any)
			if headers == nil {
				headers = map[string]any{}
			}
			if h, ok := headers["Www-Authenticate"]; ok {
				delete(headers, "Www-Authenticate")
				headers["WWW-Authenticate"] = h
			}
			if code == "429" || code == "503" {
				headers["Retry-After"] = retryAfter
			}
			if len(headers) > 0 {
				r["headers"] = headers
			}
		}
	})
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
