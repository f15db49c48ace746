package main

import (
	"context"
	"database/sql"
	"fmt"
	"syscall"
	"time"

	"github.com/kassa-dev/kassa/bench/preload"
)

// largeData preloads the large data set into the running stack's
// databases, outside every timed window, and measures the same REST
// workload on it as on the empty database, then the lists and the plans.
func (b *bench) largeData(ctx context.Context) error {
	l := &largeResult{Mode: string(b.mode)}
	b.res.Large = l
	size := preload.Size{Users: b.cfg.largeUsers, Heavy: b.cfg.largeHeavy}
	l.Size.Users, l.Size.Heavy, l.Size.Rows = size.Users, size.Heavy, size.Rows()
	if err := b.preload(ctx, l, size); err != nil {
		return err
	}
	// The statements' counters from here on are the large data's.
	if b.cfg.smoke {
		rec, err := b.step(ctx, b.rest, b.main, "large", b.cfg.smokeRate, b.cfg.warmup, b.cfg.step)
		if err != nil {
			return err
		}
		b.stepLine(rec, "")
		l.Smoke = rec
	} else {
		if err := b.largeLoad(ctx, l); err != nil {
			return err
		}
	}
	b.res.addRun(b.mode, dataLarge, l.REST, l.Half)
	cursors, err := b.measureLists(ctx, l)
	if err != nil {
		return err
	}
	l.Plans, err = b.explain(ctx, cursors)
	return err
}

// preload loads size with the bench users' password hash (so that the
// heavy user can log in), vacuums and checks it, and checkpoints, so
// that no set-up work spills into the timed windows.
func (b *bench) preload(ctx context.Context, l *largeResult, size preload.Size) error {
	d := preload.DBs{User: b.dbs["kassa_user"], Billing: b.dbs["kassa_billing"], Order: b.dbs["kassa_order"], Notification: b.dbs["kassa_notification"]}
	var hash string
	if err := d.User.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = $1`, b.main.users[0].ID).Scan(&hash); err != nil {
		return fmt.Errorf("read a password hash: %w", err)
	}
	for _, db := range []string{"kassa_user", "kassa_billing", "kassa_order", "kassa_notification"} {
		// The load's own statements are many and large: let them fill the
		// pool without starving it.
		b.dbs[db].SetMaxOpenConns(4)
		defer b.dbs[db].SetMaxOpenConns(2)
	}
	pg := b.dbs["postgres"]
	// The load writes gigabytes that no one needs to survive a crash until
	// they are complete: while it runs, no flush per WAL segment, no full
	// page images and a larger WAL between checkpoints (all reloadable).
	// The stack's own settings come back before the checkpoint below, and
	// a sync of the machine's file systems then flushes what was written
	// meanwhile, so the timed windows run on durable data with fsync on,
	// as ever, and the kernel does not write gigabytes back during them.
	loading := []string{"fsync", "full_page_writes", "max_wal_size"}
	if err := reconfigure(ctx, pg, `ALTER SYSTEM SET fsync = off`, `ALTER SYSTEM SET full_page_writes = off`, `ALTER SYSTEM SET max_wal_size = '16GB'`); err != nil {
		return err
	}
	restored := false
	restore := func() error {
		if restored {
			return nil
		}
		restored = true
		var stmts []string
		for _, name := range loading {
			stmts = append(stmts, `ALTER SYSTEM RESET `+name)
		}
		return reconfigure(context.WithoutCancel(ctx), pg, stmts...)
	}
	defer restore()
	rows := size.Rows()
	b.printf("large data: preloading %s users, %s ledger entries, %s orders and %s letters (generate_series, 3 statements at a time)\n",
		thousands(size.Users), thousands(int(rows["transactions"])), thousands(int(rows["orders"])), thousands(int(rows["notifications"])))
	chunk := max(1000, size.Users/20)
	took, err := preload.Load(ctx, d, preload.Options{Size: size, PasswordHash: hash, Chunk: chunk, Parallel: 3})
	if err != nil {
		return err
	}
	l.PreloadS = took.Seconds()
	t0 := time.Now()
	if err := preload.Settle(ctx, d, 4); err != nil {
		return err
	}
	l.SettleS = time.Since(t0).Seconds()
	t0 = time.Now()
	if err := preload.Check(ctx, d, size); err != nil {
		return err
	}
	l.CheckS = time.Since(t0).Seconds()
	if err := restore(); err != nil {
		return err
	}
	t0 = time.Now()
	if _, err := pg.ExecContext(ctx, `CHECKPOINT`); err != nil {
		return err
	}
	syscall.Sync()
	l.CheckpointS = time.Since(t0).Seconds()
	b.printf("large data: loaded in %.1fs, vacuumed and analyzed in %.1fs, checked in %.1fs, checkpoint and sync %.1fs\n", l.PreloadS, l.SettleS, l.CheckS, l.CheckpointS)
	return nil
}

// largeLoad searches the REST peak on the large data, from a little below
// the empty run's, and measures REST latency at the empty run's half-peak
// rate, so that both compare with the same rate.
func (b *bench) largeLoad(ctx context.Context, l *largeResult) error {
	start := 50.0
	if b.res.REST != nil && b.res.REST.Best != nil {
		start = 0.8 * b.res.REST.Best.Result.Achieved
	}
	var err error
	if l.REST, err = b.searchPeak(ctx, b.rest, b.main, start); err != nil {
		return err
	}
	if b.res.Half == nil {
		return nil
	}
	rate := b.res.Half.Rate
	round := b.cfg.halfTime / time.Duration(b.cfg.halfRounds)
	var recs []*stepRecord
	for i := range b.cfg.halfRounds {
		rec, err := b.step(ctx, b.rest, b.main, fmt.Sprintf("large %d", i+1), rate, b.cfg.halfWarmup, round)
		if err != nil {
			return err
		}
		b.stepLine(rec, "")
		recs = append(recs, rec)
	}
	l.Half = mergeRecords(recs)
	return nil
}

// reconfigure runs stmts (ALTER SYSTEM) and reloads the server's
// configuration.
func reconfigure(ctx context.Context, pg *sql.DB, stmts ...string) error {
	for _, q := range append(stmts, `SELECT pg_reload_conf()`) {
		if _, err := pg.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}
