package app

import (
	"context"
	"time"
)

// RepairBatch bounds the users one repair pass handles.
const RepairBatch = 100

// RepairPending finishes up to limit users whose account was never
// confirmed (their CreateUser failed at billing and was not retried):
// it opens each account and marks the user ready. It returns how many it
// finished; failures are logged and left for the next pass.
//
// Several replicas may repair the same user at once; that is safe because
// opening an account is idempotent per user.
func (s *Service) RepairPending(ctx context.Context, limit int) (int, error) {
	pending, err := s.store.ListPending(ctx, s.opts.PendingAge, limit)
	if err != nil {
		return 0, err
	}
	done := 0
	for _, u := range pending {
		if ctx.Err() != nil {
			return done, ctx.Err()
		}
		if _, err := s.finish(ctx, u); err == nil {
			done++
			s.opts.Metrics.repaired.Inc()
		}
	}
	return done, nil
}

// RunRepair calls RepairPending every interval until ctx is done. Run it
// with service.Deps.Go.
func (s *Service) RunRepair(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.RepairPending(ctx, RepairBatch)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.ErrorContext(ctx, "repair of pending users failed", "error", err)
		case n > 0:
			s.log.InfoContext(ctx, "opened billing accounts of pending users", "count", n)
		}
	}
}
