package boot

import (
	"fmt"
	"github.com/kassa-dev/kassa/services/platform/process"
	"time"
)

// Typed readers of Spec.Options. A service declares a setting once and
// reads it back here, so the same kind of setting is parsed the same way in
// every service and a bad value is refused naming its flag and environment
// variable, as the shared settings are.

// The setting of how often a service's repair loop runs: one name in every
// service that has such a loop.
const repairInterval = "repair-interval"

// RepairIntervalOption is the Spec.Option of how often the repair loop runs
// (-repair-interval, env REPAIR_INTERVAL), by default def. Read it back with
// RepairInterval.
func RepairIntervalOption(def time.Duration, usage string) Option {
	return Option{Name: repairInterval, Default: def.String(), Usage: usage}
}

// RepairInterval reads the interval RepairIntervalOption declared from opts
// (Config.Options).
func RepairInterval(opts map[string]string) (time.Duration, error) {
	return PositiveDuration(opts, repairInterval)
}

// PositiveDuration reads the option name from opts (Config.Options) as a
// duration longer than zero.
func PositiveDuration(opts map[string]string, name string) (time.Duration, error) {
	d, err := time.ParseDuration(opts[name])
	if err != nil || d <= 0 {
		return 0, OptionError(name, "want a positive duration such as 30s or 15m, got %q", opts[name])
	}
	return d, nil
}

// OptionError is the error of a bad value of the Spec.Option name: it
// names the flag and its environment variable, then says what is wrong.
func OptionError(name, format string, args ...any) error {
	return fmt.Errorf("%s (%s): %s", name, process.EnvName(name), fmt.Sprintf(format, args...))
}
