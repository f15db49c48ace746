package boot

import (
	"fmt"
	"strconv"
	"time"

	"github.com/kassa-dev/kassa/services/platform/process"
	"github.com/kassa-dev/kassa/services/platform/retry"
)

// The settings of the retry schedule of a service's background loops
// (repair, relay): one set of names in every service that has such loops,
// so an operator tunes them the same way everywhere.
const (
	retryBase        = "retry-base"
	retryMax         = "retry-max"
	retryMaxAttempts = "retry-max-attempts"
)

// RetryOptions are the Spec.Options of the background retry schedule
// (-retry-base, -retry-max, -retry-max-attempts; env RETRY_BASE, RETRY_MAX,
// RETRY_MAX_ATTEMPTS), defaulting to retry.Default. Read them back with
// RetryPolicy.
func RetryOptions() []Option {
	return []Option{
		{Name: retryBase, Default: retry.Default.Base.String(),
			Usage: "wait after a background item's first failed attempt; doubled after each further failure"},
		{Name: retryMax, Default: retry.Default.Max.String(),
			Usage: "longest wait between two background attempts at one item"},
		{Name: retryMaxAttempts, Default: strconv.Itoa(retry.Default.MaxAttempts),
			Usage: "failed background attempts after which an item is parked until the admin RPC RetryParked"},
	}
}

// RetryPolicy reads the schedule RetryOptions declared from opts
// (Config.Options), naming the flag and environment variable of a bad
// setting.
func RetryPolicy(opts map[string]string) (retry.Policy, error) {
	bad := func(name, want string) error {
		return fmt.Errorf("%s (%s): want %s, got %q", name, process.EnvName(name), want, opts[name])
	}
	var p retry.Policy
	var err error
	if p.Base, err = time.ParseDuration(opts[retryBase]); err != nil || p.Base <= 0 {
		return p, bad(retryBase, "a positive duration such as 1s")
	}
	if p.Max, err = time.ParseDuration(opts[retryMax]); err != nil {
		return p, bad(retryMax, "a duration such as 5m")
	}
	if p.Max < p.Base {
		return p, bad(retryMax, fmt.Sprintf("at least %s (%s), %s", retryBase, process.EnvName(retryBase), p.Base))
	}
	if p.MaxAttempts, err = strconv.Atoi(opts[retryMaxAttempts]); err != nil || p.MaxAttempts < 1 {
		return p, bad(retryMaxAttempts, "a whole number of at least 1 such as 20")
	}
	// The checks above name the setting; Validate stays the policy's own
	// definition of usable.
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("%s, %s, %s: %w", retryBase, retryMax, retryMaxAttempts, err)
	}
	return p, nil
}
