package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// config is the command line.
type config struct {
	root    string
	out     string
	logs    string
	smoke   bool
	keepDir bool
	// allInOne measures the all-in-one mode after the microservices.
	allInOne bool

	users        int
	clients      int
	depositShare float64
	rejectShare  float64
	seed         uint64
	timeout      time.Duration

	ceilingTime   time.Duration
	ceilingWarmup time.Duration
	ceilingTwice  bool
	pgbenchMode   string

	warmup      time.Duration
	step        time.Duration
	maxSteps    int
	refine      int
	factor      float64
	p99Limit    time.Duration
	confirm     int
	halfTime    time.Duration
	halfWarmup  time.Duration
	halfRounds  int
	smokeRate   float64
	sampleEvery time.Duration

	ceilingExtended time.Duration
	pprofDir        string
	pgParams        string
	pgSettings      settingsFlag
	profileTime     time.Duration
	pgStatements    bool

	largeUsers  int
	largeHeavy  int
	listSamples int
	plansOut    string
	chartOut    string
}

func parseFlags(args []string, getenv func(string) string, stdout io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("kassa-bench", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.StringVar(&c.root, "root", getenv("KASSA_ROOT"), "repository root (default: $KASSA_ROOT, else the folder above holding go.work)")
	fs.StringVar(&c.out, "out", "", "write the results as JSON here (default: bench/result.json; none with -smoke)")
	fs.StringVar(&c.logs, "logs", "", "write the stack's process logs here (default: .build/bench-stack.log)")
	fs.BoolVar(&c.smoke, "smoke", false, "a few seconds at a low rate: check that the benchmark and kassa work and are correct, measure nothing")
	fs.BoolVar(&c.keepDir, "keep", false, "keep the stack's temporary folder (cluster, binaries) after the run")
	fs.IntVar(&c.users, "users", 200, "pre-created, funded users the load spreads over")
	fs.IntVar(&c.clients, "clients", 16, "concurrent clients of the load generator, and of pgbench")
	fs.Float64Var(&c.depositShare, "deposit-share", 0.1, "share of requests that are deposits")
	fs.Float64Var(&c.rejectShare, "reject-share", 0.1, "share of orders priced above any balance, so billing declines them")
	fs.Uint64Var(&c.seed, "seed", 1, "workload seed (which user and amount each request gets)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "deadline of each request")
	fs.DurationVar(&c.ceilingTime, "ceiling-time", 15*time.Second, "pgbench duration for the ceiling")
	fs.DurationVar(&c.ceilingWarmup, "ceiling-warmup", 3*time.Second, "unmeasured pgbench run before the ceiling")
	fs.BoolVar(&c.ceilingTwice, "ceiling-twice", true, "measure the ceiling again after the load and take kassa's share of the mean of both runs")
	fs.StringVar(&c.pgbenchMode, "pgbench-mode", "prepared", "pgbench query mode: prepared (the server's best, as kassa sends statements), extended (parsed every time) or simple")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "warm-up of each search step")
	fs.DurationVar(&c.step, "step", 4*time.Second, "measured length of each search step")
	fs.IntVar(&c.maxSteps, "max-steps", 9, "most steps of each peak search")
	fs.IntVar(&c.refine, "refine", 2, "bisection steps after the first failing rate")
	fs.Float64Var(&c.factor, "factor", 1.4, "rate multiplier between search steps")
	fs.DurationVar(&c.p99Limit, "p99-limit", 250*time.Millisecond, "a step whose order p99 exceeds this is past the peak (a queue that keeps growing exceeds it within a step)")
	fs.IntVar(&c.confirm, "confirm", 1, "times a failing search step is measured again before it counts (noise from other work on the machine)")
	fs.DurationVar(&c.halfTime, "half-time", 12*time.Second, "measured time of each target at half the peak, in -half-rounds rounds")
	fs.DurationVar(&c.halfWarmup, "half-warmup", time.Second, "warm-up before each half-peak round")
	fs.IntVar(&c.halfRounds, "half-rounds", 3, "REST and gRPC alternate this many times at half the peak, so both see the same background load")
	fs.DurationVar(&c.ceilingExtended, "ceiling-extended", 8*time.Second, "also run pgbench -M extended (statements parsed every time, as with DB_STATEMENT_CACHE=0) this long; 0 skips it")
	fs.StringVar(&c.pprofDir, "pprof", "", "start the services with PPROF=true and, after the search, take CPU profiles of every service at the REST peak into this folder")
	fs.StringVar(&c.pgParams, "pg-params", "", "experiment: extra connection parameters for the services' PostgreSQL URLs (e.g. binary_parameters=yes); the bench then starts the cluster itself, the same way the stack would")
	fs.Var(&c.pgSettings, "pg-setting", "experiment: a server setting name=value the cluster starts with (repeatable; e.g. commit_delay=200), applied to the ceiling and kassa alike")
	fs.BoolVar(&c.pgStatements, "pg-statements", true, "load pg_stat_statements into the cluster and report each statement's calls and time per request; false measures without its cost")
	fs.DurationVar(&c.profileTime, "profile-time", 10*time.Second, "length of the -pprof CPU profiles")
	fs.Float64Var(&c.smokeRate, "smoke-rate", 20, "requests per second in -smoke")
	fs.BoolVar(&c.allInOne, "all-in-one", true, "after the microservices, measure the all-in-one process on a stack of its own (peaks and half peak; not in the smoke)")
	fs.IntVar(&c.largeUsers, "large-users", 1_000_000, "users of the large data set preloaded after the empty-database run (10 ledger entries and one order each); 0 skips the large-data run")
	fs.IntVar(&c.largeHeavy, "large-heavy", 100_000, "orders of the large data set's heavy user, whose lists are read at their newest and at a deep page half-way")
	fs.IntVar(&c.listSamples, "list-samples", 200, "reads of each list page measured (newest and deep)")
	fs.StringVar(&c.plansOut, "plans", "", "write the query plans page here (default: docs/benchmarks-plans.md; none with -smoke)")
	fs.StringVar(&c.chartOut, "chart", "", "write the chart of orders/s and p99 here (default: docs/benchmarks.svg; none with -smoke)")
	fs.DurationVar(&c.sampleEvery, "sample-every", 100*time.Millisecond, "pg_stat_activity sampling interval during load")
	fs.Usage = func() {
		fmt.Fprintln(stdout, "usage: kassa-bench [flags]\n\nBenchmarks kassa on a fresh throwaway stack against the PostgreSQL ceiling (see docs/benchmarks.md).\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.smoke {
		// Small and short unless asked otherwise.
		for name, apply := range map[string]func(){
			"users":            func() { c.users = 10 },
			"clients":          func() { c.clients = 4 },
			"ceiling-time":     func() { c.ceilingTime = 2 * time.Second },
			"ceiling-warmup":   func() { c.ceilingWarmup = 0 },
			"step":             func() { c.step = 3 * time.Second },
			"warmup":           func() { c.warmup = 500 * time.Millisecond },
			"ceiling-extended": func() { c.ceilingExtended = 0 },
			"large-users":      func() { c.largeUsers = 10_000 },
			"large-heavy":      func() { c.largeHeavy = 2_000 },
			"list-samples":     func() { c.listSamples = 10 },
		} {
			if !set[name] {
				apply()
			}
		}
	}
	if c.root == "" {
		root, err := findRoot()
		if err != nil {
			return c, err
		}
		c.root = root
	}
	root, err := filepath.Abs(c.root)
	if err != nil {
		return c, err
	}
	c.root = root
	if !c.smoke {
		for _, f := range []struct {
			v    *string
			path string
		}{{&c.out, "bench/result.json"}, {&c.plansOut, "docs/benchmarks-plans.md"}, {&c.chartOut, "docs/benchmarks.svg"}} {
			if *f.v == "" {
				*f.v = filepath.Join(c.root, filepath.FromSlash(f.path))
			}
		}
	}
	if c.logs == "" {
		c.logs = filepath.Join(c.root, ".build", "bench-stack.log")
	}
	switch {
	case c.users < 1 || c.clients < 1:
		return c, errors.New("-users and -clients must be at least 1")
	case c.factor <= 1:
		return c, errors.New("-factor must be above 1")
	case c.smokeRate <= 0:
		return c, errors.New("-smoke-rate must be positive")
	case c.halfRounds < 1:
		return c, errors.New("-half-rounds must be at least 1")
	case c.largeUsers != 0 && (c.largeUsers < 2 || c.largeHeavy < 2):
		return c, errors.New("-large-users and -large-heavy must be at least 2 (or -large-users 0)")
	case c.listSamples < 1:
		return c, errors.New("-list-samples must be at least 1")
	}
	return c, nil
}

// findRoot walks up from the working directory to the folder holding
// go.work and services/platform.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "services", "platform")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root not found above the working directory: pass -root")
		}
		dir = parent
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c, err := parseFlags(args, getenv, stdout)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	b := &bench{cfg: c, out: stdout, mode: microservices}
	return b.run(ctx)
}

// settingsFlag collects repeated name=value flags.
type settingsFlag struct{ m map[string]string }

func (f *settingsFlag) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(f.m)) {
		parts = append(parts, k+"="+f.m[k])
	}
	return strings.Join(parts, " ")
}

func (f *settingsFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	// The settings reach the server on pg_ctl's command line, so nothing
	// that could split or quote an option there.
	if !ok || name == "" || value == "" || strings.ContainsAny(s, " \t'\"\\") {
		return fmt.Errorf("want name=value, got %q", s)
	}
	if f.m == nil {
		f.m = map[string]string{}
	}
	f.m[name] = value
	return nil
}
