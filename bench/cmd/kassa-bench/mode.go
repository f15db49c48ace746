package main

import "github.com/kassa-dev/kassa/dev/stack"

// mode is how kassa is deployed for a run. Every figure of a run is
// measured in one mode, and result.Runs keeps them by mode, so the report
// and the chart hold as many modes as were measured.
type mode string

const (
	// microservices: one process per service and one for the gateway,
	// the design of record (`make run`).
	microservices mode = "microservices"
)

// modes are the modes a full run measures, in order.
var modes = []mode{microservices}

// apply sets the stack options of mode m.
//
// ALL-IN-ONE: when dev/stack has Options.AllInOne, add a constant
// allinone mode = "allinone", append it to modes, set opts.AllInOne here
// for it, and run bench.measureMode once per mode (bench.go). The process
// lookup in startStack then expects the one process of that mode.
func (m mode) apply(opts *stack.Options) {
	switch m {
	case microservices:
		// The stack's default.
	}
}
