package boot_test

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/boot"
	"github.com/kassa-dev/kassa/services/platform/retry"
)

// parseFlags declares settings with declare, parses args and reads them
// back, as Run does with Spec.Flags.
func parseFlags(t *testing.T, declare func(*boot.Flags), args []string, env map[string]string) error {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := boot.NewFlags(fs, func(k string) string { return env[k] })
	declare(f)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return f.Parse()
}

// Flags.Retry's defaults are retry.Default, other values are taken as
// given, and a bad one is refused with the flag and the environment
// variable that set it.
func TestFlagsRetry(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		want   retry.Policy
		errHas string // "" when the policy is valid
	}{
		{"defaults", nil, retry.Default, ""},
		{"custom", []string{"-retry-base", "2s", "-retry-max", "1m", "-retry-max-attempts", "5"},
			retry.Policy{Base: 2 * time.Second, Max: time.Minute, MaxAttempts: 5}, ""},
		{"max equal to base", []string{"-retry-base", "1m", "-retry-max", "1m"},
			retry.Policy{Base: time.Minute, Max: time.Minute, MaxAttempts: retry.Default.MaxAttempts}, ""},
		{"one attempt", []string{"-retry-max-attempts", "1"},
			retry.Policy{Base: retry.Default.Base, Max: retry.Default.Max, MaxAttempts: 1}, ""},
		{"base not a duration", []string{"-retry-base", "soon"}, retry.Policy{}, "retry-base (RETRY_BASE)"},
		{"base without unit", []string{"-retry-base", "5"}, retry.Policy{}, "retry-base (RETRY_BASE)"},
		{"zero base", []string{"-retry-base", "0s"}, retry.Policy{}, "retry-base (RETRY_BASE): want a positive duration"},
		{"negative base", []string{"-retry-base", "-1s"}, retry.Policy{}, "retry-base (RETRY_BASE): want a positive duration"},
		{"empty base", []string{"-retry-base", ""}, retry.Policy{}, "retry-base (RETRY_BASE)"},
		{"max not a duration", []string{"-retry-max", "5"}, retry.Policy{}, "retry-max (RETRY_MAX)"},
		{"max below base", []string{"-retry-max", "1ms"}, retry.Policy{}, "retry-max (RETRY_MAX): want at least retry-base (RETRY_BASE)"},
		{"attempts not a number", []string{"-retry-max-attempts", "many"}, retry.Policy{}, "retry-max-attempts (RETRY_MAX_ATTEMPTS)"},
		{"zero attempts", []string{"-retry-max-attempts", "0"}, retry.Policy{}, "retry-max-attempts (RETRY_MAX_ATTEMPTS): want a whole number of at least 1"},
		{"negative attempts", []string{"-retry-max-attempts", "-3"}, retry.Policy{}, "retry-max-attempts (RETRY_MAX_ATTEMPTS)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p retry.Policy
			err := parseFlags(t, func(f *boot.Flags) { f.Retry(&p) }, tt.args, nil)
			if tt.errHas == "" {
				if err != nil || p != tt.want {
					t.Fatalf("Retry(%v) = %+v, %v; want %+v", tt.args, p, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("Retry(%v) = %v; want an error containing %q", tt.args, err, tt.errHas)
			}
		})
	}
}

// A setting falls back to its environment variable, and a bad value from
// there is refused by the same name.
func TestFlags_EnvironmentFallback(t *testing.T) {
	var d time.Duration
	declare := func(f *boot.Flags) { f.RepairInterval(&d, 30*time.Second, "how often") }
	if err := parseFlags(t, declare, nil, map[string]string{"REPAIR_INTERVAL": "1m30s"}); err != nil || d != 90*time.Second {
		t.Fatalf("REPAIR_INTERVAL=1m30s: %v, %v; want 1m30s", d, err)
	}
	if err := parseFlags(t, declare, []string{"-repair-interval", "2s"}, map[string]string{"REPAIR_INTERVAL": "1m"}); err != nil || d != 2*time.Second {
		t.Fatalf("flag over env: %v, %v; want the flag's 2s", d, err)
	}
	err := parseFlags(t, declare, nil, map[string]string{"REPAIR_INTERVAL": "often"})
	if err == nil || !strings.Contains(err.Error(), `repair-interval (REPAIR_INTERVAL): want a positive duration such as 30s or 15m, got "often"`) {
		t.Fatalf("REPAIR_INTERVAL=often: %v", err)
	}
}

// The typed settings refuse what is not in range, naming flag and
// variable, and Check runs after every setting has its value.
func TestFlags_TypedSettings(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		errHas string
	}{
		{"defaults", nil, ""},
		{"zero interval", []string{"-repair-interval", "0s"}, "repair-interval (REPAIR_INTERVAL): want a positive duration"},
		{"negative interval", []string{"-repair-interval", "-1s"}, "repair-interval (REPAIR_INTERVAL)"},
		{"no unit", []string{"-repair-interval", "30"}, `got "30"`},
		{"empty", []string{"-repair-interval", ""}, "repair-interval (REPAIR_INTERVAL)"},
		{"int too small", []string{"-count", "0"}, `count (COUNT): want a number from 1 to 9, got "0"`},
		{"int not a number", []string{"-count", "x"}, "count (COUNT)"},
		{"check between settings", []string{"-count", "9"}, "count (COUNT): must stay below 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				d    time.Duration
				n    int
				name string
			)
			err := parseFlags(t, func(f *boot.Flags) {
				f.RepairInterval(&d, 30*time.Second, "how often")
				f.Int(&n, "count", 3, 1, 9, "how many", "a number from 1 to 9")
				f.String(&name, "label", "x", "a name")
				f.Check(func() error {
					if n == 9 {
						return boot.SettingError("count", "must stay below 9")
					}
					return nil
				})
			}, tt.args, nil)
			if tt.errHas == "" {
				if err != nil || d != 30*time.Second || n != 3 || name != "x" {
					t.Fatalf("defaults: %v %v %q, %v", d, n, name, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("%v = %v; want an error containing %q", tt.args, err, tt.errHas)
			}
		})
	}
}

// Each retry setting is a flag that names its environment variable and
// default.
func TestFlagsRetry_HelpNamesFlagEnvAndDefault(t *testing.T) {
	var p retry.Policy
	spec := boot.Spec{Name: "test", Flags: func(f *boot.Flags) { f.Retry(&p) }}
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
