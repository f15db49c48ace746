package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kassa-dev/kassa/bench/verify"
)

// The targets of the all-in-one mode (issue 17).
const (
	targetAllInOneShare   = 0.70 // of the pgbench ceiling
	targetMicroShare      = 0.35
	targetAllInOneOverMSA = 1.8 // all-in-one orders/s ÷ microservices orders/s
	targetAllInOneRSSMiB  = 80.0
	// restPause is how long the all-in-one process idles before its RSS
	// at rest is read.
	restPause = 20 * time.Second
)

// allInOneFigures are result.json's all-in-one numbers, at the top level.
type allInOneFigures struct {
	AllInOneRESTOrdersPerS   float64 `json:"allinone_rest_orders_per_s,omitempty"`
	AllInOneGRPCOrdersPerS   float64 `json:"allinone_grpc_orders_per_s,omitempty"`
	AllInOneShareOfCeiling   float64 `json:"allinone_share_of_ceiling,omitempty"`
	AllInOneOverMicro        float64 `json:"allinone_vs_microservices_ratio,omitempty"`
	AllInOneHalfPeakRate     float64 `json:"allinone_half_peak_requests_per_s,omitempty"`
	AllInOneRESTP50MsAtHalf  float64 `json:"allinone_rest_p50_ms_at_half_peak,omitempty"`
	AllInOneRESTP99MsAtHalf  float64 `json:"allinone_rest_p99_ms_at_half_peak,omitempty"`
	AllInOneGRPCP99MsAtHalf  float64 `json:"allinone_grpc_p99_ms_at_half_peak,omitempty"`
	AllInOneGatewayP99Ratio  float64 `json:"allinone_gateway_p99_ratio,omitempty"`
	AllInOneRSSMiBAtRest     float64 `json:"allinone_rss_mib_at_rest,omitempty"`
	AllInOneRSSMiBAfterLoad  float64 `json:"allinone_rss_mib_after_load,omitempty"`
	AllInOneCPUMsPerRequest  float64 `json:"allinone_cpu_ms_per_request_at_half_peak,omitempty"`
	AllInOnePGCPUMsPerRequst float64 `json:"allinone_postgres_cpu_ms_per_request_at_half_peak,omitempty"`
	AllInOneCorrect          *bool   `json:"allinone_correct,omitempty"`
	// The overload figures of the all-in-one mode, named as the
	// microservices' with the allinone_ prefix.
	AllInOneOverloadGoodputRatio    float64 `json:"allinone_overload_goodput_ratio,omitempty"`
	AllInOneOverloadShedP99Ms       float64 `json:"allinone_overload_shed_p99_ms,omitempty"`
	AllInOneOverloadAdmittedP99Ms   float64 `json:"allinone_overload_admitted_p99_ms,omitempty"`
	AllInOneHotOverloadPeak         float64 `json:"allinone_hot_account_overload_peak_orders_per_s,omitempty"`
	AllInOneHotOverloadGoodputRatio float64 `json:"allinone_hot_account_overload_goodput_ratio,omitempty"`
	AllInOneHotShedP99Ms            float64 `json:"allinone_hot_account_shed_p99_ms,omitempty"`
	AllInOneHotAdmittedP99Ms        float64 `json:"allinone_hot_account_admitted_p99_ms,omitempty"`
	// AllInOne is what the all-in-one run measured and checked, and only
	// that: its figures above are the ones to quote.
	AllInOne *allInOneRun `json:"allinone,omitempty"`
}

// allInOneRun is the all-in-one run's own record in result.json.
type allInOneRun struct {
	REST    *peakResult                 `json:"rest_search,omitempty"`
	GRPC    *peakResult                 `json:"grpc_search,omitempty"`
	Half    *halfResult                 `json:"half_peak,omitempty"`
	RSS     map[string]*rss             `json:"rss_mib"`
	Errors  map[string]map[string]int64 `json:"errors"`
	Correct bool                        `json:"correct"`
	Verify  verify.Report               `json:"verify"`
	// Overload is the overload runs' detail; OverloadFigures their
	// figures, to judge the targets by.
	Overload        *overloadResult `json:"overload,omitempty"`
	OverloadFigures overloadFigures `json:"-"`
}

