package main

import (
	"context"
	"fmt"
	"time"

	"github.com/kassa-dev/kassa/bench/load"
	"github.com/kassa-dev/kassa/bench/overload"
	"github.com/kassa-dev/kassa/bench/target"
	orderapp "github.com/kassa-dev/kassa/services/order/app"
)

// The overload targets of issue 17: at twice the peak, refusals within
// 100 ms, admitted orders' p99 under 50 ms, at least 90 % of the peak paid.
const (
	targetShedP99Ms     = 100.0
	targetAdmittedP99Ms = 50.0
	targetGoodputRatio  = 0.90
)

// overloadEnv raises the gateway's rate limits above any rate the
// benchmark offers: its load comes from one address, and on the hot
// account from one user, so the defaults (500/s per address, 200/s per
// user) would refuse the excess themselves and hide the admission
// control being measured. The limits stay on, so the per-user token
// check still costs what it costs in production.
var overloadEnv = []string{"RATE_PER_ADDRESS=100000", "RATE_PER_ADDRESS_BURST=100000", "RATE_PER_USER=100000", "RATE_PER_USER_BURST=100000"}

// overloadFigures are result.json's overload numbers (package overload
// measures them; docs/benchmarks.md#overload explains them).
type overloadFigures struct {
	OverloadGoodputRatio           float64         `json:"overload_goodput_ratio"`
	OverloadShedP99Ms              float64         `json:"overload_shed_p99_ms"`
	OverloadAdmittedP99Ms          float64         `json:"overload_admitted_p99_ms"`
	HotAccountOverloadPeak         float64         `json:"hot_account_overload_peak_orders_per_s"`
	HotAccountOverloadGoodputRatio float64         `json:"hot_account_overload_goodput_ratio"`
	HotAccountShedP99Ms            float64         `json:"hot_account_shed_p99_ms"`
	HotAccountAdmittedP99Ms        float64         `json:"hot_account_admitted_p99_ms"`
	Overload                       *overloadResult `json:"overload,omitempty"`
}

// overloadResult is the detail behind the figures.
type overloadResult struct {
	// Peak is the many-accounts peak the ratio divides by: the REST
	// search's (orders among 10 % deposits), or the smoke rate.
	Peak float64 `json:"peak_orders_per_s"`
	// HotClients is how many orders on one account the hot peak was
	// measured with, one after the other each: the order service's
	// per-buyer bound.
	HotClients int               `json:"hot_peak_clients"`
	Many       *overload.Result  `json:"many_accounts"`
	HotPeak    *load.Result      `json:"hot_account_peak"`
	Hot        *overload.Result  `json:"hot_account"`
	Check      []overload.Report `json:"checks"`
	// ManyObserved and HotObserved are the machine and the cluster during
	// the two open-loop runs' windows: where the CPU went while the
	// excess was refused, with each process's CPU per paid order.
	ManyObserved *observed `json:"many_accounts_observed,omitempty"`
	HotObserved  *observed `json:"hot_account_observed,omitempty"`
}

