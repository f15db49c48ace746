package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kassa-dev/kassa/bench/ceiling"
	"github.com/kassa-dev/kassa/bench/procstat"
	"github.com/kassa-dev/kassa/bench/target"
	"github.com/kassa-dev/kassa/dev/stack"
	"github.com/kassa-dev/kassa/services/platform/pgcluster"
)

// The services' databases, and the one pgbench uses for the ceiling.
var serviceDBs = []string{"kassa_user", "kassa_billing", "kassa_order", "kassa_notification"}

const ceilingDB = "kassa_bench"

// processes of the stack, in report order; "postgres" is the cluster.
var processNames = []string{"gateway", "user", "billing", "order", "notification", "postgres"}

// bench is one run: the stack it started, the users the load spreads
// over, and the result it fills in. run goes through the phases in order;
// each has a file: stack.go (in the mode of mode.go), users.go,
// ceiling.go, step.go (one load step) and peak.go (the searches and the
// half peak), hot.go, large.go (the large data: lists.go, explain.go),
// check.go, pprof.go. monitor.go and proc.go observe the machine during a
// window, statements.go keeps pg_stat_statements, result.go, report.go and
// large_result.go are result.json, the table and the chart.
type bench struct {
	cfg config
	out io.Writer
	tty bool

	dir        string // the stack's temporary folder
	logFile    *os.File
	st         *stack.Stack
	cluster    *pgcluster.Cluster // only with -pg-params: started here, not by the stack
	pgPort     int
	postmaster int
	pids       map[string]int // service name → pid
	dbs        map[string]*sql.DB

	main, hot *crowd
	rest      *target.REST
	grpc      *target.GRPC

	rssMu   sync.Mutex
	rssPeak map[string]float64 // MiB, highest seen during the peak searches
	trackRS bool

	// stmtsOn: the server runs pg_stat_statements and the windows read it.
	stmtsOn bool
	stmtMu  sync.Mutex

	// ceilingCfg is the measured ceiling run's pgbench configuration, run
	// again after the load (ceilingAgain).
	ceilingCfg *ceiling.Config

	// mode is the deployment the stack runs.
	mode mode
	// plansPage is the query plans page (explain.go) to write.
	plansPage string

	res result
}

func (b *bench) printf(format string, args ...any) { fmt.Fprintf(b.out, format, args...) }

// pause waits d, or less when ctx ends first, which it then returns: the
// wait between retries and polls, and before a window opens.
func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the whole benchmark; a run that was not correct is an error.
func (b *bench) run(ctx context.Context) (err error) {
	if f, ok := b.out.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			b.tty = true
		}
	}
	started := time.Now()
	b.res.Machine = machineFacts()
	b.res.Machine.LoadAvgStart = procstat.LoadAvg()
	b.res.Config = b.cfg.public()
	mode := "full benchmark"
	if b.cfg.smoke {
		mode = "smoke run (correctness only, numbers mean nothing)"
	}
	b.printf("kassa-bench: %s on %d cores, %s; load average %s\n", mode, b.res.Machine.Cores, b.res.Machine.CPUModel, b.res.Machine.LoadAvgStart)

	// Registered first: a stack that fails half-way is cleaned up too.
	defer func() {
		b.stopStack()
		if err != nil {
			b.printLogTail()
		}
	}()
	if err := b.startStack(ctx); err != nil {
		return err
	}
	b.res.Machine.PostgreSQL = b.serverVersion(ctx)
	if err := b.createUsers(ctx); err != nil {
		return err
	}
	if err := b.measureCeiling(ctx); err != nil {
		return err
	}
	// At rest after the ceiling's half minute without requests: right
	// after the users' logins the user service still holds the memory of
	// their password hashes, which the runtime hands back within seconds.
	b.res.RSS = map[string]*rss{}
	for name, v := range b.rss() {
		b.res.RSS[name] = &rss{Rest: v}
	}
	if err := b.measureMode(ctx); err != nil {
		return err
	}
	if !b.cfg.smoke {
		if err := b.ceilingAgain(ctx); err != nil {
			return err
		}
	}
	for name, v := range b.rss() {
		if r := b.res.RSS[name]; r != nil {
			r.AfterLoad = v
		}
	}
	if err := b.check(ctx); err != nil {
		return err
	}
	if err := b.overload(ctx); err != nil {
		return err
	}
	if !b.cfg.smoke && b.cfg.allInOne {
		// After the microservices' stack stopped, so the two never share
		// the machine.
		b.stopStack()
		if err := b.allInOne(ctx); err != nil {
			return err
		}
	}
	b.res.Machine.LoadAvgEnd = procstat.LoadAvg()
	b.res.Seconds = time.Since(started).Seconds()
	b.res.finish(b.cfg.smoke)
	b.res.Targets = append(b.res.Targets, b.res.overloadTargets()...)
	b.res.Targets = append(b.res.Targets, b.res.allInOneTargets()...)
	b.res.print(b.out, b.cfg)
	if err := b.writeFiles(); err != nil {
		return err
	}
	switch {
	case !b.res.Correct:
		return errors.New("the run was not correct (see the problems above)")
	case b.cfg.smoke && b.res.smokeErrors() > 0:
		return fmt.Errorf("%d requests failed at the smoke rate", b.res.smokeErrors())
	case b.cfg.smoke && b.res.PGStatements.Error != "":
		// Not a number: the statements section itself broke.
		return fmt.Errorf("the per-statement numbers broke: %s", b.res.PGStatements.Error)
	case b.cfg.smoke && len(b.res.PlansSeqScans) > 0:
		// A statement that reads a large table whole is a bug however
		// small the smoke's tables are.
		return fmt.Errorf("statements scan large tables sequentially: %s", strings.Join(b.res.PlansSeqScans, "; "))
	}
	return nil
}

// measureMode measures kassa in the mode the stack runs: the empty
// database (the peaks, the half peak, the hot account, the profiles; the
// smoke's short steps), then the large data set.
func (b *bench) measureMode(ctx context.Context) error {
	if b.cfg.smoke {
		if err := b.smokeLoad(ctx); err != nil {
			return err
		}
	} else {
		for _, phase := range []func(context.Context) error{b.peaks, b.halfPeak, b.hotAccount, b.profile} {
			if err := phase(ctx); err != nil {
				return err
			}
		}
	}
	b.res.addRun(b.mode, dataEmpty, b.res.REST, b.res.Half.rest())
	if b.cfg.largeUsers == 0 {
		return nil
	}
	return b.largeData(ctx)
}

// writeFiles writes result.json, the chart and the plans page, those
// that were asked for.
func (b *bench) writeFiles() error {
	if b.cfg.out != "" {
		if err := b.res.write(b.cfg.out); err != nil {
			return err
		}
		b.printf("results written to %s\n", b.cfg.out)
	}
	if b.cfg.chartOut != "" {
		if err := os.WriteFile(b.cfg.chartOut, []byte(b.res.chart()), 0o644); err != nil {
			return err
		}
		b.printf("chart written to %s\n", b.cfg.chartOut)
	}
	if b.cfg.plansOut != "" && b.plansPage != "" {
		if err := os.WriteFile(b.cfg.plansOut, []byte(b.plansPage), 0o644); err != nil {
			return err
		}
		b.printf("query plans written to %s\n", b.cfg.plansOut)
	}
	return nil
}
