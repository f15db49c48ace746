package boot

import (
	"time"

	"github.com/kassa-dev/kassa/services/platform/admission"
	"github.com/kassa-dev/kassa/services/platform/admission/admissionflag"
)

// DefaultAdmission is every service's own bound (-max-in-flight,
// -max-queue, -max-wait): somewhat more calls than the default database
// pool has connections, since a call also waits on its peers without
// holding one, and a queue that is shed within 50ms, so a refusal is
// quick and a queued call still has its deadline's worth of time left.
var DefaultAdmission = admission.Config{MaxInFlight: 64, MaxQueue: 64, MaxWait: 50 * time.Millisecond}

// LimitOptions are the Spec.Options of a limit of the service's own
// (<prefix>max-in-flight, <prefix>max-queue, <prefix>max-wait), such as
// the order service's bound on the orders of one buyer; what says what is
// limited. Read them back with Limit.
func LimitOptions(prefix, what string, def admission.Config) []Option {
	usage, defaults := admissionflag.Usage(what), admissionflag.Defaults(def)
	var out []Option
	for _, name := range []string{admissionflag.NameMaxInFlight, admissionflag.NameMaxQueue, admissionflag.NameMaxWait} {
		out = append(out, Option{Name: prefix + name, Default: defaults[name], Usage: usage[name]})
	}
	return out
}

// Limit reads the limit LimitOptions declared from opts (Config.Options)
// over def, naming the flag and variable of a bad setting.
func Limit(opts map[string]string, prefix string, def admission.Config) (admission.Config, error) {
	text := map[string]string{}
	for _, name := range []string{admissionflag.NameMaxInFlight, admissionflag.NameMaxQueue, admissionflag.NameMaxWait} {
		text[name] = opts[prefix+name]
	}
	return admissionflag.Parse(prefix, text, def)
}
