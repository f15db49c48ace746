package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kassa-dev/kassa/bench/profile"
)

// profile takes a CPU profile of every service and the gateway while REST
// runs at its peak rate, and an allocation profile after it, into the
// -pprof folder, with a `go tool pprof -top` summary of each.
func (b *bench) profile(ctx context.Context) error {
	if b.cfg.pprofDir == "" || b.res.REST == nil || b.res.REST.Best == nil {
		return nil
	}
	dir, err := filepath.Abs(b.cfg.pprofDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rate := b.res.REST.Best.Rate
	secs := max(1, int(b.cfg.profileTime.Seconds()))
	b.printf("profiling every service for %ds at the REST peak (%.1f requests/s) into %s\n", secs, rate, dir)
	stepDone := make(chan error, 1)
	go func() {
		rec, err := b.step(ctx, b.rest, b.main, "pprof", rate, time.Second, time.Duration(secs+1)*time.Second)
		if err == nil {
			b.stepLine(rec, "")
		}
		stepDone <- err
	}()
	if err := pause(ctx, time.Second); err != nil { // the step's warm-up
		return err
	}
	client := &http.Client{Timeout: time.Duration(secs+30) * time.Second}
	results := make(chan fetched, 5)
	var wg sync.WaitGroup
	for _, name := range b.mode.processes() {
		wg.Go(func() {
			results <- b.fetchProfile(client, dir, name, "profile?seconds="+strconv.Itoa(secs), name+".cpu.pprof")
		})
	}
	wg.Wait()
	close(results)
	if err := <-stepDone; err != nil {
		return err
	}
	b.res.Profiles = map[string]string{}
	for g := range results {
		if g.err != nil {
			b.printf("  %s: no CPU profile: %v\n", g.name, g.err)
			continue
		}
		allocs := b.fetchProfile(client, dir, g.name, "allocs", g.name+".allocs.pprof")
		for _, p := range []fetched{g, allocs} {
			if p.err != nil {
				continue
			}
			if err := b.summarize(ctx, p); err != nil {
				return err
			}
		}
	}
	b.printf("  profiles: %d summaries in %s\n", len(b.res.Profiles), dir)
	return nil
}

// fetched is a profile of process name written to path, or why not.
type fetched struct {
	name, path string
	err        error
}

// fetchProfile writes /debug/pprof/<what> of process name to dir/file.
func (b *bench) fetchProfile(client *http.Client, dir, name, what, file string) fetched {
	path := filepath.Join(dir, file)
	resp, err := client.Get(b.st.AdminURL(name) + "/debug/pprof/" + what)
	if err != nil {
		return fetched{name, path, err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fetched{name, path, fmt.Errorf("GET /debug/pprof/%s: %s (is pprof in this build? it needs PPROF=true)", what, resp.Status)}
	}
	f, err := os.Create(path)
	if err != nil {
		return fetched{name, path, err}
	}
	_, err = io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return fetched{name, path, err}
}

// summarize writes the `go tool pprof -top` summary of profile p next to
// it and lists it in the result; a CPU profile's breakdown by kind of work
// goes to the result and the output too.
func (b *bench) summarize(ctx context.Context, p fetched) error {
	// Flat (where the CPU is spent) and cumulative (on whose behalf).
	var out []byte
	for _, order := range [][]string{{"-top"}, {"-top", "-cum"}} {
		args := append([]string{"tool", "pprof", "-nodecount=45"}, order...)
		if strings.HasSuffix(p.path, ".allocs.pprof") {
			args = append(args, "-sample_index=alloc_space")
		}
		o, err := exec.CommandContext(ctx, "go", append(args, p.path)...).Output()
		if err != nil {
			b.printf("  go tool pprof %s: %v\n", p.path, err)
			break
		}
		out = append(append(out, o...), '\n')
	}
	if strings.HasSuffix(p.path, ".cpu.pprof") {
		if tr, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-traces", p.path).Output(); err == nil {
			if br, err := profile.ParseTraces(string(tr)); err == nil {
				b.res.setBreakdown(p.name, br)
				b.printf("  %-12s CPU %5.2fs: %s\n", p.name, br.Total.Seconds(), br)
			}
		}
	}
	txt := strings.TrimSuffix(p.path, ".pprof") + ".top.txt"
	if err := os.WriteFile(txt, out, 0o644); err != nil {
		return err
	}
	b.res.Profiles[strings.TrimSuffix(filepath.Base(p.path), ".pprof")] = repoPath(b.cfg.root, txt)
	return nil
}

// repoPath names path relative to the repository root when it lies inside
// it, so that a committed result.json names no folder of the machine that
// wrote it; other paths are left as they are.
func repoPath(root, path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return path
	}
	return rel
}
