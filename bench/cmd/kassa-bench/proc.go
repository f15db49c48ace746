package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/kassa-dev/kassa/bench/procstat"
)

// cpuSnapshot is the CPU time of each process of the stack.
type cpuSnapshot struct {
	at    time.Time
	ticks map[string]int64
	// reads counts read system calls of the Go processes and voluntary
	// context switches of PostgreSQL's: about one per round trip each.
	reads   map[string]int64
	machine procstat.MachineCPU
}

func (b *bench) cpuSnapshot() cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), ticks: map[string]int64{}, reads: map[string]int64{}}
	procs, err := procstat.Processes()
	if err != nil {
		return s
	}
	for name, pid := range b.pids {
		s.ticks[name] = procs[pid].CPU()
		if io, err := procstat.ReadIO(pid); err == nil {
			s.reads[name] = io.ReadCalls
		}
	}
	// PostgreSQL: the postmaster, every backend and auxiliary process, and
	// the children it has already reaped.
	var pg int64
	for _, pid := range procstat.Descendants(procs, b.postmaster) {
		pg += procs[pid].CPU()
	}
	pm := procs[b.postmaster]
	s.ticks["postgres"] = pg + pm.CUTime + pm.CSTime
	// This process: the load generator, and the stack runner copying the
	// services' logs.
	s.ticks["kassa-bench"] = procs[os.Getpid()].CPU()
	s.machine, _ = procstat.ReadMachineCPU()
	return s
}

func (s cpuSnapshot) since(a cpuSnapshot) map[string]float64 {
	d := s.at.Sub(a.at)
	out := map[string]float64{}
	for name, t := range s.ticks {
		out[name] = procstat.Cores(t-a.ticks[name], d)
	}
	return out
}

// readsSince is read system calls per second by process.
func (s cpuSnapshot) readsSince(a cpuSnapshot) map[string]float64 {
	d := s.at.Sub(a.at).Seconds()
	out := map[string]float64{}
	if d <= 0 {
		return out
	}
	for name, n := range s.reads {
		if before, ok := a.reads[name]; ok {
			out[name] = float64(n-before) / d
		}
	}
	return out
}

func (s cpuSnapshot) machineSince(a cpuSnapshot) machineCPU {
	d := s.at.Sub(a.at)
	return machineCPU{
		Busy:   procstat.Cores(s.machine.Busy-a.machine.Busy, d),
		IOWait: procstat.Cores(s.machine.IOWait-a.machine.IOWait, d),
		Idle:   procstat.Cores(s.machine.Idle-a.machine.Idle, d),
		Steal:  procstat.Cores(s.machine.Steal-a.machine.Steal, d),
	}
}

// rss reads the resident memory of every process in MiB: VmRSS of the
// services, and the proportional set (PSS) summed over PostgreSQL's
// processes, which counts its shared buffers once.
func (b *bench) rss() map[string]float64 {
	out := map[string]float64{}
	for name, pid := range b.pids {
		if n, err := procstat.RSS(pid); err == nil {
			out[name] = mib(n)
		}
	}
	if procs, err := procstat.Processes(); err == nil {
		var total int64
		for _, pid := range procstat.Descendants(procs, b.postmaster) {
			if n, err := procstat.Pss(pid); err == nil {
				total += n
			}
		}
		out["postgres"] = mib(total)
	}
	return out
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func (b *bench) trackRSS(on bool) {
	b.rssMu.Lock()
	b.trackRS = on
	b.rssMu.Unlock()
}

func (b *bench) sampleRSS() {
	b.rssMu.Lock()
	on := b.trackRS
	b.rssMu.Unlock()
	if !on {
		return
	}
	now := b.rss()
	b.rssMu.Lock()
	defer b.rssMu.Unlock()
	if b.rssPeak == nil {
		b.rssPeak = map[string]float64{}
	}
	for name, v := range now {
		b.rssPeak[name] = max(b.rssPeak[name], v)
	}
}

func machineFacts() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now().UTC().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %f kB", &kb); err == nil {
			m.MemoryGiB = kb / (1 << 20)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		m.Go = strings.TrimSpace(string(out)) // the toolchain that builds the services
	}
	return m
}
