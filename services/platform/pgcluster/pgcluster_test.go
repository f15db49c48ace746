package pgcluster

import "testing"

// A restarted server must get exactly the settings of its first start, so
// the rendering is deterministic whatever the map's iteration order.
func TestServerOptions_SortedAndComplete(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		want     string
	}{
		{"none", nil, ""},
		{"one", map[string]string{"port": "5432"}, "-c port=5432"},
		{"sorted by name", map[string]string{"port": "5432", "fsync": "off", "max_connections": "200"},
			"-c fsync=off -c max_connections=200 -c port=5432"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 20 { // map order varies between iterations
				if got := serverOptions(tt.settings); got != tt.want {
					t.Fatalf("serverOptions = %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestVersionOf_ReadsTheMajorVersionFromThePath(t *testing.T) {
	tests := []struct {
		dir  string
		want int
	}{
		{"/usr/lib/postgresql/16/bin", 16},
		{"/usr/pgsql-17/bin", 17},
		{"/opt/homebrew/opt/postgresql@15/bin", 15},
		{"/usr/local/pgsql/bin", 0},
	}
	for _, tt := range tests {
		if got := versionOf(tt.dir); got != tt.want {
			t.Errorf("versionOf(%q) = %d, want %d", tt.dir, got, tt.want)
		}
	}
}
