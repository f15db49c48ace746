package boot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/boot"
)

// RepairInterval reads back what RepairIntervalOption declares, and refuses
// what is not a positive duration naming the flag and the environment
// variable.
func TestRepairInterval(t *testing.T) {
	opt := boot.RepairIntervalOption(30*time.Second, "how often")
	if opt.Name != "repair-interval" || opt.Default != "30s" {
		t.Fatalf("RepairIntervalOption = %+v, want repair-interval defaulting to 30s", opt)
	}
	tests := []struct {
		name   string
		value  string
		want   time.Duration
		errHas string // "" when the value is good
	}{
		{"default", opt.Default, 30 * time.Second, ""},
		{"custom", "1m30s", 90 * time.Second, ""},
		{"tiny", "1ms", time.Millisecond, ""},
		{"zero", "0s", 0, "repair-interval (REPAIR_INTERVAL): want a positive duration"},
		{"negative", "-1s", 0, "repair-interval (REPAIR_INTERVAL): want a positive duration"},
		{"no unit", "30", 0, `got "30"`},
		{"empty", "", 0, "repair-interval (REPAIR_INTERVAL)"},
		{"not a duration", "often", 0, `got "often"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := boot.RepairInterval(map[string]string{opt.Name: tt.value})
			if tt.errHas == "" {
				if err != nil || d != tt.want {
					t.Fatalf("RepairInterval(%q) = %v, %v; want %v", tt.value, d, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("RepairInterval(%q) = %v, %v; want an error containing %q", tt.value, d, err, tt.errHas)
			}
		})
	}
}

func TestOptionError_NamesFlagAndEnv(t *testing.T) {
	err := boot.OptionError("login-lock-max", "must be at least %v", time.Second)
	if got, want := err.Error(), "login-lock-max (LOGIN_LOCK_MAX): must be at least 1s"; got != want {
		t.Fatalf("OptionError = %q, want %q", got, want)
	}
}
