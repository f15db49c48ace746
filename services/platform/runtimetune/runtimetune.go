// Package runtimetune applies the Go runtime settings kassa's processes
// run with unless the operator chose otherwise.
package runtimetune

import (
	"runtime/debug"
	"strconv"
)

// DefaultGCPercent is the GC target kassa's processes use when GOGC is not
// set. A kassa process keeps little live heap (a few MiB: pools, caches,
// in-flight requests) but allocates tens of KB per request, so Go's default
// of 100 collects several hundred times a second under load and GC takes
// 14-23 % of each process's CPU (docs/benchmarks.md). 400 lets the heap
// grow to five times the live data, which is still far below the memory a
// process may use (about 25 MiB resident at rest), and collects a quarter
// as often.
const DefaultGCPercent = 400

// Applied says which GC target is in force and where it came from, for
// the start-up log line.
type Applied struct {
	GCPercent int
	Source    string // "GOGC" when the operator set it, "default" otherwise
}

// Apply sets DefaultGCPercent unless GOGC is set (the runtime has read it
// already), and reports the target in force.
func Apply(getenv func(string) string) Applied {
	if v := getenv("GOGC"); v != "" {
		percent := debug.SetGCPercent(-1) // read the value the runtime parsed...
		debug.SetGCPercent(percent)       // ...and put it back
		return Applied{GCPercent: percent, Source: "GOGC"}
	}
	debug.SetGCPercent(DefaultGCPercent)
	return Applied{GCPercent: DefaultGCPercent, Source: "default"}
}

// String is the target as the log shows it: "400 (default)", "off (GOGC)".
func (a Applied) String() string {
	p := strconv.Itoa(a.GCPercent)
	if a.GCPercent < 0 {
		p = "off"
	}
	return p + " (" + a.Source + ")"
}