// overload offers twice the REST peak spread over every user, then
// measures one account's peak and offers twice that on it, and checks the
// orders and the money of both runs. It runs after the correctness check,
// whose expectations cover the workload's requests only.
func (b *bench) overload(ctx context.Context) error {
	o := &overloadResult{HotClients: orderapp.DefaultBuyerLimit.MaxInFlight}
	b.res.Overload = o
	warmup, dur := 2*time.Second, 10*time.Second
	if b.cfg.smoke {
		o.Peak, warmup, dur = b.cfg.smokeRate, 500*time.Millisecond, 2*time.Second
	} else if b.res.REST != nil {
		o.Peak = b.res.REST.Best.order().PerSecond
	}
	if o.Peak <= 0 {
		return fmt.Errorf("overload: no peak to double")
	}
	users := b.main.users
	s := overload.NewSender(b.st.BaseURL(), 4096)
	defer s.Close()
	cfg := overload.Config{Warmup: warmup, Duration: dur, Timeout: b.cfg.timeout, Clients: 4096, Price: 100}

	b.printf("overload: twice the REST peak over %d accounts, then one account at twice its own peak\n", len(users))
	cfg.Rate, cfg.Keys = 2*o.Peak, b.main.gen.Run+"-over"
	if err := b.overloadRun(ctx, s, cfg, users, &o.Many, &o.ManyObserved); err != nil {
		return err
	}

	// One account's peak: as many orders on it as the per-buyer bound
	// admits, each sent when the previous one answered.
	hot := users[:1]
	peakCfg := overload.Config{Warmup: time.Second, Duration: dur / 2, Timeout: b.cfg.timeout, Clients: o.HotClients,
		Price: 100, Keys: b.main.gen.Run + "-hotpeak"}
	if b.cfg.smoke {
		peakCfg.Warmup, peakCfg.Duration = 0, time.Second
	}
	before, err := overload.Balances(ctx, b.dbs["kassa_billing"], []string{hot[0].ID})
	if err != nil {
		return err
	}
	peak := overload.Closed(ctx, peakCfg, s, hot)
	o.HotPeak = &peak.Load
	b.res.HotAccountOverloadPeak = peak.Goodput
	// Closed loop: its latencies are from a schedule nobody keeps.
	b.printf("  %-12s %d orders at a time, each after the last answered → paid %6.1f/s, failures %v\n",
		"1 account", o.HotClients, peak.Goodput, load.Codes(peak.Codes))
	rep, err := overload.Check(ctx, s, b.dbs["kassa_order"], b.dbs["kassa_billing"], peak, before)
	if err != nil {
		return err
	}
	o.Check = append(o.Check, rep)
	if peak.Goodput <= 0 {
		return fmt.Errorf("overload: the hot account served nothing")
	}
	cfg.Rate, cfg.Keys = 2*peak.Goodput, b.main.gen.Run+"-hot"
	if err := b.overloadRun(ctx, s, cfg, hot, &o.Hot, &o.HotObserved); err != nil {
		return err
	}

	f := &b.res.overloadFigures
	f.OverloadGoodputRatio = o.Many.Goodput / o.Peak
	f.OverloadShedP99Ms, f.OverloadAdmittedP99Ms = o.Many.ShedP99, o.Many.AdmittedP99
	f.HotAccountOverloadGoodputRatio = o.Hot.Goodput / peak.Goodput
	f.HotAccountShedP99Ms, f.HotAccountAdmittedP99Ms = o.Hot.ShedP99, o.Hot.AdmittedP99
	for _, c := range o.Check {
		if len(c.Problems) > 0 {
			b.res.Correct = false
			b.printf("overload check: %v\n", c.Problems)
		}
	}
	return nil
}

// overloadRun runs cfg on users and checks it, storing the result in dst
// and what the machine did meanwhile in obs.
func (b *bench) overloadRun(ctx context.Context, s *overload.Sender, cfg overload.Config, users []target.User, dst **overload.Result, obs **observed) error {
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	before, err := overload.Balances(ctx, b.dbs["kassa_billing"], ids)
	if err != nil {
		return err
	}
	observe := b.observeWindow(ctx, cfg.Warmup, cfg.Duration)
	r := overload.Run(ctx, cfg, s, users)
	seen := observe()
	if err := ctx.Err(); err != nil {
		return err
	}
	seen.costPer(r.Goodput)
	*dst, *obs = r, &seen
	b.printf("  %-12s %s\n  %-12s CPU %s\n", fmt.Sprintf("%d accounts", len(users)), r.Line(), "", seen.cpuLine())
	rep, err := overload.Check(ctx, s, b.dbs["kassa_order"], b.dbs["kassa_billing"], r, before)
	if err != nil {
		return err
	}
	b.res.Overload.Check = append(b.res.Overload.Check, rep)
	return nil
}

// overloadTargets are the targets' verdicts, after the others.
func (r *result) overloadTargets() []targetCheck {
	if r.Note != "" {
		return nil // a smoke run measures nothing
	}
	return overloadChecks("", r.overloadFigures, r.Overload)
}

// overloadChecks judges one mode's overload figures f; mode prefixes the
// targets' names.
func overloadChecks(mode string, f overloadFigures, o *overloadResult) []targetCheck {
	if o == nil || o.Many == nil || o.Hot == nil {
		return nil
	}
	return []targetCheck{
		{mode + "at 2× the peak: shed p99 < 100 ms, admitted p99 < 50 ms, goodput ≥ 90% of the peak",
			f.OverloadShedP99Ms < targetShedP99Ms && f.OverloadAdmittedP99Ms < targetAdmittedP99Ms && f.OverloadGoodputRatio >= targetGoodputRatio,
			fmt.Sprintf("shed p99 %.1f ms, admitted p99 %.1f ms, goodput %.0f%% (%.1f of %.1f orders/s)",
				f.OverloadShedP99Ms, f.OverloadAdmittedP99Ms, 100*f.OverloadGoodputRatio, o.Many.Goodput, o.Peak)},
		{mode + "one account at 2× its peak: the same",
			f.HotAccountShedP99Ms < targetShedP99Ms && f.HotAccountAdmittedP99Ms < targetAdmittedP99Ms && f.HotAccountOverloadGoodputRatio >= targetGoodputRatio,
			fmt.Sprintf("shed p99 %.1f ms, admitted p99 %.1f ms, goodput %.0f%% (%.1f of %.1f orders/s)",
				f.HotAccountShedP99Ms, f.HotAccountAdmittedP99Ms, 100*f.HotAccountOverloadGoodputRatio, o.Hot.Goodput, f.HotAccountOverloadPeak)},
	}
}
