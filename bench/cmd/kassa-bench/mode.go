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
	// allinone: the gateway and the four services in one process, their
	// calls to each other in process (`make run-all`).
	allinone mode = "allinone"
)

// allInOneProcess is the one process of the all-in-one mode.
const allInOneProcess = stack.AllInOne

// apply sets the stack options of mode m.
func (m mode) apply(opts *stack.Options) {
	opts.AllInOne = m == allinone
}

// processes are the names of the Go processes a stack of mode m runs.
func (m mode) processes() []string {
	if m == allinone {
		return []string{allInOneProcess}
	}
	return processNames[:5]
}