// allInOne measures the all-in-one process as measureMode measured the
// microservices, on a stack of its own (its own cluster, the same
// settings and the same number of users): the REST and gRPC peak
// searches, the latency at half of its peak, the CPU profile with -pprof
// (kassa.cpu.pprof beside the microservices'), the correctness check and
// the overload runs. The ceiling is the one measured before; the large
// data set and the hot account's peak search are the microservices'
// only, to keep the benchmark's time within reason.
func (b *bench) allInOne(ctx context.Context) error {
	c := b.cfg
	c.largeUsers = 0
	c.out, c.chartOut, c.plansOut = "", "", ""
	c.logs = strings.TrimSuffix(c.logs, ".log") + "-allinone.log"
	a := &bench{cfg: c, out: b.out, tty: b.tty, mode: allinone}
	a.res.Config, a.res.Machine, a.res.Ceiling = b.res.Config, b.res.Machine, b.res.Ceiling
	b.printf("\nall-in-one: one process for the gateway and the four services, on a stack of its own\n")
	err := func() error {
		defer a.stopStack()
		if err := a.startStack(ctx); err != nil {
			return err
		}
		if err := a.createUsers(ctx); err != nil {
			return err
		}
		// At rest as in the microservices' run, which measures after the
		// ceiling's half minute without requests.
		if err := pause(ctx, restPause); err != nil {
			return err
		}
		a.res.RSS = map[string]*rss{}
		for name, v := range a.rss() {
			a.res.RSS[name] = &rss{Rest: v}
		}
		for _, phase := range []func(context.Context) error{a.peaks, a.halfPeak, a.profile} {
			if err := phase(ctx); err != nil {
				return err
			}
		}
		for name, v := range a.rss() {
			if r := a.res.RSS[name]; r != nil {
				r.AfterLoad = v
			}
		}
		if err := a.check(ctx); err != nil {
			return err
		}
		return a.overload(ctx)
	}()
	if err != nil {
		a.printLogTail()
		return fmt.Errorf("all-in-one: %w", err)
	}
	a.res.finish(false)
	b.res.addRun(allinone, dataEmpty, a.res.REST, a.res.Half.rest())
	b.res.setAllInOne(&a.res)
	return nil
}

// setAllInOne copies the headline figures of the all-in-one run a.
func (r *result) setAllInOne(a *result) {
	f := &r.allInOneFigures
	f.AllInOne = &allInOneRun{REST: a.REST, GRPC: a.GRPC, Half: a.Half, RSS: a.RSS, Errors: a.Errors, Correct: a.Correct, Verify: a.Verify,
		Overload: a.Overload, OverloadFigures: a.overloadFigures}
	o := a.overloadFigures
	f.AllInOneOverloadGoodputRatio, f.AllInOneOverloadShedP99Ms, f.AllInOneOverloadAdmittedP99Ms = o.OverloadGoodputRatio, o.OverloadShedP99Ms, o.OverloadAdmittedP99Ms
	f.AllInOneHotOverloadPeak, f.AllInOneHotOverloadGoodputRatio = o.HotAccountOverloadPeak, o.HotAccountOverloadGoodputRatio
	f.AllInOneHotShedP99Ms, f.AllInOneHotAdmittedP99Ms = o.HotAccountShedP99Ms, o.HotAccountAdmittedP99Ms
	correct := a.Correct
	f.AllInOneCorrect = &correct
	r.Correct = r.Correct && a.Correct
	f.AllInOneRESTOrdersPerS, f.AllInOneGRPCOrdersPerS = a.RESTOrdersPerS, a.GRPCOrdersPerS
	f.AllInOneHalfPeakRate = a.HalfPeakRequestsPerS
	f.AllInOneRESTP50MsAtHalf, f.AllInOneRESTP99MsAtHalf = a.RESTP50MsAtHalfPeak, a.RESTP99MsAtHalfPeak
	f.AllInOneGRPCP99MsAtHalf, f.AllInOneGatewayP99Ratio = a.GRPCP99MsAtHalfPeak, a.GatewayP99Ratio
	if v := a.RSS[allInOneProcess]; v != nil {
		f.AllInOneRSSMiBAtRest, f.AllInOneRSSMiBAfterLoad = v.Rest, v.AfterLoad
	}
	if h := a.Half; h != nil && h.REST != nil {
		f.AllInOneCPUMsPerRequest = h.REST.Observed.PerRequest[allInOneProcess]
		f.AllInOnePGCPUMsPerRequst = h.REST.Observed.PerRequest["postgres"]
	}
}

