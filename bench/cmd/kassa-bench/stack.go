package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-dev/kassa/bench/pgstat"
	"github.com/kassa-dev/kassa/bench/pgstmt"
	"github.com/kassa-dev/kassa/bench/procstat"
	"github.com/kassa-dev/kassa/bench/target"
	"github.com/kassa-dev/kassa/dev/stack"
	"github.com/kassa-dev/kassa/services/platform/pgcluster"
	_ "github.com/lib/pq" // database/sql driver
)

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
	opts := stack.Options{Root: b.cfg.root, Dir: dir, FreePorts: true, Durable: true, Out: logs, LogFmt: "text", Env: slices.Clone(overloadEnv)}
	b.mode.apply(&opts)
	if b.cfg.smoke {
		// The smoke explains the repair loops' statements too, so they
		// must run within its few seconds.
		opts.Env = append(opts.Env, "REPAIR_INTERVAL=2s")
	}
	b.res.PGStatements = &pgStatements{}
	if b.cfg.pgStatements {
		opts.PGSettings = pgstmt.ServerSettings()
	} else {
		b.res.PGStatements.Unavailable = "turned off with -pg-statements=false"
	}
	if len(b.cfg.pgSettings.m) > 0 {
		opts.PGSettings = maps.Clone(opts.PGSettings)
		if opts.PGSettings == nil {
			opts.PGSettings = map[string]string{}
		}
		maps.Copy(opts.PGSettings, b.cfg.pgSettings.m)
		b.printf("experiment: the cluster starts with %s\n", b.cfg.pgSettings.String())
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
	for _, name := range b.mode.processes() {
		if b.pids[name] == 0 {
			return fmt.Errorf("process %s of the stack not found under %s", name, filepath.Join(dir, "bin"))
		}
	}
	if err := b.createBenchRole(ctx); err != nil {
		return err
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

// benchUser is the role of the bench's own connections. The services
// connect as postgres, so the server log tells their statements from the
// bench's (the preload, the check) by the role.
const benchUser = "kassa_bench"

func (b *bench) dbURL(name string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", benchUser, b.pgPort, name)
}

// createBenchRole creates benchUser, a superuser as postgres is.
func (b *bench) createBenchRole(ctx context.Context) error {
	db, err := sql.Open("postgres", fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", b.pgPort))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE ROLE `+benchUser+` LOGIN SUPERUSER`); err != nil {
		return fmt.Errorf("create the bench's role: %w", err)
	}
	return nil
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
	// Once: the run stops the stack before the all-in-one one starts,
	// and again on its way out.
	b.rest, b.grpc, b.dbs, b.st, b.cluster, b.logFile, b.dir = nil, nil, nil, nil, nil, nil, ""
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
