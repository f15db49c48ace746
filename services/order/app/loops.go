package app

import (
	"context"
	"time"
)

// RepairReport counts what one repair pass did.
type RepairReport struct {
	Finished int // orders that now have their outcome recorded
	Failed   int // orders still pending (billing still does not answer)
}

// Repair settles orders a failure left pending: it asks billing again
// (same idempotency key, so never twice) and records the answer with its
// letter. It runs one pass over at most Config.RepairBatch orders;
// RunRepair calls it periodically.
func (s *Service) Repair(ctx context.Context) (RepairReport, error) {
	var rep RepairReport
	orders, err := s.store.Pending(ctx, s.cfg.RepairMinAge, s.cfg.RepairBatch)
	if err != nil {
		return rep, err
	}
	for _, o := range orders {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		done, err := s.finish(ctx, o)
		if err != nil {
			rep.Failed++
			s.cfg.Metrics.repaired.WithLabelValues("failed").Inc()
			s.log.WarnContext(ctx, "repair: order still pending", "order_id", o.ID, "error", err)
			continue
		}
		rep.Finished++
		s.cfg.Metrics.repaired.WithLabelValues("finished").Inc()
		s.log.InfoContext(ctx, "repair: order settled", "order_id", done.ID, "status", done.Status)
	}
	return rep, nil
}

// RelayReport counts what one relay pass did.
type RelayReport struct {
	Sent   int // letters the notification service stored
	Failed int // letters left in the outbox for a later pass
}

// Relay delivers letters from the outbox that their request did not hand
// over: at least once, as the notification service stores a letter once
// per key. It runs one pass over at most Config.RepairBatch letters.
func (s *Service) Relay(ctx context.Context) (RelayReport, error) {
	var rep RelayReport
	letters, err := s.store.ClaimLetters(ctx, s.cfg.RepairMinAge, s.cfg.RepairBatch)
	if err != nil {
		return rep, err
	}
	for _, l := range letters {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		if err := s.letters.Send(ctx, l); err != nil {
			rep.Failed++
			s.log.WarnContext(ctx, "relay: letter not delivered", "order_id", l.OrderID, "attempts", l.Attempts, "error", err)
			continue
		}
		if _, err := s.store.MarkSent(ctx, l.OrderID); err != nil {
			rep.Failed++
			s.log.WarnContext(ctx, "relay: letter stored but not marked sent", "order_id", l.OrderID, "error", err)
			continue
		}
		rep.Sent++
	}
	return rep, nil
}

// RunRepair runs a repair pass and a relay pass every interval until ctx
// is done.
func (s *Service) RunRepair(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.Repair(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "repair pass failed", "error", err)
		}
		if _, err := s.Relay(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "relay pass failed", "error", err)
		}
	}
}