// printAllInOne shows the two modes side by side.
func (r *result) printAllInOne(p printer) {
	f := r.allInOneFigures
	if f.AllInOne == nil {
		return
	}
	p("\n%-44s %14s %14s\n", "mode (empty database)", "microservices", "all-in-one")
	p("%-44s %14.1f %14.1f\n", "REST orders/s at the peak", r.RESTOrdersPerS, f.AllInOneRESTOrdersPerS)
	p("%-44s %14.1f %14.1f\n", "gRPC orders/s at the peak", r.GRPCOrdersPerS, f.AllInOneGRPCOrdersPerS)
	p("%-44s %13.0f%% %13.0f%%\n", "REST share of the ceiling", 100*r.RESTShareOfCeiling, 100*f.AllInOneShareOfCeiling)
	p("%-44s %14.1f %14.1f\n", "REST p99 ms at half the peak", r.RESTP99MsAtHalfPeak, f.AllInOneRESTP99MsAtHalf)
	p("%-44s %14.2f %14.2f\n", "gateway p99 ÷ gRPC p99 at half the peak", r.GatewayP99Ratio, f.AllInOneGatewayP99Ratio)
	p("%-44s %14s %14.1f\n", "RSS at rest, MiB (all-in-one: one process)", "per process", f.AllInOneRSSMiBAtRest)
	if f.AllInOne.Overload != nil {
		p("%-44s %13.0f%% %13.0f%%\n", "at 2× the peak: goodput, of the peak", 100*r.OverloadGoodputRatio, 100*f.AllInOneOverloadGoodputRatio)
		p("%-44s %14.1f %14.1f\n", "at 2× the peak: admitted p99 ms", r.OverloadAdmittedP99Ms, f.AllInOneOverloadAdmittedP99Ms)
		p("%-44s %14.1f %14.1f\n", "at 2× the peak: refusals' p99 ms", r.OverloadShedP99Ms, f.AllInOneOverloadShedP99Ms)
		p("%-44s %13.0f%% %13.0f%%\n", "one account at 2× its peak: goodput", 100*r.HotAccountOverloadGoodputRatio, 100*f.AllInOneHotOverloadGoodputRatio)
		p("%-44s %14.1f %14.1f\n", "one account at 2× its peak: admitted p99 ms", r.HotAccountAdmittedP99Ms, f.AllInOneHotAdmittedP99Ms)
	}
	p("all-in-one ÷ microservices, REST orders/s: %.2f×\n", f.AllInOneOverMicro)
}

// finishAllInOne derives the figures that compare the two modes, once
// finish has the ceiling's and the microservices' own.
func (r *result) finishAllInOne() {
	f := &r.allInOneFigures
	if f.AllInOne == nil {
		return
	}
	if r.PGCeilingOrdersPerS > 0 {
		f.AllInOneShareOfCeiling = f.AllInOneRESTOrdersPerS / r.PGCeilingOrdersPerS
	}
	if r.RESTOrdersPerS > 0 {
		f.AllInOneOverMicro = f.AllInOneRESTOrdersPerS / r.RESTOrdersPerS
	}
}

// allInOneTargets are the targets of the two modes.
func (r *result) allInOneTargets() []targetCheck {
	f := r.allInOneFigures
	if f.AllInOne == nil || r.Note != "" {
		return nil
	}
	checks := []targetCheck{
		{fmt.Sprintf("all-in-one REST ≥ %.0f%% of the ceiling", 100*targetAllInOneShare), f.AllInOneShareOfCeiling >= targetAllInOneShare,
			fmt.Sprintf("%.0f%% (%.1f of %.1f orders/s)", 100*f.AllInOneShareOfCeiling, f.AllInOneRESTOrdersPerS, r.PGCeilingOrdersPerS)},
		{fmt.Sprintf("microservices REST ≥ %.0f%% of the ceiling", 100*targetMicroShare), r.RESTShareOfCeiling >= targetMicroShare,
			fmt.Sprintf("%.0f%%", 100*r.RESTShareOfCeiling)},
		{fmt.Sprintf("all-in-one ≥ %.1f× the microservices", targetAllInOneOverMSA), f.AllInOneOverMicro >= targetAllInOneOverMSA,
			fmt.Sprintf("%.2f×", f.AllInOneOverMicro)},
		{fmt.Sprintf("all-in-one REST p99 < %.0f ms at half its peak", targetP99Ms), f.AllInOneRESTP99MsAtHalf > 0 && f.AllInOneRESTP99MsAtHalf < targetP99Ms,
			fmt.Sprintf("%.1f ms at %.0f requests/s", f.AllInOneRESTP99MsAtHalf, f.AllInOneHalfPeakRate)},
		{fmt.Sprintf("all-in-one process RSS at rest < %.0f MiB", targetAllInOneRSSMiB), f.AllInOneRSSMiBAtRest > 0 && f.AllInOneRSSMiBAtRest < targetAllInOneRSSMiB,
			fmt.Sprintf("%.1f MiB", f.AllInOneRSSMiBAtRest)},
	}
	return append(checks, overloadChecks("all-in-one ", f.AllInOne.OverloadFigures, f.AllInOne.Overload)...)
}
