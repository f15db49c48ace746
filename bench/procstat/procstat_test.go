package procstat

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestParseStatWithAwkwardCommand(t *testing.T) {
	// A command name with spaces and a ')' must not shift the fields.
	line := "4242 (postgres: a) b) S 4200 4200 4200 0 -1 4194560 1 0 0 0 250 75 30 12 20 0 1 0 100 1000 50 18446744073709551615\n"
	s, err := ParseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := Stat{PID: 4242, PPID: 4200, Comm: "postgres: a) b", UTime: 250, STime: 75, CUTime: 30, CSTime: 12}
	if s != want {
		t.Errorf("ParseStat = %+v, want %+v", s, want)
	}
	if s.CPU() != 325 {
		t.Errorf("CPU = %d, want 325", s.CPU())
	}
	for _, bad := range []string{"", "12 no parens", "12 (x) S 1 2"} {
		if _, err := ParseStat([]byte(bad)); err == nil {
			t.Errorf("ParseStat(%q) accepted a malformed line", bad)
		}
	}
}

func TestParseMemory(t *testing.T) {
	status := "Name:\tbilling\nVmPeak:\t  900000 kB\nVmRSS:\t   24576 kB\nRssAnon:\t 10000 kB\n"
	if n, err := ParseRSS([]byte(status)); err != nil || n != 24576*1024 {
		t.Errorf("ParseRSS = %d, %v; want 24 MiB", n, err)
	}
	if _, err := ParseRSS([]byte("Name:\tkthreadd\n")); err == nil {
		t.Error("a kernel thread without VmRSS must be an error, not 0")
	}
	rollup := "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:  20000 kB\nPss:  5120 kB\nPss_Dirty:  100 kB\n"
	if n, err := ParsePss([]byte(rollup)); err != nil || n != 5120*1024 {
		t.Errorf("ParsePss = %d, %v; want 5 MiB", n, err)
	}
}

func TestParseMachineCPU(t *testing.T) {
	m, err := ParseMachineCPU([]byte("cpu  100 5 40 800 20 1 2 7 0 0\ncpu0 50 2 20 400 10 0 1 3 0 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (MachineCPU{Busy: 148, IOWait: 20, Idle: 800, Steal: 7}); m != want {
		t.Errorf("ParseMachineCPU = %+v, want %+v", m, want)
	}
	if Cores(200, 2*time.Second) != 1 {
		t.Errorf("200 ticks over 2 s is one core busy, got %v", Cores(200, 2*time.Second))
	}
}

// fakeProc lays out a /proc with a stack: a runner (1), its five services
// started from dir/bin, PostgreSQL (postmaster 20 with two backends, one of
// which has a child) and an unrelated process whose argument merely
// mentions the folder.
func fakeProc(t *testing.T, dir string) {
	t.Helper()
	root := t.TempDir()
	Root = root
	t.Cleanup(func() { Root = "/proc" })
	add := func(pid, ppid int, comm string, args ...string) {
		d := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		stat := strconv.Itoa(pid) + " (" + comm + ") S " + strconv.Itoa(ppid) + " 1 1 0 -1 0 0 0 0 0 10 5 0 0 20 0 1 0 1 1 1"
		cmd := ""
		for _, a := range args {
			cmd += a + "\x00"
		}
		for name, content := range map[string]string{"stat": stat, "cmdline": cmd, "status": "VmRSS:\t" + strconv.Itoa(pid) + " kB\n"} {
			if err := os.WriteFile(filepath.Join(d, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(1, 0, "kassa-bench", "/usr/bin/kassa-bench")
	for i, name := range []string{"billing", "notification", "user", "order", "gateway"} {
		add(10+i, 1, name, filepath.Join(dir, "bin", name))
	}
	add(20, 1, "postgres", "/usr/lib/postgresql/15/bin/postgres", "-D", filepath.Join(dir, "pg", "data"))
	add(21, 20, "postgres", "postgres: postgres kassa_order 127.0.0.1(5000) idle")
	add(22, 20, "postgres", "postgres: walwriter")
	add(23, 22, "sh", "sh")
	add(30, 1, "grep", "grep", filepath.Join(dir, "bin", "gateway"))
	add(31, 1, "other", filepath.Join(dir, "binaries", "x"))
	if err := os.MkdirAll(filepath.Join(root, "self"), 0o755); err != nil { // not a pid
		t.Fatal(err)
	}
}

func TestFindStackProcesses(t *testing.T) {
	dir := "/tmp/kassa-bench-123"
	fakeProc(t, dir)
	got, err := ByExecutableDir(filepath.Join(dir, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"billing": 10, "notification": 11, "user": 12, "order": 13, "gateway": 14}
	if len(got) != len(want) {
		t.Fatalf("ByExecutableDir = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: pid %d, want %d", k, got[k], v)
		}
	}
	procs, err := Processes()
	if err != nil {
		t.Fatal(err)
	}
	tree := Descendants(procs, 20)
	slices.Sort(tree)
	if !slices.Equal(tree, []int{20, 21, 22, 23}) {
		t.Errorf("Descendants(20) = %v, want the postmaster, its backends and their child", tree)
	}
	if d := Descendants(procs, 999); len(d) != 0 {
		t.Errorf("Descendants of a missing pid = %v", d)
	}
	if n, err := RSS(13); err != nil || n != 13*1024 {
		t.Errorf("RSS(13) = %d, %v", n, err)
	}
	if s, err := ReadStat(21); err != nil || s.PPID != 20 || s.UTime != 10 || s.STime != 5 {
		t.Errorf("ReadStat(21) = %+v, %v", s, err)
	}
}

func TestParseIO(t *testing.T) {
	io, err := ParseIO([]byte("rchar: 100\nwchar: 50\nsyscr: 12\nsyscw: 7\nread_bytes: 0\n"))
	if err != nil || io != (IO{ReadCalls: 12, WriteCalls: 7}) {
		t.Errorf("ParseIO = %+v, %v", io, err)
	}
	if _, err := ParseIO([]byte("rchar: 100\n")); err == nil {
		t.Error("ParseIO accepted a file without syscr/syscw")
	}
}
