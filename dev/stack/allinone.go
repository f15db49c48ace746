package stack

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

// The all-in-one mode (Options.AllInOne): one process, the kassa binary of
// services/allinone, runs the gateway and the four services, which call
// each other in process. The stack's API stays the same: every component
// keeps its name, its ports (BaseURL, Addr, AdminURL) and its database
// (DatabaseURL). What differs is what can be controlled alone: the five
// share one process, named AllInOne, so Kill, Terminate and Start take
// that name and refuse a component's (ErrOneProcess), and Running of a
// component reports whether the process runs. PID gives the one process
// for every component's name, Processes lists it alone.

// AllInOne is the name of the all-in-one process.
const AllInOne = "kassa"

// allInOnePkg is the main package of the all-in-one binary.
const allInOnePkg = "./services/allinone/cmd/kassa"

// userPkg is the user service's binary, which the all-in-one mode builds
// too: its keygen makes the signing keys and its grant-admin gives the
// admin role.
const userPkg = "./services/user/cmd/user"

// ErrOneProcess is the error of Kill, Terminate and Start of a component
// in the all-in-one mode: the component has no process of its own.
type ErrOneProcess struct{ Component string }

func (e ErrOneProcess) Error() string {
	return fmt.Sprintf("%s runs inside the all-in-one process %q: stop or start that one (all five go with it)", e.Component, AllInOne)
}

// processes are the processes of the stack in start order; they stop in
// reverse.
func (s *Stack) processes() []Component {
	if s.opts.AllInOne {
		return []Component{{Name: AllInOne, Pkg: allInOnePkg}}
	}
	return s.components
}

// packages are the main packages to build.
func (s *Stack) packages() []string {
	var pkgs []string
	for _, p := range s.processes() {
		pkgs = append(pkgs, p.Pkg)
	}
	if s.opts.AllInOne {
		pkgs = append(pkgs, userPkg)
	}
	return pkgs
}

// allInOneEnv is the environment of the all-in-one process: each
// component's settings as its own process gets them, under its name
// (USER_DATABASE_URL). The caller's Options.Env stays unprefixed, so it
// applies to every component. GOMAXPROCS is half the machine's cores
// (at least 1) unless the caller sets it: the process shares the machine
// with PostgreSQL, which spends about as much CPU per order as it does,
// and fewer Ps mean fewer threads woken per request. make bench on 2
// cores, 1 against Go's default of 2: 28 % less CPU per order, REST
// peak 1.73x the microservices' instead of 1.67x, p99 at half the peak
// 18.9 instead of 27.5 ms (docs/benchmarks.md).
func (s *Stack) allInOneEnv() []string {
	var settings []string
	for _, c := range s.components {
		prefix := strings.ToUpper(c.Name) + "_"
		own := []string{
			"LISTEN_ADDR=" + fmt.Sprintf("127.0.0.1:%d", c.Port),
			"ADMIN_ADDR=" + fmt.Sprintf("127.0.0.1:%d", c.AdminPort),
		}
		if c.Name != "gateway" {
			own = append(own, "DATABASE_URL="+s.dbURLs[c.Name])
		}
		for _, kv := range append(own, s.authEnv().settings(c.Name)...) {
			settings = append(settings, prefix+kv)
		}
	}
	settings = append(settings, "LOG_FORMAT="+s.opts.LogFmt)
	return withProcs(append(append(os.Environ(), settings...), s.opts.Env...), allInOneProcs())
}

// allInOneProcs is the all-in-one process's GOMAXPROCS: half the cores.
func allInOneProcs() int { return max(1, runtime.NumCPU()/2) }

// owner is the process that runs component name: its own, or the
// all-in-one process.
func (s *Stack) owner(name string) string {
	if s.opts.AllInOne {
		if _, ok := s.component(name); ok {
			return AllInOne
		}
	}
	return name
}

// PID is the process id of the process that runs component name (in the
// all-in-one mode the one process, for every name), or 0 when it does not
// run. The benchmark reads its CPU time and RSS from /proc/<pid>.
func (s *Stack) PID(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.procs[s.owner(name)]
	if p == nil || p.cmd.Process == nil {
		return 0
	}
	select {
	case <-p.done:
		return 0
	default:
		return p.cmd.Process.Pid
	}
}

// Processes maps the name of each running process to its pid: the five
// components, or AllInOne alone.
func (s *Stack) Processes() map[string]int {
	out := map[string]int{}
	for _, p := range s.processes() {
		if pid := s.PID(p.Name); pid != 0 {
			out[p.Name] = pid
		}
	}
	return out
}
