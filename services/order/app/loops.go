package app

import (
	"context"
	"time"

	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/platform/retry"
)

// RepairReport counts what one repair pass did.
type RepairReport struct {
	Finished int // orders that now have their outcome recorded
	Failed   int // orders still pending (billing still does not answer)
	Parked   int // of Failed, those that reached the attempt cap
	// Refunded counts the refunds now recorded, RefundsFailed those
	// billing did not make, RefundsParked of these the ones parked.
	Refunded      int
	RefundsFailed int
	RefundsParked int
}

// Repair settles orders a failure left pending, and makes the refunds a
// failure left undone: it asks billing again
// (same idempotency key, so never twice) and records the answer with its
// letter. One pass settles at most Config.RepairBatch due orders, the
// longest due first, claiming them one at a time; a failure pushes the order back by the retry policy
// or parks it, so orders that never finish cannot keep newer ones out of
// the batch. RunRepair calls it periodically.
func (s *Service) Repair(ctx context.Context) (RepairReport, error) {
	var rep RepairReport
	defer s.refreshParked(ctx)
	// One order per claim: the lease covers one attempt, so an order that
	// waits behind slow ones in a batch is never claimed by a second
	// replica while this pass still holds it.
	began := time.Now()
	for range s.cfg.RepairBatch {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		claimed, err := s.store.ClaimPayments(ctx, s.lease(), 1, began)
		if err != nil {
			return rep, err
		}
		if len(claimed) == 0 {
			break
		}
		o := claimed[0]
		done, err := s.finish(ctx, o)
		if err != nil {
			rep.Failed++
			s.cfg.Metrics.repaired.WithLabelValues("failed").Inc()
			if s.failed(ctx, order.StepPayment, o.ID, "", o.PayAttempts, err) {
				rep.Parked++
			}
			continue
		}
		rep.Finished++
		s.cfg.Metrics.repaired.WithLabelValues("finished").Inc()
		s.log.InfoContext(ctx, "repair: order settled", "order_id", done.ID, "status", done.Status)
	}
	// Refunds come after payments, so an order settled just now whose
	// refund was asked for while it was pending is refunded in the same
	// pass.
	return rep, s.repairRefunds(ctx, began, &rep)
}

// RelayReport counts what one relay pass did.
type RelayReport struct {
	Sent   int // letters the notification service stored
	Failed int // letters left in the outbox for a later attempt
	Parked int // of Failed, those that reached the attempt cap
}

// Relay delivers letters from the outbox that their request did not hand
// over: at least once, as the notification service stores a letter once
// per key. Like Repair it claims at most Config.RepairBatch due letters
// and reschedules or parks the failures.
func (s *Service) Relay(ctx context.Context) (RelayReport, error) {
	var rep RelayReport
	defer s.refreshParked(ctx)
	began := time.Now()
	for range s.cfg.RepairBatch { // one letter per claim, as in Repair
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		claimed, err := s.store.ClaimLetters(ctx, s.lease(), 1, began)
		if err != nil {
			return rep, err
		}
		if len(claimed) == 0 {
			break
		}
		l := claimed[0]
		err = s.letters.Send(ctx, l)
		if err == nil {
			_, err = s.store.MarkSent(ctx, l.OrderID, l.RequestID)
		}
		if err != nil {
			rep.Failed++
			if s.failed(ctx, order.StepLetter, l.OrderID, l.RequestID, l.Attempts, err) {
				rep.Parked++
			}
			continue
		}
		rep.Sent++
	}
	return rep, nil
}

// lease is how long a claimed item is hidden from other loops: longer than
// one attempt (items are claimed one at a time) (a billing or notification call is bounded by the call
// timeout, which RepairMinAge is well past).
func (s *Service) lease() time.Duration { return max(s.cfg.RepairMinAge, time.Second) }

// failed schedules the next attempt of a step that has now failed attempts
// times, or parks it once the policy says so; it reports whether it parked
// it. letter names the letter of a StepLetter. When the schedule cannot be
// written the claim's lease stands in.
func (s *Service) failed(ctx context.Context, step order.Step, orderID, letter string, attempts int, cause error) (parked bool) {
	now := time.Now()
	next, park := s.cfg.Retry.After(now, attempts)
	delay := next.Sub(now)
	if park {
		delay = 0
	}
	if step == order.StepPayment {
		err := s.store.PaymentFailed(ctx, orderID, delay, park, cause.Error())
		if err != nil {
			s.log.ErrorContext(ctx, "repair: payment not rescheduled", "order_id", orderID, "error", err)
			return false
		}
	} else if err := s.store.LetterFailed(ctx, orderID, letter, delay, park, cause.Error()); err != nil {
		s.log.ErrorContext(ctx, "relay: letter not rescheduled", "order_id", orderID, "error", err)
		return false
	}
	if park {
		s.cfg.Metrics.parked.WithLabelValues(string(step)).Inc()
		s.log.ErrorContext(ctx, "parked after too many failed attempts", "step", step, "order_id", orderID, "attempts", attempts, "error", cause)
		return true
	}
	s.log.WarnContext(ctx, "attempt failed; retrying later", "step", step, "order_id", orderID, "attempts", attempts, "next_attempt", next, "error", cause)
	return false
}

// refreshParked sets the parked-items gauge from the store's count, so it
// is right however the items were parked or released (another replica, an
// operator).
func (s *Service) refreshParked(ctx context.Context) {
	counts, err := s.store.CountParked(context.WithoutCancel(ctx))
	if err != nil {
		s.log.WarnContext(ctx, "parked items not counted", "error", err)
		return
	}
	for _, step := range order.Steps {
		s.cfg.Metrics.parkedItems.WithLabelValues(string(step)).Set(float64(counts[step]))
	}
}

// RunRepair runs a repair pass and a relay pass every interval until ctx
// is done.
func (s *Service) RunRepair(ctx context.Context, interval time.Duration) {
	retry.Every(ctx, interval, func(ctx context.Context) {
		if _, err := s.Repair(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "repair pass failed", "error", err)
		}
		if _, err := s.Relay(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "relay pass failed", "error", err)
		}
	})
}
