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

// Limit declares a limit of the service's own (<prefix>max-in-flight,
// <prefix>max-queue, <prefix>max-wait, env <PREFIX>MAX_IN_FLIGHT, ...)
// over def, such as the order service's bound on the orders of one buyer;
// what says what is limited. A bad setting is refused naming its flag and
// variable.
func (f *Flags) Limit(dst *admission.Config, prefix, what string, def admission.Config) {
	load := admissionflag.RegisterFlags(f.fs, f.getenv, prefix, what, def)
	f.parse = append(f.parse, func() error {
		c, err := load()
		*dst = c
		return err
	})
}
