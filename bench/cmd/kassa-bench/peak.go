package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kassa-dev/kassa/bench/load"
	"github.com/kassa-dev/kassa/bench/search"
	"github.com/kassa-dev/kassa/bench/target"
)

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
	restPeak, err := b.searchPeak(ctx, b.rest, b.main, start)
	if err != nil {
		return err
	}
	b.res.REST = restPeak
	// gRPC does less work per request: start where REST peaked.
	start = 50
	if restPeak.Best != nil {
		start = restPeak.Best.Result.Achieved * 0.9
	}
	grpcPeak, err := b.searchPeak(ctx, b.grpc, b.main, start)
	if err != nil {
		return err
	}
	b.res.GRPC = grpcPeak
	return nil
}

func (b *bench) searchPeak(ctx context.Context, t target.Target, c *crowd, start float64) (*peakResult, error) {
	b.printf("peak search through %s: from %.0f requests/s, ×%.1f per step, %v + %v each, p99 limit %v\n",
		t.Name(), start, b.cfg.factor, b.cfg.warmup, b.cfg.step, b.cfg.p99Limit)
	cfg := search.Config{Start: start, Factor: b.cfg.factor, MaxSteps: b.cfg.maxSteps, Refine: b.cfg.refine,
		P99Limit: b.cfg.p99Limit, MinKeepUp: 0.95, MinRate: 5, Confirm: b.cfg.confirm}
	var records []*stepRecord
	res, err := search.Run(ctx, cfg, func(ctx context.Context, rate float64) (search.Measurement, error) {
		rec, err := b.step(ctx, t, c, "search", rate, b.cfg.warmup, b.cfg.step)
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
			rec, err := b.step(ctx, t, b.main, fmt.Sprintf("half %d", i+1), rate, b.cfg.halfWarmup, round)
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
