package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kassa-dev/kassa/bench/ceiling"
	"github.com/kassa-dev/kassa/bench/load"
	"github.com/kassa-dev/kassa/bench/pgstat"
	"github.com/kassa-dev/kassa/bench/pgstmt"
	"github.com/kassa-dev/kassa/bench/procstat"
	"github.com/kassa-dev/kassa/bench/profile"
	"github.com/kassa-dev/kassa/bench/search"
	"github.com/kassa-dev/kassa/bench/target"
	"github.com/kassa-dev/kassa/bench/verify"
	"github.com/kassa-dev/kassa/bench/workload"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/pgcluster"
	"github.com/kassa-dev/kassa/services/platform/stack"
	_ "github.com/lib/pq" // database/sql driver
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The services' databases, and the one pgbench uses for the ceiling.
var serviceDBs = []string{"kassa_user", "kassa_billing", "kassa_order", "kassa_notification"}

const ceilingDB = "kassa_bench"

// processes of the stack, in report order; "postgres" is the cluster.
var processNames = []string{"gateway", "user", "billing", "order", "notification", "postgres"}

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

	gen    *workload.Generator
	users  []string
	tokens []string // users[i]'s access token, from one login before the load
	rest   *target.REST
	grpc   *target.GRPC

	failedMu sync.Mutex
	failed   []int64 // sequence numbers of requests that did not succeed

	rssMu   sync.Mutex
	rssPeak map[string]float64 // MiB, highest seen during the peak searches
	trackRS bool

	// stmtsOn: the server runs pg_stat_statements and the windows read it.
	stmtsOn bool
	stmtMu  sync.Mutex

	// ceilingCfg is the measured ceiling run's pgbench configuration, run
	// again after the load (ceilingAgain).
	ceilingCfg *ceiling.Config

	res result
}

func (b *bench) printf(format string, args ...any) { fmt.Fprintf(b.out, format, args...) }

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
	b.res.RSS = map[string]*rss{}
	for name, v := range b.rss() {
		b.res.RSS[name] = &rss{Rest: v}
	}

	if err := b.measureCeiling(ctx); err != nil {
		return err
	}
	if b.cfg.smoke {
		if err := b.smokeLoad(ctx); err != nil {
			return err
		}
	} else {
		if err := b.peaks(ctx); err != nil {
			return err
		}
		if err := b.halfPeak(ctx); err != nil {
			return err
		}
		if err := b.ceilingAgain(ctx); err != nil {
			return err
		}
		if err := b.profile(ctx); err != nil {
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
	b.res.Machine.LoadAvgEnd = procstat.LoadAvg()
	b.res.Seconds = time.Since(started).Seconds()
	b.res.finish(b.cfg.smoke)
	b.res.print(b.out, b.cfg)
	if b.cfg.out != "" {
		if err := b.res.write(b.cfg.out); err != nil {
			return err
		}
		b.printf("results written to %s\n", b.cfg.out)
	}
	switch {
	case !b.res.Correct:
		return errors.New("the run was not correct (see the problems above)")
	case b.cfg.smoke && b.res.smokeErrors() > 0:
		return fmt.Errorf("%d requests failed at the smoke rate", b.res.smokeErrors())
	case b.cfg.smoke && b.res.PGStatements.Error != "":
		// Not a number: the statements section itself broke.
		return fmt.Errorf("the per-statement numbers broke: %s", b.res.PGStatements.Error)
	}
	return nil
}

// startStack starts PostgreSQL (fsync on), the services and the gateway in
// a temporary folder on free ports, exactly as `make run` would but
// throwaway, and finds its processes and databases.
func (b *bench) startStack(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "kassa-bench-")
	if err != nil {
		return err
	}
	b.dir = dir
	// The cluster may run as the postgres user, who must reach its folder.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(b.cfg.logs), 0o755); err != nil {
		return err
	}
	logs, err := os.Create(b.cfg.logs)
	if err != nil {
		return err
	}
	b.logFile = logs
	if b.cfg.pprofDir != "" {
		// The services inherit this process's environment: PPROF=true opens
		// /debug/pprof/ on their admin listeners (where the build has it).
		if err := os.Setenv("PPROF", "true"); err != nil {
			return err
		}
	}
	b.printf("starting the stack in %s (builds the binaries; logs in %s)\n", dir, b.cfg.logs)
	t0 := time.Now()
	opts := stack.Options{Root: b.cfg.root, Dir: dir, FreePorts: true, Durable: true, Out: logs, LogFmt: "text"}
	b.res.PGStatements = &pgStatements{}
	if b.cfg.pgStatements {
		opts.PGSettings = pgstmt.ServerSettings()
	} else {
		b.res.PGStatements.Unavailable = "turned off with -pg-statements=false"
	}
	err = b.startProcesses(ctx, opts)
	if err != nil && opts.PGSettings != nil && strings.Contains(err.Error(), "pg_stat_statements") {
		// The module ships apart from the server on some systems (a
		// "contrib" package): measure without it rather than not at all.
		b.noStatements("the server cannot load pg_stat_statements: " + serverMessage(err.Error(), "pg_stat_statements"))
		opts.PGSettings = nil
		err = b.startProcesses(ctx, opts)
	}
	if err != nil {
		return fmt.Errorf("start the stack: %w", err)
	}
	b.res.PGStatements.Settings = opts.PGSettings
	b.stmtsOn = opts.PGSettings != nil
	b.printf("stack ready in %.1fs: REST %s, gRPC order %s\n", time.Since(t0).Seconds(), b.st.BaseURL(), b.st.Addr("order"))

	b.postmaster, b.pgPort, err = readPostmasterPID(filepath.Join(dir, "pg", "data", "postmaster.pid"))
	if err != nil {
		return err
	}
	if b.pids, err = procstat.ByExecutableDir(filepath.Join(dir, "bin")); err != nil {
		return err
	}
	for _, name := range processNames[:5] {
		if b.pids[name] == 0 {
			return fmt.Errorf("process %s of the stack not found under %s", name, filepath.Join(dir, "bin"))
		}
	}
	b.dbs = map[string]*sql.DB{}
	for _, name := range append([]string{"postgres"}, serviceDBs...) {
		db, err := sql.Open("postgres", b.dbURL(name))
		if err != nil {
			return err
		}
		db.SetMaxOpenConns(2)
		b.dbs[name] = db
	}
	if err := pgstat.EnableWALTiming(ctx, b.dbs["postgres"]); err != nil {
		return fmt.Errorf("enable WAL timing: %w", err)
	}
	if b.stmtsOn {
		b.enableStatements(ctx)
	}
	b.rest = target.NewREST(b.st.BaseURL(), b.cfg.clients)
	if b.grpc, err = target.NewGRPC(b.st.Addr("order"), b.st.Addr("billing")); err != nil {
		return err
	}
	return nil
}

