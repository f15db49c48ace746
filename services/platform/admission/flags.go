package admission

import (
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/kassa-dev/kassa/services/platform/process"
)

// Setting names of a limiter, after a prefix ("" for a server's own
// limit, "buyer-" for the order service's per-buyer one).
const (
	FlagMaxInFlight = "max-in-flight"
	FlagMaxQueue    = "max-queue"
	FlagMaxWait     = "max-wait"
)

// Usage is the help of each setting; what says what is limited.
func Usage(what string) map[string]string {
	return map[string]string{
		FlagMaxInFlight: "most " + what + " served at once; more wait in a short queue or are refused with RESOURCE_EXHAUSTED (HTTP 429) and Retry-After; 0 admits everything",
		FlagMaxQueue:    "most " + what + " waiting for a free slot; more are refused at once",
		FlagMaxWait:     "longest wait for a free slot before a call is refused; one whose own deadline or the expected wait is longer is refused at once",
	}
}

// Defaults are def's settings as text, by setting name.
func Defaults(def Config) map[string]string {
	return map[string]string{
		FlagMaxInFlight: strconv.Itoa(def.MaxInFlight),
		FlagMaxQueue:    strconv.Itoa(def.MaxQueue),
		FlagMaxWait:     def.MaxWait.String(),
	}
}

// Parse reads the settings of a limiter from text (by setting name, as
// Defaults gives them) over def, naming the flag and environment variable
// of a bad value.
func Parse(prefix string, text map[string]string, def Config) (Config, error) {
	c := def
	bad := func(name, want string) error {
		return fmt.Errorf("%s (%s): want %s, got %q", prefix+name, process.EnvName(prefix+name), want, text[name])
	}
	var err error
	if c.MaxInFlight, err = strconv.Atoi(text[FlagMaxInFlight]); err != nil || c.MaxInFlight < 0 {
		return c, bad(FlagMaxInFlight, "0 (off) or a positive integer")
	}
	if c.MaxQueue, err = strconv.Atoi(text[FlagMaxQueue]); err != nil || c.MaxQueue < 0 {
		return c, bad(FlagMaxQueue, "0 or a positive integer")
	}
	if c.MaxWait, err = time.ParseDuration(text[FlagMaxWait]); err != nil || c.MaxWait < 0 {
		return c, bad(FlagMaxWait, "a duration such as 50ms, or 0")
	}
	return c, c.Validate()
}

// RegisterFlags declares the settings of a limiter on fs, each defaulting
// to its environment variable and then to def: <prefix>max-in-flight,
// <prefix>max-queue and <prefix>max-wait (env <PREFIX>MAX_IN_FLIGHT, ...).
// what says what is limited, in the flags' help. Call the returned load
// after fs.Parse.
func RegisterFlags(fs *flag.FlagSet, getenv func(string) string, prefix, what string, def Config) (load func() (Config, error)) {
	usage, defaults := Usage(what), Defaults(def)
	values := map[string]*string{}
	for _, name := range []string{FlagMaxInFlight, FlagMaxQueue, FlagMaxWait} {
		env := process.EnvName(prefix + name)
		values[name] = fs.String(prefix+name, process.EnvOr(getenv, env, defaults[name]), fmt.Sprintf("%s (env %s)", usage[name], env))
	}
	return func() (Config, error) {
		text := map[string]string{}
		for name, v := range values {
			text[name] = *v
		}
		return Parse(prefix, text, def)
	}
}
