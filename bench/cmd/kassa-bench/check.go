package main

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/kassa-dev/kassa/bench/verify"
)

// check retries what failed (a client would: same idempotency key), waits
// until no order is unfinished, then verifies the databases, crowd by
// crowd.
func (b *bench) check(ctx context.Context) error {
	b.res.Correct = true
	for _, c := range []*crowd{b.main, b.hot} {
		rep, err := b.checkCrowd(ctx, c)
		if err != nil {
			return err
		}
		if c == b.main {
			b.res.Verify = rep
		} else {
			b.res.VerifyHot = &rep
		}
		b.res.Correct = b.res.Correct && rep.OK()
	}
	return nil
}

func (b *bench) checkCrowd(ctx context.Context, c *crowd) (verify.Report, error) {
	c.failedMu.Lock()
	failed := slices.Clone(c.failed)
	c.failedMu.Unlock()
	slices.Sort(failed)
	failed = slices.Compact(failed)
	still := 0
	for _, seq := range failed {
		op := c.gen.Op(seq)
		ok := false
		for attempt := range 6 {
			if attempt > 0 { // back off between retries
				if err := pause(ctx, time.Duration(attempt)*300*time.Millisecond); err != nil {
					return verify.Report{}, err
				}
			}
			out := b.call(ctx, b.grpc, c, op)
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
	b.res.Retried += len(failed)
	b.res.RetryFailed += still
	if len(failed) > 0 {
		b.printf("retried %d failed requests of the %s users with their idempotency keys: %d still failing\n", len(failed), c.name, still)
	}
	ids := c.ids()
	// Orders whose client gave up may still be finishing in the services.
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := verify.Unfinished(ctx, b.dbs["kassa_order"], ids)
		if err != nil {
			return verify.Report{}, err
		}
		if n == 0 || time.Now().After(deadline) {
			break
		}
		// Polling the database for a condition, bounded by the deadline.
		if err := pause(ctx, 200*time.Millisecond); err != nil {
			return verify.Report{}, err
		}
	}
	facts, err := verify.Load(ctx, verify.DBs{Order: b.dbs["kassa_order"], Billing: b.dbs["kassa_billing"], Notification: b.dbs["kassa_notification"]}, ids)
	if err != nil {
		return verify.Report{}, err
	}
	return verify.Check(facts, verify.Expect{Gen: c.gen, Users: ids, FundKey: c.fundKey}), nil
}
