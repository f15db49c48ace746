// Package admissionflag reads the settings of an admission.Limiter from
// flags and environment variables, kept apart from package admission so
// that the use cases that hold a limiter import nothing of the process
// setup.
package admissionflag

import (
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/kassa-dev/kassa/services/platform/admission"
	"github.com/kassa-dev/kassa/services/platform/process"
)

// Setting names of a limiter, after a prefix ("" for a server's own
// limit, "buyer-" for the order service's per-buyer one).
const (
	NameMaxInFlight = "max-in-flight"
	NameMaxQueue    = "max-queue"
	NameMaxWait     = "max-wait"
)

// Usage is the help of each setting; what says what is limited.
func Usage(what string) map[string]string {
	return map[string]string{
		NameMaxInFlight: "most " + what + " served at once; more wait in a short queue or are refused with RESOURCE_EXHAUSTED (HTTP 429) and Retry-After; 0 admits everything",
		NameMaxQueue:    "most " + what + " waiting for a free slot; more are refused at once",
		NameMaxWait:     "longest wait for a free slot before a call is refused; one whose own deadline or the expected wait is longer is refused at once",
	}
}

// Defaults are def's settings as text, by setting name.
func Defaults(def admission.Config) map[string]string {
	return map[string]string{
		NameMaxInFlight: strconv.Itoa(def.MaxInFlight),
		NameMaxQueue:    strconv.Itoa(def.MaxQueue),
		NameMaxWait:     def.MaxWait.String(),
	}
}

// Parse reads the settings of a limiter from text (by setting name, as
// Defaults gives them) over def, naming the flag and environment variable
// of a bad value.
func Parse(prefix string, text map[string]string, def admission.Config) (admission.Config, error) {
	c := def
	bad := func(name, want string) error {
		return fmt.Errorf("%s (%s): want %s, got %q", prefix+name, process.EnvName(prefix+name), want, text[name])
	}
	var err error
	if c.MaxInFlight, err = strconv.Atoi(text[NameMaxInFlight]); err != nil || c.MaxInFlight < 0 {
		return c, bad(NameMaxInFlight, "0 (off) or a positive integer")
	}
	if c.MaxQueue, err = strconv.Atoi(text[NameMaxQueue]); err != nil || c.MaxQueue < 0 {
		return c, bad(NameMaxQueue, "0 or a positive integer")
	}
	if c.MaxWait, err = time.ParseDuration(text[NameMaxWait]); err != nil || c.MaxWait < 0 {
		return c, bad(NameMaxWait, "a duration such as 50ms, or 0")
	}
	return c, c.Validate()
}

// RegisterFlags declares the settings of a limiter on fs, each defaulting
// to its environment variable and then to def: <prefix>max-in-flight,
// <prefix>max-queue and <prefix>max-wait (env <PREFIX>MAX_IN_FLIGHT, ...).
// what says what is limited, in the flags' help. Call the returned load
// after fs.Parse.
func RegisterFlags(fs *flag.FlagSet, getenv func(string) string, prefix, what string, def admission.Config) (load func() (admission.Config, error)) {
	usage, defaults := Usage(what), Defaults(def)
	values := map[string]*string{}
	for _, name := range []string{NameMaxInFlight, NameMaxQueue, NameMaxWait} {
		env := process.EnvName(prefix + name)
		values[name] = fs.String(prefix+name, process.EnvOr(getenv, env, defaults[name]), fmt.Sprintf("%s (env %s)", usage[name], env))
	}
	return func() (admission.Config, error) {
		text := map[string]string{}
		for name, v := range values {
			text[name] = *v
		}
		return Parse(prefix, text, def)
	}
}
