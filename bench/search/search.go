// Package search finds the peak sustainable rate of a system: the highest
// arrival rate at which it keeps up with the offered load, answers without
// errors and keeps its 99th percentile latency under a bound. It steps the
// rate up geometrically until a step fails, then bisects between the last
// good and the first bad rate. The measurement is injected, so the search
// itself is a pure function of the answers it gets.
package search

import (
	"context"
	"fmt"
	"time"
)

// Measurement is what one step at one rate observed.
type Measurement struct {
	// Achieved is successful requests per second in the step's window.
	Achieved float64
	P99      time.Duration
	Errors   int64
	// Unsent counts requests the generator could not start in time.
	Unsent int64
}

// Step is a measured rate with its verdict.
type Step struct {
	Rate float64
	Measurement
	Good bool
	// Why says why a step failed.
	Why string
}

// Config tunes the search.
type Config struct {
	// Start is the first rate tried.
	Start float64
	// Factor multiplies the rate after a good step (> 1).
	Factor float64
	// MaxSteps bounds the number of measurements.
	MaxSteps int
	// Refine is how many bisection steps follow the first failure.
	Refine int
	// P99Limit is the highest acceptable 99th percentile.
	P99Limit time.Duration
	// MinKeepUp is the share of the offered rate that must be served
	// (0.95 = within 5%).
	MinKeepUp float64
	// MinRate stops the downward search when even low rates fail.
	MinRate float64
	// Confirm is how many times a failing rate is measured again before
	// it counts as failed. On a machine shared with other work, a burst
	// of someone else's load can fail one step of a rate the system
	// sustains; a confirmed failure is the system's.
	Confirm int
}

// Judge decides whether a step at rate sustained the load.
func (c Config) Judge(rate float64, m Measurement) (bool, string) {
	switch {
	case m.Errors > 0:
		return false, fmt.Sprintf("%d errors", m.Errors)
	case m.Unsent > 0:
		return false, fmt.Sprintf("%d requests could not be started in time", m.Unsent)
	case m.P99 > c.P99Limit:
		return false, fmt.Sprintf("p99 %.1f ms > %.0f ms", ms(m.P99), ms(c.P99Limit))
	case m.Achieved < c.MinKeepUp*rate:
		return false, fmt.Sprintf("served %.0f/s of %.0f/s offered", m.Achieved, rate)
	}
	return true, ""
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Result is the outcome of a search.
type Result struct {
	Steps []Step
	// Best is the good step with the highest achieved rate; nil when no
	// step was good.
	Best *Step
}

// Peak is the achieved rate of the best step (0 when none was good).
func (r Result) Peak() float64 {
	if r.Best == nil {
		return 0
	}
	return r.Best.Achieved
}

// Measure runs one step at rate.
type Measure func(ctx context.Context, rate float64) (Measurement, error)

// Run searches for the peak. It returns the steps made so far with any
// error of measure or the context.
func Run(ctx context.Context, c Config, measure Measure) (Result, error) {
	if c.Factor <= 1 {
		return Result{}, fmt.Errorf("search factor %v must be above 1", c.Factor)
	}
	if c.Start <= 0 {
		return Result{}, fmt.Errorf("search start rate %v must be positive", c.Start)
	}
	var res Result
	var good, bad *Step
	try := func(rate float64) (*Step, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m, err := measure(ctx, rate)
		if err != nil {
			return nil, err
		}
		s := Step{Rate: rate, Measurement: m}
		s.Good, s.Why = c.Judge(rate, m)
		res.Steps = append(res.Steps, s)
		return &res.Steps[len(res.Steps)-1], nil
	}
	steps := func() int { return len(res.Steps) }
	// measure tries rate, again up to Confirm times while it fails.
	measureRate := func(rate float64) (*Step, error) {
		s, err := try(rate)
		for i := 0; err == nil && !s.Good && i < c.Confirm && steps() < c.MaxSteps; i++ {
			s, err = try(rate)
		}
		return s, err
	}
	// Up while good; down while nothing has been good yet.
	rate := c.Start
	for steps() < c.MaxSteps {
		s, err := measureRate(rate)
		if err != nil {
			return finish(res), err
		}
		if s.Good {
			good = copyStep(s)
			if bad != nil {
				break // a failure above is known: bisect
			}
			rate *= c.Factor
			continue
		}
		bad = copyStep(s)
		if good != nil {
			break
		}
		rate /= c.Factor * c.Factor
		if rate < c.MinRate {
			break
		}
	}
	// Bisect between the highest good and the lowest bad rate.
	for i := 0; i < c.Refine && good != nil && bad != nil && steps() < c.MaxSteps; i++ {
		if bad.Rate/good.Rate < 1.05 {
			break // close enough: finer steps are lost in the noise
		}
		s, err := measureRate((good.Rate + bad.Rate) / 2)
		if err != nil {
			return finish(res), err
		}
		if s.Good {
			good = copyStep(s)
		} else {
			bad = copyStep(s)
		}
	}
	return finish(res), nil
}

func copyStep(s *Step) *Step { c := *s; return &c }

func finish(res Result) Result {
	for i := range res.Steps {
		s := &res.Steps[i]
		if s.Good && (res.Best == nil || s.Achieved > res.Best.Achieved) {
			res.Best = s
		}
	}
	return res
}
