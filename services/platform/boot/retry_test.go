package boot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/boot"
	"github.com/kassa-dev/kassa/services/platform/retry"
)

// RetryPolicy reads what RetryOptions declares: the defaults are
// retry.Default, other values are taken as given, and a bad one is refused
// with the flag and the environment variable that set it.
func TestRetryPolicy(t *testing.T) {
	defaults := map[string]string{}
	for _, o := range boot.RetryOptions() {
		defaults[o.Name] = o.Default
	}
	tests := []struct {
		name   string
		set    map[string]string
		want   retry.Policy
		errHas string // "" when the policy is valid
	}{
		{"defaults", nil, retry.Default, ""},
		{"custom", map[string]string{"retry-base": "2s", "retry-max": "1m", "retry-max-attempts": "5"},
			retry.Policy{Base: 2 * time.Second, Max: time.Minute, MaxAttempts: 5}, ""},
		{"max equal to base", map[string]string{"retry-base": "1m", "retry-max": "1m"},
			retry.Policy{Base: time.Minute, Max: time.Minute, MaxAttempts: retry.Default.MaxAttempts}, ""},
		{"one attempt", map[string]string{"retry-max-attempts": "1"},
			retry.Policy{Base: retry.Default.Base, Max: retry.Default.Max, MaxAttempts: 1}, ""},
		{"base not a duration", map[string]string{"retry-base": "soon"}, retry.Policy{}, "retry-base (RETRY_BASE)"},
		{"base without unit", map[string]string{"retry-base": "5"}, retry.Policy{}, "retry-base (RETRY_BASE)"},
		{"zero base", map[string]string{"retry-base": "0s"}, retry.Policy{}, "retry-base (RETRY_BASE): want a positive duration"},
		{"negative base", map[string]string{"retry-base": "-1s"}, retry.Policy{}, "retry-base (RETRY_BASE): want a positive duration"},
		{"empty base", map[string]string{"retry-base": ""}, retry.Policy{}, "retry-base (RETRY_BASE)"},
		{"max not a duration", map[string]string{"retry-max": "5"}, retry.Policy{}, "retry-max (RETRY_MAX)"},
		{"max below base", map[string]string{"retry-max": "1ms"}, retry.Policy{}, "retry-max (RETRY_MAX): want at least retry-base (RETRY_BASE)"},
		{"attempts not a number", map[string]string{"retry-max-attempts": "many"}, retry.Policy{}, "retry-max-attempts (RETRY_MAX_ATTEMPTS)"},
		{"zero attempts", map[string]string{"retry-max-attempts": "0"}, retry.Policy{}, "retry-max-attempts (RETRY_MAX_ATTEMPTS): want a whole number of at least 1"},
		{"negative attempts", map[string]string{"retry-max-attempts": "-3"}, retry.Policy{}, "retry-max-attempts (RETRY_MAX_ATTEMPTS)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := map[string]string{}
			for k, v := range defaults {
				opts[k] = v
			}
			for k, v := range tt.set {
				opts[k] = v
			}
			p, err := boot.RetryPolicy(opts)
			if tt.errHas == "" {
				if err != nil || p != tt.want {
					t.Fatalf("RetryPolicy(%v) = %+v, %v; want %+v", tt.set, p, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("RetryPolicy(%v) = %v; want an error containing %q", tt.set, err, tt.errHas)
			}
		})
	}
}

// Each option is a flag that names its environment variable and default.
func TestRetryOptions_HelpNamesFlagEnvAndDefault(t *testing.T) {
	spec := boot.Spec{Name: "test", Options: boot.RetryOptions()}
	var out syncBuffer
	if err := boot.Run(t.Context(), spec, []string{"test", "-h"}, func(string) string { return "" }, &out); err != nil {
		t.Fatalf("run -h: %v", err)
	}
	for _, want := range []string{"-retry-base", "RETRY_BASE", `(default "1s")`, "-retry-max ", "RETRY_MAX)", `(default "5m0s")`, "-retry-max-attempts", "RETRY_MAX_ATTEMPTS", `(default "20")`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help does not mention %s:\n%s", want, out.String())
		}
	}
}