// startProcesses starts the stack, after the cluster itself with
// -pg-params.
func (b *bench) startProcesses(ctx context.Context, opts stack.Options) (err error) {
	if b.cfg.pgParams != "" {
		// An experiment: the same private cluster the stack would start
		// (same folder, fsync on, same settings), started here so that the
		// services' connection URLs can carry extra parameters.
		b.printf("experiment: the services connect with %q\n", b.cfg.pgParams)
		if b.cluster, err = pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(b.dir, "pg"), Durable: true, Settings: opts.PGSettings}); err != nil {
			return err
		}
		opts.DatabaseURL = b.cluster.URL("postgres") + "&" + b.cfg.pgParams
	}
	b.st, err = stack.Start(ctx, opts)
	return err
}

// enableStatements creates the pg_stat_statements view in the service
// databases (for anyone looking with psql) and in postgres, through which
// the bench reads it: the bench's own statements stay out of the measured
// databases. A server that did not load the module leaves the run without
// statements; a view that fails on a server that did is an error.
func (b *bench) enableStatements(ctx context.Context) {
	var loaded string
	var version int
	err := b.dbs["postgres"].QueryRowContext(ctx, `SELECT current_setting('shared_preload_libraries'), current_setting('server_version_num')::int`).Scan(&loaded, &version)
	switch {
	case err != nil:
		b.statementError(err)
		return
	case !slices.Contains(strings.Split(strings.ReplaceAll(loaded, " ", ""), ","), "pg_stat_statements"):
		b.noStatements("the server was started without pg_stat_statements")
		return
	case version < 130000:
		b.noStatements("the bench reads pg_stat_statements as of PostgreSQL 13")
		return
	}
	for _, name := range append([]string{"postgres"}, serviceDBs...) {
		if err := pgstmt.Enable(ctx, b.dbs[name]); err != nil {
			b.statementError(fmt.Errorf("create extension in %s: %w", name, err))
			return
		}
	}
	if _, err := pgstmt.Read(ctx, b.dbs["postgres"], serviceDBs, false); err != nil {
		b.statementError(err)
	}
}

// noStatements turns the statements off for a reason and says so.
func (b *bench) noStatements(why string) {
	b.stmtMu.Lock()
	defer b.stmtMu.Unlock()
	b.stmtsOn = false
	b.res.PGStatements.Unavailable = why
	b.res.PGStatements.Settings = nil
	b.printf("no per-statement numbers in this run: %s\n", why)
}

