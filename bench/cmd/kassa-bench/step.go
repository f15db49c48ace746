package main

import (
	"context"
	"fmt"
	"time"

	"github.com/kassa-dev/kassa/bench/load"
	"github.com/kassa-dev/kassa/bench/target"
	"github.com/kassa-dev/kassa/bench/workload"
)

// call sends op of crowd c through t and judges the answer.
func (b *bench) call(ctx context.Context, t target.Target, c *crowd, op workload.Op) load.Outcome {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
	defer cancel()
	user, key := c.users[op.User], c.gen.RequestID(op.Seq)
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

// do is the load loop's request: the next operation of c's workload.
func (b *bench) do(t target.Target, c *crowd) load.Do {
	return func(ctx context.Context, _ int64) load.Outcome {
		op := c.gen.Next()
		out := b.call(ctx, t, c, op)
		if out.Code != "" {
			c.fail(op.Seq)
		}
		return out
	}
}

// step runs c's load at rate through t and observes the machine during
// the measured window.
func (b *bench) step(ctx context.Context, t target.Target, c *crowd, phase string, rate float64, warmup, dur time.Duration) (*stepRecord, error) {
	observe := b.observeWindow(ctx, warmup, dur)
	label := fmt.Sprintf("%-4s %-6s %7.1f/s", t.Name(), phase, rate)
	res := load.Run(ctx, load.Config{Rate: rate, Warmup: warmup, Duration: dur, Clients: b.cfg.clients, Grace: 2 * time.Second},
		b.do(t, c), b.progress(label))
	obs := observe()
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

// observeWindow monitors the machine and the cluster over the measured
// window of a run that starts now: from the end of its warm-up for dur,
// not over the warm-up or the drain. The returned function waits for the
// window's end (or ctx's, observed to there) and returns what it saw.
func (b *bench) observeWindow(ctx context.Context, warmup, dur time.Duration) func() observed {
	var obs observed
	done := make(chan struct{})
	go func() {
		defer close(done)
		if pause(ctx, warmup) != nil {
			return
		}
		mon := b.monitor(ctx, serviceDBs)
		pause(ctx, dur)
		obs = mon.stop()
	}()
	return func() observed {
		<-done
		return obs
	}
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

// smokeLoad sends a few seconds of load through each target at a low rate.
func (b *bench) smokeLoad(ctx context.Context) error {
	for _, t := range []target.Target{b.rest, b.grpc} {
		rec, err := b.step(ctx, t, b.main, "smoke", b.cfg.smokeRate, b.cfg.warmup, b.cfg.step)
		if err != nil {
			return err
		}
		b.stepLine(rec, "")
		b.res.Smoke = append(b.res.Smoke, rec)
	}
	return b.hotSmoke(ctx)
}
