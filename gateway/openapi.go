package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/kassa-dev/kassa/gen/openapi"
)

// versionedDocument returns the committed OpenAPI document with
// info.version set to the gateway's build version, so a client can tell
// which release it talks to. Only that member differs from the committed
// bytes: the document is re-encoded from a generic tree, and the committed
// file is written by the same encoder settings (sorted keys, two-space
// indent, no HTML escaping).
func versionedDocument(version string) ([]byte, error) {
	if version == "" {
		return openapi.JSON, nil
	}
	var doc map[string]any
	if err := json.Unmarshal(openapi.JSON, &doc); err != nil {
		return nil, fmt.Errorf("embedded OpenAPI document: %w", err)
	}
	info, ok := doc["info"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("embedded OpenAPI document has no info object")
	}
	info["version"] = version
	return encodeDocument(doc)
}

func encodeDocument(doc map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// serveOpenAPI answers GET /openapi.json with doc.
func serveOpenAPI(doc []byte) runtime.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(doc)
	}
}
