// Package procstat reads what the benchmark reports about processes from
// Linux's /proc: resident memory, CPU time, and which processes belong to
// the stack under test.
package procstat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// TicksPerSecond is USER_HZ, the unit of the CPU times in /proc; it is 100
// on every Linux architecture Go supports.
const TicksPerSecond = 100

// Root is the proc filesystem (a variable for tests).
var Root = "/proc"

// Stat is the part of /proc/<pid>/stat the benchmark uses.
type Stat struct {
	PID, PPID int
	Comm      string
	// CPU time in ticks: of the process, and of its reaped children.
	UTime, STime, CUTime, CSTime int64
}

// CPU is the process's own CPU time in ticks.
func (s Stat) CPU() int64 { return s.UTime + s.STime }

// ParseStat parses the contents of /proc/<pid>/stat. The command name is
// in parentheses and may itself contain spaces and parentheses, so the
// fields are counted from the last ')'.
func ParseStat(b []byte) (Stat, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return Stat{}, errors.New("stat: no command name in parentheses")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return Stat{}, fmt.Errorf("stat: pid: %w", err)
	}
	// After ')': state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
	f := strings.Fields(string(b[closing+1:]))
	if len(f) < 15 {
		return Stat{}, fmt.Errorf("stat: %d fields after the command name, want at least 15", len(f))
	}
	num := func(field int) int64 { // field numbers as in proc(5)
		n, perr := strconv.ParseInt(f[field-3], 10, 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("stat: field %d: %w", field, perr)
		}
		return n
	}
	s := Stat{PID: pid, Comm: string(b[open+1 : closing]), PPID: int(num(4)),
		UTime: num(14), STime: num(15), CUTime: num(16), CSTime: num(17)}
	return s, err
}

// ReadStat reads /proc/<pid>/stat.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile(filepath.Join(Root, strconv.Itoa(pid), "stat"))
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(b)
}

// field returns the value in kB of a "Name:   123 kB" line.
func field(b []byte, name string) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, false
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		return n, err == nil
	}
	return 0, false
}

// ParseRSS returns VmRSS in bytes from the contents of /proc/<pid>/status.
func ParseRSS(status []byte) (int64, error) {
	kb, ok := field(status, "VmRSS")
	if !ok {
		return 0, errors.New("status: no VmRSS line")
	}
	return kb * 1024, nil
}

// RSS is the resident set of pid in bytes.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(filepath.Join(Root, strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	return ParseRSS(b)
}

// ParsePss returns Pss in bytes from the contents of
// /proc/<pid>/smaps_rollup.
func ParsePss(rollup []byte) (int64, error) {
	kb, ok := field(rollup, "Pss")
	if !ok {
		return 0, errors.New("smaps_rollup: no Pss line")
	}
	return kb * 1024, nil
}

// Pss is the proportional set size of pid in bytes: its private pages plus
// its share of pages mapped by several processes. Summed over PostgreSQL's
// processes it counts the shared buffers once, where summing RSS would
// count them once per backend.
func Pss(pid int) (int64, error) {
	b, err := os.ReadFile(filepath.Join(Root, strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0, err
	}
	return ParsePss(b)
}

// Processes lists the pids in /proc with their stat.
func Processes() (map[int]Stat, error) {
	entries, err := os.ReadDir(Root)
	if err != nil {
		return nil, err
	}
	out := make(map[int]Stat)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		s, err := ReadStat(pid)
		if err != nil {
			continue // exited meanwhile
		}
		out[pid] = s
	}
	return out, nil
}

// Cmdline returns the arguments of pid.
func Cmdline(pid int) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(Root, strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return nil, err
	}
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil, nil
	}
	return strings.Split(string(b), "\x00"), nil
}

// ByExecutableDir finds the processes whose program (argv[0]) lies in dir,
// by base name: what `pgrep -f dir/` finds, without the shell.
func ByExecutableDir(dir string) (map[string]int, error) {
	procs, err := Processes()
	if err != nil {
		return nil, err
	}
	out := make(map[string]int)
	prefix := filepath.Clean(dir) + string(filepath.Separator)
	for pid := range procs {
		args, err := Cmdline(pid)
		if err != nil || len(args) == 0 {
			continue
		}
		if strings.HasPrefix(args[0], prefix) {
			out[filepath.Base(args[0])] = pid
		}
	}
	return out, nil
}

// Descendants returns pid and every process below it.
func Descendants(procs map[int]Stat, pid int) []int {
	children := make(map[int][]int)
	for p, s := range procs {
		children[s.PPID] = append(children[s.PPID], p)
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		out = append(out, p)
		for _, c := range children[p] {
			walk(c)
		}
	}
	if _, ok := procs[pid]; ok {
		walk(pid)
	}
	return out
}

// MachineCPU is the machine's CPU time in ticks from /proc/stat, summed over
// all cores.
type MachineCPU struct {
	// Busy is user, system and interrupt time; Steal is time the
	// hypervisor gave to other guests (noise from neighbours).
	Busy, IOWait, Idle, Steal int64
}

// ParseMachineCPU parses the first ("cpu ") line of /proc/stat.
func ParseMachineCPU(b []byte) (MachineCPU, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 8 || f[0] != "cpu" {
		return MachineCPU{}, errors.New("/proc/stat: no cpu line")
	}
	var v [10]int64
	for i := 1; i < len(f) && i <= 10; i++ {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return MachineCPU{}, fmt.Errorf("/proc/stat: %w", err)
		}
		v[i-1] = n
	}
	// user nice system idle iowait irq softirq steal guest guest_nice;
	// guest time is already included in user.
	return MachineCPU{Busy: v[0] + v[1] + v[2] + v[5] + v[6], IOWait: v[4], Idle: v[3], Steal: v[7]}, nil
}

// ReadMachineCPU reads /proc/stat.
func ReadMachineCPU() (MachineCPU, error) {
	b, err := os.ReadFile(filepath.Join(Root, "stat"))
	if err != nil {
		return MachineCPU{}, err
	}
	return ParseMachineCPU(b)
}

// LoadAvg returns the first three fields of /proc/loadavg.
func LoadAvg() string {
	b, err := os.ReadFile(filepath.Join(Root, "loadavg"))
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// Cores converts a CPU time in ticks over a wall-clock interval into the
// number of cores busy on average.
func Cores(ticks int64, over time.Duration) float64 {
	if over <= 0 {
		return 0
	}
	return float64(ticks) / TicksPerSecond / over.Seconds()
}

// IO is the part of /proc/<pid>/io the benchmark uses: how many read and
// write system calls the process made (sockets included). For a server
// that answers many small requests, reads per request count its round
// trips.
type IO struct {
	ReadCalls, WriteCalls int64
}

// ParseIO parses the contents of /proc/<pid>/io.
func ParseIO(b []byte) (IO, error) {
	var io IO
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "syscr":
			io.ReadCalls, found = n, found+1
		case "syscw":
			io.WriteCalls, found = n, found+1
		}
	}
	if found != 2 {
		return io, errors.New("io: no syscr/syscw lines")
	}
	return io, nil
}

// ReadIO reads /proc/<pid>/io (root, or the process's owner, only).
func ReadIO(pid int) (IO, error) {
	b, err := os.ReadFile(filepath.Join(Root, strconv.Itoa(pid), "io"))
	if err != nil {
		return IO{}, err
	}
	return ParseIO(b)
}
