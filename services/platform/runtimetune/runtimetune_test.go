package runtimetune_test

import (
	"runtime/debug"
	"testing"

	"github.com/kassa-dev/kassa/services/platform/runtimetune"
)

func TestApply(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	tests := []struct {
		name        string
		gogc        string
		runtimeHas  int // what the runtime parsed from GOGC at start
		wantPercent int
		wantString  string
	}{
		{"unset: kassa's default", "", 100, runtimetune.DefaultGCPercent, "400 (default)"},
		{"operator's value kept", "150", 150, 150, "150 (GOGC)"},
		{"operator turned GC off", "off", -1, -1, "off (GOGC)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(tt.runtimeHas)
			got := runtimetune.Apply(func(k string) string {
				if k == "GOGC" {
					return tt.gogc
				}
				return ""
			})
			if got.GCPercent != tt.wantPercent || got.String() != tt.wantString {
				t.Errorf("Apply = %+v (%s), want %d (%s)", got, got, tt.wantPercent, tt.wantString)
			}
			if now := debug.SetGCPercent(100); now != tt.wantPercent {
				t.Errorf("runtime GC percent = %d, want %d", now, tt.wantPercent)
			}
		})
	}
}
