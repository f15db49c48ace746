package pgtest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// CPUMeter measures the CPU time a benchmark uses in this process and in
// the PostgreSQL backends serving its database: the server runs on this
// machine, so its cost per operation is part of the result.
type CPUMeter struct {
	db    *sqlx.DB
	start time.Duration
}

// StartCPU starts measuring; call Report when the benchmark loop is done.
func StartCPU(b *testing.B, db *sqlx.DB) *CPUMeter {
	b.Helper()
	return &CPUMeter{db: db, start: cpuNow(b, db)}
}

// Report adds cpu-µs/op to the benchmark's result.
func (m *CPUMeter) Report(b *testing.B) {
	b.Helper()
	used := cpuNow(b, m.db) - m.start
	b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/op")
}

// cpuNow is the CPU time used so far by this process and by the backends
// connected to db's database (read from /proc).
func cpuNow(b *testing.B, db *sqlx.DB) time.Duration {
	b.Helper()
	var self syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		b.Fatal(err)
	}
	total := time.Duration(self.Utime.Nano() + self.Stime.Nano())
	var pids []int
	if err := db.Select(&pids, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`); err != nil {
		b.Fatal(err)
	}
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Skipf("server CPU time not readable (server on another machine?): %v", err)
		}
		// Fields after the command (which may hold spaces) in parentheses;
		// utime and stime are the 14th and 15th, in clock ticks (1/100 s).
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		for _, v := range f[11:13] {
			ticks, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			total += time.Duration(ticks) * 10 * time.Millisecond
		}
	}
	return total
}
