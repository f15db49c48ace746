package stack

import (
	"slices"
	"testing"
)

func TestProcessEnv(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    []string
	}{
		{"one P by default", []string{"PATH=/bin"}, []string{"PATH=/bin", "LOG_FORMAT=text", "GOMAXPROCS=1"}},
		{"the caller's GOMAXPROCS wins", []string{"GOMAXPROCS=2", "PATH=/bin"}, []string{"GOMAXPROCS=2", "PATH=/bin", "LOG_FORMAT=text"}},
		{"an empty GOMAXPROCS is unset", []string{"GOMAXPROCS="}, []string{"GOMAXPROCS=", "LOG_FORMAT=text", "GOMAXPROCS=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			environ := slices.Clone(tt.environ)
			got := processEnv(environ, "LOG_FORMAT=text")
			if !slices.Equal(got, tt.want) {
				t.Errorf("processEnv = %q, want %q", got, tt.want)
			}
			if !slices.Equal(environ, tt.environ) {
				t.Errorf("processEnv changed the caller's slice: %q", environ)
			}
		})
	}
}

// Options.Env comes after the stack's settings; the last GOMAXPROCS is the
// one a process sees, so it decides whether the default is added.
func TestProcessEnv_Settings(t *testing.T) {
	tests := []struct {
		name     string
		environ  []string
		settings []string
		want     []string
	}{
		{"settings may set GOMAXPROCS", nil, []string{"GOMAXPROCS=2"}, []string{"GOMAXPROCS=2"}},
		{"settings may unset the caller's", []string{"GOMAXPROCS=2"}, []string{"GOMAXPROCS="}, []string{"GOMAXPROCS=2", "GOMAXPROCS=", "GOMAXPROCS=1"}},
		{"a setting follows the caller's value", []string{"REPAIR_INTERVAL=30s"}, []string{"REPAIR_INTERVAL=1s"}, []string{"REPAIR_INTERVAL=30s", "REPAIR_INTERVAL=1s", "GOMAXPROCS=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			environ := slices.Clone(tt.environ)
			got := processEnv(environ, tt.settings...)
			if !slices.Equal(got, tt.want) {
				t.Errorf("processEnv = %q, want %q", got, tt.want)
			}
			if !slices.Equal(environ, tt.environ) {
				t.Errorf("processEnv changed the caller's slice: %q", environ)
			}
		})
	}
}