// statementError records a failed read of the view and turns the
// statements off: a window with half its snapshots would mislead. Smoke
// runs fail on it, so that the section keeps working.
func (b *bench) statementError(err error) {
	b.stmtMu.Lock()
	defer b.stmtMu.Unlock()
	if !b.stmtsOn {
		return
	}
	b.stmtsOn = false
	b.res.PGStatements.Error = err.Error()
	b.printf("pg_stat_statements failed, no per-statement numbers from here on: %v\n", err)
}

func (b *bench) statementsOn() bool {
	b.stmtMu.Lock()
	defer b.stmtMu.Unlock()
	return b.stmtsOn
}

// serverMessage returns the first line of s that contains sub, without
// the server log's prefix (time, pid, level).
func serverMessage(s, sub string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			for _, level := range []string{"FATAL:", "ERROR:"} {
				if _, msg, ok := strings.Cut(line, level); ok {
					return strings.TrimSpace(msg)
				}
			}
			return strings.TrimSpace(line)
		}
	}
	return ""
}

func (b *bench) dbURL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", b.pgPort, name)
}

func (b *bench) stopStack() {
	if b.rest != nil {
		b.rest.Close()
	}
	if b.grpc != nil {
		b.grpc.Close()
	}
	for _, db := range b.dbs {
		db.Close()
	}
	if b.st != nil {
		b.printf("stopping the stack\n")
		b.st.Stop()
	}
	if b.cluster != nil {
		if err := b.cluster.Stop(); err != nil {
			b.printf("stop PostgreSQL: %v\n", err)
		}
	}
	if b.logFile != nil {
		b.logFile.Close() // the processes have stopped writing to it
	}
	if b.dir != "" && !b.cfg.keepDir {
		os.RemoveAll(b.dir)
	}
}

func (b *bench) printLogTail() {
	f, err := os.Open(b.cfg.logs)
	if err != nil {
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 40 {
			lines = lines[1:]
		}
	}
	b.printf("---- last %d lines of %s ----\n%s\n", len(lines), b.cfg.logs, strings.Join(lines, "\n"))
}

// readPostmasterPID reads the server's pid and port from postmaster.pid
// (line 1 and line 4, a format PostgreSQL documents and keeps stable).
func readPostmasterPID(path string) (pid, port int, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, fmt.Errorf("find the stack's PostgreSQL: %w", err)
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) < 4 {
		return 0, 0, fmt.Errorf("%s: %d lines, want at least 4", path, len(lines))
	}
	if pid, err = strconv.Atoi(strings.TrimSpace(lines[0])); err != nil {
		return 0, 0, fmt.Errorf("%s: pid: %w", path, err)
	}
	if port, err = strconv.Atoi(strings.TrimSpace(lines[3])); err != nil {
		return 0, 0, fmt.Errorf("%s: port: %w", path, err)
	}
	return pid, port, nil
}

func (b *bench) serverVersion(ctx context.Context) string {
	var v string
	if err := b.dbs["postgres"].QueryRowContext(ctx, `SHOW server_version`).Scan(&v); err != nil {
		return "unknown"
	}
	return v
}

