// Package profile sums a CPU profile by what the time was spent on:
// network system calls, goroutine wake-ups, garbage collection, logging,
// tracing, the database driver, gRPC, encoding, kassa's own code. Each
// sample goes to the category of its innermost frame that has one, so a
// wrapper (a logging interceptor around the whole handler, say) is only
// charged for the samples in its own code, not for everything it calls.
package profile

import (
	"bufio"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Category is a kind of work with the frame prefixes that identify it.
type Category struct {
	Name     string
	Prefixes []string
}

// Categories in no particular priority: a frame belongs to at most one.
var Categories = []Category{
	{"network syscalls", []string{"internal/runtime/syscall.", "syscall.", "internal/poll."}},
	{"scheduler, wake-ups", []string{"runtime.futex", "runtime.findRunnable", "runtime.schedule", "runtime.netpoll",
		"runtime.park_m", "runtime.mcall", "runtime.notesleep", "runtime.notewakeup", "runtime.usleep", "runtime.stealWork",
		"runtime.runqgrab", "runtime.wakep", "runtime.startm", "runtime.stopm", "runtime.ready", "runtime.goready",
		"runtime.lock2", "runtime.unlock2", "runtime.osyield", "runtime.gopark", "runtime.goexit0", "runtime.newproc"}},
	{"GC, allocation", []string{"runtime.mallocgc", "runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.gcDrain",
		"runtime.scanobject", "runtime.greyobject", "runtime.markroot", "runtime.newobject", "runtime.makeslice",
		"runtime.growslice", "runtime.makemap", "runtime.(*mheap)", "runtime.(*mcache)", "runtime.(*mcentral)",
		"runtime.sweepone", "runtime.bgsweep", "runtime.bgscavenge", "runtime.(*sweepLocked)", "runtime.gcStart",
		"runtime.concatstring", "runtime.slicebytetostring", "runtime.rawstring", "runtime.convT"}},
	{"logging", []string{"log/slog.", "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging."}},
	{"tracing", []string{"go.opentelemetry.io/", "github.com/XSAM/otelsql."}},
	{"metrics", []string{"github.com/prometheus/"}},
	{"database driver", []string{"github.com/lib/pq.", "database/sql.", "github.com/jmoiron/sqlx."}},
	{"gRPC, HTTP/2", []string{"google.golang.org/grpc.", "google.golang.org/grpc/", "golang.org/x/net/http2"}},
	{"HTTP/1 server", []string{"net/http.", "net/textproto.", "bufio."}},
	{"protobuf, JSON", []string{"google.golang.org/protobuf/", "encoding/json.", "github.com/grpc-ecosystem/grpc-gateway/v2/runtime."}},
	{"kassa code", []string{"github.com/kassa-dev/kassa/"}},
}

// Other collects samples with no categorised frame.
const Other = "other"

// Classify returns the category of a stack, innermost frame first.
func Classify(stack []string) string {
	for _, frame := range stack {
		for _, c := range Categories {
			for _, p := range c.Prefixes {
				if strings.HasPrefix(frame, p) {
					return c.Name
				}
			}
		}
	}
	return Other
}

// Breakdown is CPU time by category.
type Breakdown struct {
	Total time.Duration
	By    map[string]time.Duration
}

// Share is the fraction of the total spent on category.
func (b Breakdown) Share(category string) float64 {
	if b.Total == 0 {
		return 0
	}
	return float64(b.By[category]) / float64(b.Total)
}

// String lists the categories, largest first, as percentages.
func (b Breakdown) String() string {
	names := make([]string, 0, len(b.By))
	for n := range b.By {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if b.By[names[i]] != b.By[names[j]] {
			return b.By[names[i]] > b.By[names[j]]
		}
		return names[i] < names[j]
	})
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", n, 100*b.Share(n)))
	}
	return strings.Join(parts, ", ")
}

// ParseTraces reads the output of `go tool pprof -traces` for a CPU
// profile: blocks of frames separated by dashed lines, the first frame of
// each prefixed by the block's time.
func ParseTraces(out string) (Breakdown, error) {
	b := Breakdown{By: map[string]time.Duration{}}
	var value time.Duration
	var stack []string
	flush := func() {
		if len(stack) > 0 {
			b.By[Classify(stack)] += value
			b.Total += value
		}
		stack, value = nil, 0
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	started := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			flush()
			started = true
			continue
		}
		if !started || strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(stack) == 0 && value == 0 {
			// "      10ms   runtime.futex": the block's time, then its leaf.
			d, err := time.ParseDuration(f[0])
			if err != nil || len(f) < 2 {
				return b, fmt.Errorf("trace block starts without a time: %q", line)
			}
			value = d
			stack = append(stack, f[1])
			continue
		}
		stack = append(stack, f[0])
	}
	flush()
	if !started {
		return b, fmt.Errorf("no traces in the output")
	}
	return b, sc.Err()
}
