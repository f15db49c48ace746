package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/retry"
)

func TestRepairPolicy(t *testing.T) {
	defaults := map[string]string{
		"repair-backoff":      retry.Default.Base.String(),
		"repair-backoff-max":  retry.Default.Max.String(),
		"repair-max-attempts": strconv.Itoa(retry.Default.MaxAttempts),
	}
	if p, err := repairPolicy(defaults); err != nil || p != retry.Default {
		t.Fatalf("defaults = %+v, %v; want retry.Default", p, err)
	}
	tests := []struct {
		name, key, value, errHas string
	}{
		{"backoff not a duration", "repair-backoff", "soon", "repair-backoff (REPAIR_BACKOFF)"},
		{"max not a duration", "repair-backoff-max", "5", "repair-backoff-max (REPAIR_BACKOFF_MAX)"},
		{"attempts not a number", "repair-max-attempts", "many", "repair-max-attempts (REPAIR_MAX_ATTEMPTS)"},
		{"zero attempts", "repair-max-attempts", "0", "max attempts"},
		{"max below base", "repair-backoff-max", "1ms", "below the base"},
		{"negative backoff", "repair-backoff", "-1s", "base delay must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := map[string]string{}
			for k, v := range defaults {
				opts[k] = v
			}
			opts[tt.key] = tt.value
			if _, err := repairPolicy(opts); err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("repairPolicy(%s=%q) = %v, want an error naming %q", tt.key, tt.value, err, tt.errHas)
			}
		})
	}
	custom := map[string]string{"repair-backoff": "2s", "repair-backoff-max": "1m", "repair-max-attempts": "5"}
	if p, err := repairPolicy(custom); err != nil || p != (retry.Policy{Base: 2 * time.Second, Max: time.Minute, MaxAttempts: 5}) {
		t.Fatalf("custom = %+v, %v", p, err)
	}
}
