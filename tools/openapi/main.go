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
//   - input-only fields as writeOnly, and left out of PATCH bodies,
//   - an example on every path parameter,
//   - Retry-After on every 429 and 503,
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
	walk(v3, markInputOnly)
	pathExamples(v3)
	patchBodies(v3)
	answerHeaders(v3)

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
