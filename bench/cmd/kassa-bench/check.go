package main

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/kassa-dev/kassa/bench/verify"
)

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
			if attempt > 0 { // back off between retries
				if err := pause(ctx, time.Duration(attempt)*300*time.Millisecond); err != nil {
					return err
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
		// Polling the database for a condition, bounded by the deadline.
		if err := pause(ctx, 200*time.Millisecond); err != nil {
			return err
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