// createUsers makes the users the load spreads over, through the API:
// CreateUser with a password (which opens the billing account), one login
// per user, and a funding deposit with that user's token. All of it is
// set-up, outside every timed window, so the measurements count orders and
// deposits, not password hashing. An access token lives 15 minutes (the
// user service's -auth-access-ttl), longer than a default run.
func (b *bench) createUsers(ctx context.Context) error {
	run := fmt.Sprintf("b%x", time.Now().UnixNano()&0xffffff)
	b.gen = &workload.Generator{
		Mix: workload.Mix{DepositShare: b.cfg.depositShare, RejectShare: b.cfg.rejectShare, Users: b.cfg.users, Seed: b.cfg.seed},
		Run: run,
	}
	if err := b.gen.Validate(); err != nil {
		return err
	}
	conn, err := grpc.NewClient(b.st.Addr("user"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	users := userv1.NewUserServiceClient(conn)
	logins := userv1.NewAuthServiceClient(conn)
	b.users = make([]string, b.cfg.users)
	b.tokens = make([]string, b.cfg.users)
	t0 := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, b.cfg.users)
	next := make(chan int)
	for range min(8, b.cfg.users) {
		wg.Go(func() {
			for i := range next {
				if err := b.createUser(ctx, users, logins, run, i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range b.cfg.users {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	b.printf("created, logged in and funded %d users through the API in %.1fs\n", b.cfg.users, time.Since(t0).Seconds())
	return nil
}

func (b *bench) fundKey(i int) string { return b.gen.Run + "-fund-" + strconv.Itoa(i) }

// user is the i-th simulated user as the targets send it.
func (b *bench) user(i int) target.User { return target.User{ID: b.users[i], Token: b.tokens[i]} }

func (b *bench) createUser(ctx context.Context, users userv1.UserServiceClient, logins userv1.AuthServiceClient, run string, i int) error {
	name := fmt.Sprintf("%su%d", run, i)
	password := "bench-password-" + name
	var lastErr error
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond): // back off between retries
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		cctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
		u, err := users.CreateUser(cctx, &userv1.CreateUserRequest{
			User:      &userv1.User{Username: name, Email: name + "@example.com", FirstName: "Bench", Password: password},
			RequestId: run + "-user-" + strconv.Itoa(i),
		})
		cancel()
		if err != nil {
			lastErr = fmt.Errorf("create user %d: %w", i, err)
			continue
		}
		b.users[i] = u.GetId()
		cctx, cancel = context.WithTimeout(ctx, b.cfg.timeout)
		tok, err := logins.Login(cctx, &userv1.LoginRequest{Username: name, Password: password})
		cancel()
		if err != nil {
			lastErr = fmt.Errorf("log in user %d: %w", i, err)
			continue
		}
		b.tokens[i] = tok.GetAccessToken()
		cctx, cancel = context.WithTimeout(ctx, b.cfg.timeout)
		a := b.grpc.Deposit(cctx, b.user(i), workload.FundAmount, b.fundKey(i))
		cancel()
		if a.Code != "" {
			lastErr = fmt.Errorf("fund user %d: %s", i, a.Code)
			continue
		}
		return nil
	}
	return lastErr
}

// call sends op through t and judges the answer.
func (b *bench) call(ctx context.Context, t target.Target, op workload.Op) load.Outcome {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
	defer cancel()
	user, key := b.user(op.User), b.gen.RequestID(op.Seq)
	if op.Kind == workload.Deposit {
		return load.Outcome{Label: "deposit", Code: t.Deposit(ctx, user, op.Amount, key).Code}
	}
	a := t.Order(ctx, user, op.Amount, key)
	if a.Code == "" {
		want := target.Paid
		if op.WantRejected {
			want = target.Rejected
		}
		if a.Status != want {
			a.Code = "wrong status " + a.Status
		}
	}
	return load.Outcome{Label: "order", Code: a.Code}
}

// do is the load loop's request: the workload's next operation.
func (b *bench) do(t target.Target) load.Do {
	return func(ctx context.Context, _ int64) load.Outcome {
		op := b.gen.Next()
		out := b.call(ctx, t, op)
		if out.Code != "" {
			b.failedMu.Lock()
			b.failed = append(b.failed, op.Seq)
			b.failedMu.Unlock()
		}
		return out
	}
}

// runCeiling runs one measured pgbench window of the ceiling.
func (b *bench) runCeiling(ctx context.Context, cfg ceiling.Config) (*ceilingResult, error) {
	mon := b.monitor(ctx, []string{ceilingDB})
	res, err := ceiling.Run(ctx, cfg)
	obs := mon.stop()
	if err != nil {
		return nil, err
	}
	// pgbench is not a process of the stack: add its own CPU time.
	obs.CPU["pgbench"] = res.ClientCPU.Seconds() / cfg.Duration.Seconds()
	obs.costPer(res.TPS)
	obs.stmtsPer(float64(res.Transactions))
	b.printf("ceiling: %.1f orders/s (%.1f transactions/s of the mix), avg latency %.1f ms; CPU %s\n",
		res.OrdersPerSecond, res.TPS, res.LatencyMs, obs.cpuLine())
	return &ceilingResult{Result: res, Observed: obs}, nil
}

// ceilingAgain measures the ceiling a second time, after the load. The
// same SQL on the same server gives a few per cent more or less from one
// minute to the next (the disk's flush time moves), so kassa's share is
// taken of the mean of a run before and a run after it, and the report
// shows both.
func (b *bench) ceilingAgain(ctx context.Context) error {
	if b.ceilingCfg == nil || !b.cfg.ceilingTwice {
		return nil
	}
	b.printf("ceiling again, after the load: pgbench -M %s, %d clients, %v\n",
		b.ceilingCfg.Mode, b.ceilingCfg.Clients, b.ceilingCfg.Duration)
	var err error
	b.res.CeilingAgain, err = b.runCeiling(ctx, *b.ceilingCfg)
	return err
}

// measureCeiling builds the ceiling database and runs pgbench.
func (b *bench) measureCeiling(ctx context.Context) error {
	if err := pgcluster.EnsureDatabase(ctx, b.dbURL("postgres"), ceilingDB); err != nil {
		return err
	}
	db, err := sql.Open("postgres", b.dbURL(ceilingDB))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := ceiling.Setup(ctx, db, b.cfg.root, b.cfg.users); err != nil {
		return err
	}
	if b.statementsOn() {
		// Like the service databases: for a look with psql.
		if err := pgstmt.Enable(ctx, db); err != nil {
			b.statementError(fmt.Errorf("create extension in %s: %w", ceilingDB, err))
		}
	}
	pgbench, err := ceiling.FindPGBench()
	if err != nil {
		return err
	}
	scripts := filepath.Join(b.dir, "pgbench")
	if err := os.MkdirAll(scripts, 0o755); err != nil {
		return err
	}
	cfg := ceiling.Config{
		PGBench: pgbench, Host: "127.0.0.1", Port: b.pgPort, User: "postgres", Database: ceilingDB,
		Clients: b.cfg.clients, Threads: runtime.NumCPU(), Users: b.cfg.users,
		DepositShare: b.cfg.depositShare, RejectShare: b.cfg.rejectShare, Mode: b.cfg.pgbenchMode, Dir: scripts,
	}
	if b.cfg.ceilingWarmup > 0 {
		w := cfg
		w.Duration = b.cfg.ceilingWarmup
		b.printf("ceiling: pgbench warm-up %v\n", w.Duration)
		if _, err := ceiling.Run(ctx, w); err != nil {
			return err
		}
	}
	cfg.Duration = b.cfg.ceilingTime
	paid, rejected, deposit := ceiling.Weights(cfg.DepositShare, cfg.RejectShare)
	b.printf("ceiling: pgbench -M %s, %d clients, %v, kassa's SQL per request (per mille: %d paid orders, %d rejected, %d deposits)\n",
		cfg.Mode, cfg.Clients, cfg.Duration, paid, rejected, deposit)
	if b.res.Ceiling, err = b.runCeiling(ctx, cfg); err != nil {
		return err
	}
	b.ceilingCfg = &cfg
	if b.cfg.ceilingExtended > 0 && cfg.Mode != "extended" {
		// The same work with every statement parsed and planned anew, as
		// lib/pq sends it without the services' statement cache (and as
		// DB_STATEMENT_CACHE=0 runs kassa): what preparing buys.
		x := cfg
		x.Mode, x.Duration = "extended", b.cfg.ceilingExtended
		mon := b.monitor(ctx, []string{ceilingDB})
		xres, err := ceiling.Run(ctx, x)
		xobs := mon.stop()
		if err != nil {
			return err
		}
		xobs.CPU["pgbench"] = xres.ClientCPU.Seconds() / x.Duration.Seconds()
		xobs.costPer(xres.TPS)
		xobs.stmtsPer(float64(xres.Transactions))
		b.res.CeilingExtended = &ceilingResult{Result: xres, Observed: xobs}
		b.printf("ceiling without prepared statements (pgbench -M extended, %v): %.1f orders/s; CPU %s\n",
			x.Duration, xres.OrdersPerSecond, xobs.cpuLine())
	}
	return nil
}

// step runs the load at rate through t and observes the machine during the
// measured window.
func (b *bench) step(ctx context.Context, t target.Target, phase string, rate float64, warmup, dur time.Duration) (*stepRecord, error) {
	// Observe the measured window only, not the warm-up or the drain.
	var obs observed
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-time.After(warmup):
		case <-ctx.Done():
			return
		}
		mon := b.monitor(ctx, serviceDBs)
		select {
		case <-time.After(dur):
		case <-ctx.Done():
		}
		obs = mon.stop()
	}()
	label := fmt.Sprintf("%-4s %-6s %7.1f/s", t.Name(), phase, rate)
	res := load.Run(ctx, load.Config{Rate: rate, Warmup: warmup, Duration: dur, Clients: b.cfg.clients, Grace: 2 * time.Second},
		b.do(t), b.progress(label))
	<-done
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b.tty {
		b.printf("\r\x1b[K")
	}
	obs.costPer(res.Achieved)
	if obs.stmts != nil {
		obs.stmtsPer(res.Achieved * obs.stmts.Seconds)
	}
	rec := &stepRecord{Target: t.Name(), Phase: phase, Rate: rate, Result: res, Observed: obs}
	select {
	case name := <-b.st.Exited():
		return rec, fmt.Errorf("%s exited during the load", name)
	default:
	}
	return rec, nil
}

func (b *bench) progress(label string) func(load.Progress) {
	return func(p load.Progress) {
		b.sampleRSS()
		phase := "run "
		if p.Warmup {
			phase = "warm"
		}
		line := fmt.Sprintf("  %s  %s %4.0fs  sent %7d  ok %7.1f/s  p99 %7.1f ms  in flight %3d  errors %d",
			label, phase, p.Elapsed.Seconds(), p.Sent, p.OKPerSecond, ms(p.P99), p.InFlight, p.Errors)
		if b.tty {
			b.printf("\r%s\x1b[K", line)
		} else if int(p.Elapsed.Seconds()+0.5)%2 == 0 {
			b.printf("%s\n", line)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (b *bench) stepLine(r *stepRecord, verdict string) {
	o := r.order()
	b.printf("  %-4s %-6s %7.1f/s offered → %7.1f orders/s  p50 %6.1f  p99 %7.1f  p99.9 %7.1f ms  errors %d  CPU %s  %s\n",
		r.Target, r.Phase, r.Rate, o.PerSecond, o.Latency.P50, o.Latency.P99, o.Latency.P999, r.Result.ErrorCount(), r.Observed.cpuLine(), verdict)
}

// peaks searches the peak through REST, then through gRPC.
func (b *bench) peaks(ctx context.Context) error {
	// Start the REST search at a quarter of what the database allows.
	start := 50.0
	if b.res.Ceiling != nil && b.res.Ceiling.TPS > 0 {
		start = max(10, b.res.Ceiling.TPS/4)
	}
	b.trackRSS(true)
	defer func() {
		b.trackRSS(false)
		b.rssMu.Lock()
		defer b.rssMu.Unlock()
		for name, v := range b.rssPeak {
			if r := b.res.RSS[name]; r != nil {
				r.Peak = v
			}
		}
	}()
	restPeak, err := b.searchPeak(ctx, b.rest, start)
	if err != nil {
		return err
	}
	b.res.REST = restPeak
	// gRPC does less work per request: start where REST peaked.
	start = 50
	if restPeak.Best != nil {
		start = restPeak.Best.Result.Achieved * 0.9
	}
	grpcPeak, err := b.searchPeak(ctx, b.grpc, start)
	if err != nil {
		return err
	}
	b.res.GRPC = grpcPeak
	return nil
}

func (b *bench) searchPeak(ctx context.Context, t target.Target, start float64) (*peakResult, error) {
	b.printf("peak search through %s: from %.0f requests/s, ×%.1f per step, %v + %v each, p99 limit %v\n",
		t.Name(), start, b.cfg.factor, b.cfg.warmup, b.cfg.step, b.cfg.p99Limit)
	cfg := search.Config{Start: start, Factor: b.cfg.factor, MaxSteps: b.cfg.maxSteps, Refine: b.cfg.refine,
		P99Limit: b.cfg.p99Limit, MinKeepUp: 0.95, MinRate: 5, Confirm: b.cfg.confirm}
	var records []*stepRecord
	res, err := search.Run(ctx, cfg, func(ctx context.Context, rate float64) (search.Measurement, error) {
		rec, err := b.step(ctx, t, "search", rate, b.cfg.warmup, b.cfg.step)
		if err != nil {
			return search.Measurement{}, err
		}
		records = append(records, rec)
		m := search.Measurement{Achieved: rec.Result.Achieved, P99: rec.order().Latency.P99Duration(),
			Errors: rec.Result.ErrorCount(), Unsent: rec.Result.Unsent}
		good, why := cfg.Judge(rate, m)
		rec.Good, rec.Why = good, why
		verdict := "ok"
		if !good {
			verdict = "past the peak: " + why
		}
		b.stepLine(rec, verdict)
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	p := &peakResult{Steps: records}
	for i := range res.Steps {
		if &res.Steps[i] == res.Best {
			p.Best = records[i]
		}
	}
	if p.Best == nil {
		b.printf("  %s: no rate was sustained without errors\n", t.Name())
	} else {
		b.printf("  %s peak: %.1f orders/s (%.1f requests/s offered)\n", t.Name(), p.Best.order().PerSecond, p.Best.Rate)
	}
	return p, nil
}

// halfPeak runs REST and gRPC at half the REST peak. They alternate in
// rounds, so that both meet the same background load of the machine, and
// each target's rounds are merged.
func (b *bench) halfPeak(ctx context.Context) error {
	if b.res.REST == nil || b.res.REST.Best == nil {
		return errors.New("no REST peak to halve")
	}
	rate := b.res.REST.Best.Result.Achieved / 2
	round := b.cfg.halfTime / time.Duration(b.cfg.halfRounds)
	b.printf("latency at half the REST peak: %.1f requests/s; REST and gRPC alternate, %d rounds of %v (after %v warm-up) each\n",
		rate, b.cfg.halfRounds, round, b.cfg.halfWarmup)
	runs := map[string][]*stepRecord{}
	for i := range b.cfg.halfRounds {
		order := []target.Target{b.rest, b.grpc}
		if i%2 == 1 {
			order = []target.Target{b.grpc, b.rest}
		}
		for _, t := range order {
			rec, err := b.step(ctx, t, fmt.Sprintf("half %d", i+1), rate, b.cfg.halfWarmup, round)
			if err != nil {
				return err
			}
			b.stepLine(rec, "")
			runs[t.Name()] = append(runs[t.Name()], rec)
		}
	}
	b.res.Half = &halfResult{Rate: rate, REST: mergeRecords(runs["rest"]), GRPC: mergeRecords(runs["grpc"]),
		Rounds: append(runs["rest"], runs["grpc"]...)}
	return nil
}

// mergeRecords combines rounds of one target at one rate.
func mergeRecords(recs []*stepRecord) *stepRecord {
	if len(recs) == 0 {
		return nil
	}
	results := make([]load.Result, len(recs))
	obs := make([]observed, len(recs))
	for i, r := range recs {
		results[i], obs[i] = r.Result, r.Observed
	}
	merged := &stepRecord{Target: recs[0].Target, Phase: "half", Rate: recs[0].Rate, Result: load.Merge(results...), Observed: mergeObserved(obs)}
	merged.Observed.costPer(merged.Result.Achieved)
	return merged
}

// mergeObserved averages observations of equally long windows.
func mergeObserved(obs []observed) observed {
	out := observed{CPU: map[string]float64{}, Activity: pgstat.Activity{ByDatabase: map[string]map[string]float64{}}}
	n := float64(len(obs))
	for _, o := range obs {
		for k, v := range o.CPU {
			out.CPU[k] += v / n
		}
		out.Other += o.Other / n
		for k, v := range o.reads {
			if out.reads == nil {
				out.reads = map[string]float64{}
			}
			out.reads[k] += v / n
		}
		out.Machine.Busy += o.Machine.Busy / n
		out.Machine.IOWait += o.Machine.IOWait / n
		out.Machine.Idle += o.Machine.Idle / n
		out.Machine.Steal += o.Machine.Steal / n
		out.PG.CommitsPerS += o.PG.CommitsPerS / n
		out.PG.RollbacksPerS += o.PG.RollbacksPerS / n
		out.PG.WALSyncsPerS += o.PG.WALSyncsPerS / n
		out.PG.WALMiBPerS += o.PG.WALMiBPerS / n
		out.PG.SyncMs += o.PG.SyncMs / n
		out.Activity.Samples += o.Activity.Samples
		for db, m := range o.Activity.ByDatabase {
			if out.Activity.ByDatabase[db] == nil {
				out.Activity.ByDatabase[db] = map[string]float64{}
			}
			for k, v := range m {
				out.Activity.ByDatabase[db][k] += v / n
			}
		}
	}
	if out.PG.WALSyncsPerS > 0 {
		out.PG.CommitsPerSync = out.PG.CommitsPerS / out.PG.WALSyncsPerS
	}
	var ws []pgstmt.Window
	for _, o := range obs {
		if o.stmts != nil {
			ws = append(ws, *o.stmts)
		}
	}
	if len(ws) > 0 && len(ws) == len(obs) {
		w := pgstmt.Merge(ws...)
		out.stmts = &w
	}
	return out
}

// smokeLoad sends a few seconds of load through each target at a low rate.
func (b *bench) smokeLoad(ctx context.Context) error {
	for _, t := range []target.Target{b.rest, b.grpc} {
		rec, err := b.step(ctx, t, "smoke", b.cfg.smokeRate, b.cfg.warmup, b.cfg.step)
		if err != nil {
			return err
		}
		b.stepLine(rec, "")
		b.res.Smoke = append(b.res.Smoke, rec)
	}
	return nil
}

// check retries what failed (a client would: same idempotency key), waits
// until no order is unfinished, then verifies the databases.
func (b *bench) check(ctx context.Context) error {
	b.failedMu.Lock()
	failed := slices.Clone(b.failed)
	b.failedMu.Unlock()
	slices.Sort(failed)
	failed = slices.Compact(failed)
	still := 0
	for _, seq := range failed {
		op := b.gen.Op(seq)
		ok := false
		for attempt := range 6 {
			if attempt > 0 {
				select {
				case <-time.After(time.Duration(attempt) * 300 * time.Millisecond): // back off between retries
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			out := b.call(ctx, b.grpc, op)
			if out.Code == "" {
				ok = true
				break
			}
			if strings.HasPrefix(out.Code, "wrong status") {
				break // an answer, just a wrong one: the check below reports it
			}
		}
		if !ok {
			still++
		}
	}
	b.res.Retried, b.res.RetryFailed = len(failed), still
	if len(failed) > 0 {
		b.printf("retried %d failed requests with their idempotency keys: %d still failing\n", len(failed), still)
	}
	// Orders whose client gave up may still be finishing in the services.
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := verify.Unfinished(ctx, b.dbs["kassa_order"])
		if err != nil {
			return err
		}
		if n == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-time.After(200 * time.Millisecond): // polling the database for a condition, bounded by the deadline
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	facts, err := verify.Load(ctx, verify.DBs{Order: b.dbs["kassa_order"], Billing: b.dbs["kassa_billing"], Notification: b.dbs["kassa_notification"]})
	if err != nil {
		return err
	}
	rep := verify.Check(facts, verify.Expect{Gen: b.gen, Users: b.users, FundKey: b.fundKey})
	b.res.Verify = rep
	b.res.Correct = rep.OK()
	return nil
}

// monitor observes CPU, PostgreSQL counters, backend activity and
// statements between its start and stop.
type monitor struct {
	b       *bench
	cpu0    cpuSnapshot
	pg0     pgstat.Counters
	pgErr   error
	sampler *pgstat.Sampler
	dbs     []string
	ctx     context.Context
	stmts   bool
	stmt0   pgstmt.Snapshot
}

func (b *bench) monitor(ctx context.Context, dbs []string) *monitor {
	m := &monitor{b: b, cpu0: b.cpuSnapshot(), dbs: dbs, ctx: ctx}
	m.pg0, m.pgErr = pgstat.Read(ctx, b.dbs["postgres"], dbs)
	if m.stmts = b.statementsOn(); m.stmts {
		var err error
		if m.stmt0, err = pgstmt.Read(ctx, b.dbs["postgres"], dbs, false); err != nil {
			b.statementError(err)
			m.stmts = false
		}
	}
	m.sampler = pgstat.Sample(ctx, b.dbs["postgres"], dbs, b.cfg.sampleEvery)
	return m
}

func (m *monitor) stop() observed {
	activity, _ := m.sampler.Stop()
	cpu1 := m.b.cpuSnapshot()
	o := observed{CPU: cpu1.since(m.cpu0), Machine: cpu1.machineSince(m.cpu0), Activity: activity, reads: cpu1.readsSince(m.cpu0)}
	// Whatever else ran on the machine meanwhile (other tests, builds):
	// the noise in this window.
	o.Other = o.Machine.Busy
	for _, v := range o.CPU {
		o.Other -= v
	}
	o.Other = max(0, o.Other)
	if pg1, err := pgstat.Read(m.ctx, m.b.dbs["postgres"], m.dbs); err == nil && m.pgErr == nil {
		o.PG = pg1.Since(m.pg0)
	}
	if m.stmts && m.b.statementsOn() {
		if s1, err := pgstmt.Read(m.ctx, m.b.dbs["postgres"], m.dbs, true); err != nil {
			if m.ctx.Err() == nil { // an interrupted run is no failure of the view
				m.b.statementError(err)
			}
		} else {
			// Requests are counted by the caller: stmtsPer.
			w := pgstmt.NewWindow(s1.Since(m.stmt0), s1.At.Sub(m.stmt0.At).Seconds(), 0)
			o.stmts = &w
		}
	}
	return o
}

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
	type got struct {
		name, path string
		err        error
	}
	stepDone := make(chan error, 1)
	go func() {
		rec, err := b.step(ctx, b.rest, "pprof", rate, time.Second, time.Duration(secs+1)*time.Second)
		if err == nil {
			b.stepLine(rec, "")
		}
		stepDone <- err
	}()
	select {
	case <-time.After(time.Second): // the step's warm-up
	case <-ctx.Done():
		return ctx.Err()
	}
	client := &http.Client{Timeout: time.Duration(secs+30) * time.Second}
	fetch := func(name, what, file string) got {
		path := filepath.Join(dir, file)
		resp, err := client.Get(b.st.AdminURL(name) + "/debug/pprof/" + what)
		if err != nil {
			return got{name, path, err}
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return got{name, path, fmt.Errorf("GET /debug/pprof/%s: %s (is pprof in this build? it needs PPROF=true)", what, resp.Status)}
		}
		f, err := os.Create(path)
		if err != nil {
			return got{name, path, err}
		}
		_, err = io.Copy(f, resp.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return got{name, path, err}
	}
	results := make(chan got, 5)
	var wg sync.WaitGroup
	for _, name := range processNames[:5] {
		wg.Go(func() { results <- fetch(name, "profile?seconds="+strconv.Itoa(secs), name+".cpu.pprof") })
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
		allocs := fetch(g.name, "allocs", g.name+".allocs.pprof")
		for _, p := range []got{g, allocs} {
			if p.err != nil {
				continue
			}
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
						b.res.setBreakdown(g.name, br)
						b.printf("  %-12s CPU %5.2fs: %s\n", g.name, br.Total.Seconds(), br)
					}
				}
			}
			txt := strings.TrimSuffix(p.path, ".pprof") + ".top.txt"
			if err := os.WriteFile(txt, out, 0o644); err != nil {
				return err
			}
			b.res.Profiles[strings.TrimSuffix(filepath.Base(p.path), ".pprof")] = repoPath(b.cfg.root, txt)
		}
	}
	b.printf("  profiles: %d summaries in %s\n", len(b.res.Profiles), dir)
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
