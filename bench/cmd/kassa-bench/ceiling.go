package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/kassa-dev/kassa/bench/ceiling"
	"github.com/kassa-dev/kassa/bench/pgstmt"
	"github.com/kassa-dev/kassa/services/platform/pgcluster"
)

// runCeiling runs one measured pgbench window of the ceiling.
func (b *bench) runCeiling(ctx context.Context, cfg ceiling.Config) (*ceilingResult, error) {
	c, err := b.observeCeiling(ctx, cfg)
	if err != nil {
		return nil, err
	}
	b.printf("ceiling: %.1f orders/s (%.1f transactions/s of the mix), avg latency %.1f ms; CPU %s\n",
		c.OrdersPerSecond, c.TPS, c.LatencyMs, c.Observed.cpuLine())
	return c, nil
}

// observeCeiling runs pgbench with cfg and observes the machine meanwhile.
func (b *bench) observeCeiling(ctx context.Context, cfg ceiling.Config) (*ceilingResult, error) {
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
		if b.res.CeilingExtended, err = b.observeCeiling(ctx, x); err != nil {
			return err
		}
		b.printf("ceiling without prepared statements (pgbench -M extended, %v): %.1f orders/s; CPU %s\n",
			x.Duration, b.res.CeilingExtended.OrdersPerSecond, b.res.CeilingExtended.Observed.cpuLine())
	}
	return nil
}
