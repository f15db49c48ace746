package boot

import (
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/kassa-dev/kassa/services/platform/process"
	"github.com/kassa-dev/kassa/services/platform/retry"
)

// Flags declares a service's own settings (Spec.Flags) into typed
// destinations. Each setting is a flag with an environment variable
// fallback, parsed and checked once, before the database is opened, and a
// bad value is refused naming its flag and variable, as the shared
// settings are. The flags are declared as text so that -h shows each
// default as it is written ("15m") and an environment value that does not
// parse is reported like a bad flag, not by the flag package.
type Flags struct {
	fs     *flag.FlagSet
	getenv func(string) string
	parse  []func() error
}

// NewFlags declares settings on fs, their defaults read from the
// environment through getenv. Call Parse after fs.Parse.
func NewFlags(fs *flag.FlagSet, getenv func(string) string) *Flags {
	return &Flags{fs: fs, getenv: getenv}
}

// text declares the flag name and returns its value after fs.Parse.
func (f *Flags) text(name, def, usage string) *string {
	env := process.EnvName(name)
	return f.fs.String(name, process.EnvOr(f.getenv, env, def), fmt.Sprintf("%s (env %s)", usage, env))
}

// String declares a text setting.
func (f *Flags) String(dst *string, name, def, usage string) {
	v := f.text(name, def, usage)
	f.parse = append(f.parse, func() error { *dst = *v; return nil })
}

// PositiveDuration declares a duration longer than zero; def is its
// default as -h shows it ("15m").
func (f *Flags) PositiveDuration(dst *time.Duration, name, def, usage string) {
	v := f.text(name, def, usage)
	f.parse = append(f.parse, func() error {
		d, err := time.ParseDuration(*v)
		if err != nil || d <= 0 {
			return SettingError(name, "want a positive duration such as 30s or 15m, got %q", *v)
		}
		*dst = d
		return nil
	})
}

// Int declares a whole number from min to max; want describes the range
// in the error of a value outside it ("a number from 1 to 1000").
func (f *Flags) Int(dst *int, name string, def, min, max int, usage, want string) {
	v := f.text(name, strconv.Itoa(def), usage)
	f.parse = append(f.parse, func() error {
		n, err := strconv.Atoi(*v)
		if err != nil || n < min || n > max {
			return SettingError(name, "want %s, got %q", want, *v)
		}
		*dst = n
		return nil
	})
}

// Check adds a rule between settings, run after each of them parsed.
func (f *Flags) Check(fn func() error) { f.parse = append(f.parse, fn) }

// Parse converts the parsed flags into the destinations, in declaration
// order, and runs the checks; it returns the first error.
func (f *Flags) Parse() error {
	for _, p := range f.parse {
		if err := p(); err != nil {
			return err
		}
	}
	return nil
}

// RepairInterval declares how often a service's repair loop runs
// (-repair-interval, env REPAIR_INTERVAL): one name in every service that
// has such a loop.
func (f *Flags) RepairInterval(dst *time.Duration, def time.Duration, usage string) {
	f.PositiveDuration(dst, "repair-interval", def.String(), usage)
}

// The settings of the retry schedule of a service's background loops
// (repair, relay): one set of names in every service that has such loops,
// so an operator tunes them the same way everywhere.
const (
	retryBase        = "retry-base"
	retryMax         = "retry-max"
	retryMaxAttempts = "retry-max-attempts"
)

// Retry declares the schedule of the background loops (-retry-base,
// -retry-max, -retry-max-attempts; env RETRY_BASE, RETRY_MAX,
// RETRY_MAX_ATTEMPTS), defaulting to retry.Default.
func (f *Flags) Retry(dst *retry.Policy) {
	base := f.text(retryBase, retry.Default.Base.String(),
		"wait after a background item's first failed attempt; doubled after each further failure")
	maxWait := f.text(retryMax, retry.Default.Max.String(), "longest wait between two background attempts at one item")
	attempts := f.text(retryMaxAttempts, strconv.Itoa(retry.Default.MaxAttempts),
		"failed background attempts after which an item is parked until the admin RPC RetryParked")
	f.parse = append(f.parse, func() error {
		p, err := parseRetry(*base, *maxWait, *attempts)
		*dst = p
		return err
	})
}

// parseRetry reads the retry schedule, naming the flag and environment
// variable of a bad setting.
func parseRetry(base, maxWait, attempts string) (retry.Policy, error) {
	var p retry.Policy
	var err error
	if p.Base, err = time.ParseDuration(base); err != nil || p.Base <= 0 {
		return p, SettingError(retryBase, "want a positive duration such as 1s, got %q", base)
	}
	if p.Max, err = time.ParseDuration(maxWait); err != nil {
		return p, SettingError(retryMax, "want a duration such as 5m, got %q", maxWait)
	}
	if p.Max < p.Base {
		return p, SettingError(retryMax, "want at least %s (%s), %s, got %q", retryBase, process.EnvName(retryBase), p.Base, maxWait)
	}
	if p.MaxAttempts, err = strconv.Atoi(attempts); err != nil || p.MaxAttempts < 1 {
		return p, SettingError(retryMaxAttempts, "want a whole number of at least 1 such as 20, got %q", attempts)
	}
	// The checks above name the setting; Validate stays the policy's own
	// definition of usable.
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("%s, %s, %s: %w", retryBase, retryMax, retryMaxAttempts, err)
	}
	return p, nil
}

// SettingError is the error of a bad value of the setting name: it names
// the flag and its environment variable, then says what is wrong.
func SettingError(name, format string, args ...any) error {
	return fmt.Errorf("%s (%s): %s", name, process.EnvName(name), fmt.Sprintf(format, args...))
}
