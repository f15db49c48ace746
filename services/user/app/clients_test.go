package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/services/user/app"
)

func TestParseClients(t *testing.T) {
	h := app.SecretHash("s")
	file := filepath.Join(t.TempDir(), "clients")
	if err := os.WriteFile(file, []byte("# services\norder="+h+"\nbilling="+h+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in string
		n        int
		err      string
	}{
		{"empty", "", 0, ""},
		{"list", "order=" + h + ", billing=" + h, 2, ""},
		{"file", file, 2, ""},
		{"missing file", filepath.Join(t.TempDir(), "none"), 0, "read clients file"},
		{"short hash", "order=abcd", 0, "64 hex digits"},
		{"upper-case name", "Order=" + h, 0, "lower-case name"},
		{"twice", "order=" + h + ",order=" + h, 0, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := app.ParseClients(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseClients = %v, want error with %q", err, tt.err)
				}
				return
			}
			if err != nil || len(c) != tt.n {
				t.Fatalf("ParseClients = %d clients, %v; want %d", len(c), err, tt.n)
			}
		})
	}
}
