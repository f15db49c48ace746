package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/kassa-dev/kassa/gen/openapi"
)

// The served document is the committed one but for info.version, which is
// the gateway's build version.
func TestOpenAPI_ServedEqualsCommitted(t *testing.T) {
	for _, tc := range []struct {
		name, version, wantVersion string
	}{
		{"no build version", "", "unreleased"},
		{"release", "v1.4.2", "v1.4.2"},
		{"commit", "v1.4.2-3-gdeadbeef-dirty", "v1.4.2-3-gdeadbeef-dirty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Version = tc.version })
			r := e.do(t, "GET", "/openapi.json", nil, nil)
			if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, Content-Type %q", r.status, r.header.Get("Content-Type"))
			}
			var doc map[string]any
			if err := json.Unmarshal(r.body, &doc); err != nil {
				t.Fatal(err)
			}
			if got := doc["info"].(map[string]any)["version"]; got != tc.wantVersion {
				t.Errorf("info.version = %v, want %q", got, tc.wantVersion)
			}
			// Put the committed version back: every other byte must match.
			doc["info"].(map[string]any)["version"] = "unreleased"
			back, err := encodeDocument(doc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, openapi.JSON) {
				t.Errorf("served document differs from gen/openapi/kassa.openapi.json beyond info.version (%d vs %d bytes)", len(back), len(openapi.JSON))
			}
		})
	}
}
