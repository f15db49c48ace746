package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/validate"
)

// Cancel cancels order id of userID and returns it: everything of its
// price not refunded yet is given back, and the order becomes Cancelled
// with a letter saying so; a pending one is settled first and cancelled
// if it was paid. A rejected or cancelled order comes back unchanged. The
// refund is recorded before billing is asked, so when billing does not
// answer the call is UNAVAILABLE (ORDER_NOT_FINISHED) and the repair loop,
// or a retry, finishes it. An order is cancelled at most once whatever
// the key; requestID ("" = none) only may not name another refund
// (REQUEST_ID_REUSED).
func (s *Service) Cancel(ctx context.Context, userID, id, reason, requestID string) (order.Order, error) {
	return s.refundOrder(ctx, userID, id, 0, reason, requestID)
}

// PartialRefund gives amount (minor units, 1 to the price) of order id of
// userID back and returns the order, Paid with the running total in
// Refunded, or Cancelled when amount was all that remained. requestID is
// required: a retry without it could not be told from a second refund.
// The same key with the same order and amount answers the order without
// moving money again; with another amount or order it is
// REQUEST_ID_REUSED. More than remains unrefunded is
// REFUND_EXCEEDS_REMAINING, a declined order ORDER_NOT_PAID; neither
// writes anything.
func (s *Service) PartialRefund(ctx context.Context, userID, id string, amount int64, reason, requestID string) (order.Order, error) {
	if err := validate.Amount("amount", amount); err != nil {
		return order.Order{}, err
	}
	if requestID == "" {
		return order.Order{}, apperr.Invalid("request_id", "is required with amount: without a key a retried partial refund would refund twice")
	}
	return s.refundOrder(ctx, userID, id, amount, reason, requestID)
}

// refundOrder is Cancel (amount 0) and PartialRefund.
func (s *Service) refundOrder(ctx context.Context, userID, id string, amount int64, reason, requestID string) (order.Order, error) {
	userID, err := validate.ID("user_id", userID)
	if err != nil {
		return order.Order{}, err
	}
	if id, err = validate.ID("id", id); err != nil {
		return order.Order{}, err
	}
	if n := utf8.RuneCountInString(reason); n > order.MaxCancelReasonLen {
		return order.Order{}, apperr.Invalid("reason", "must be at most %d characters, got %d", order.MaxCancelReasonLen, n)
	}
	if err := validate.RequestID("request_id", requestID, false); err != nil {
		return order.Order{}, err
	}
	o, due, err := s.store.RequestRefund(ctx, userID, id, amount, reason, requestID, s.cfg.RepairMinAge)
	if err != nil {
		return order.Order{}, err
	}
	if o.Status == order.Rejected || o.Status == order.Cancelled {
		s.cfg.Metrics.cancels.WithLabelValues(cancelUnchanged).Inc()
		return o, nil
	}
	done, recorded, err := s.refund(ctx, o, due)
	switch {
	case err == nil && done.Status == order.Rejected && amount != 0:
		// Settled just now and declined: nothing was taken, and the
		// refund was dropped with the payment.
		s.cfg.Metrics.cancels.WithLabelValues(cancelUnchanged).Inc()
		return order.Order{}, order.ErrNotPaid(id)
	case err == nil:
		if recorded {
			s.cfg.Metrics.cancels.WithLabelValues(cancelRefunded).Inc()
		} else {
			s.cfg.Metrics.cancels.WithLabelValues(cancelUnchanged).Inc()
		}
		return done, nil
	}
	s.cfg.Metrics.cancels.WithLabelValues(cancelUnfinished).Inc()
	switch {
	case errors.Is(err, ErrRefundRefused):
		return order.Order{}, apperr.FailedPrecondition("order %s: %v; the refund is recorded and parked for an operator", id, err).
			WithReason(order.ReasonRefundRefused)
	case errors.Is(err, errBillingSilent):
		return order.Order{}, apperr.Unavailable("order %s: billing did not make the refund yet; retry with the same request_id, or it is finished in the background", id).WithReason(ReasonNotFinished)
	}
	s.log.WarnContext(ctx, "refund recorded but not finished", "order_id", id, "error", err)
	return order.Order{}, apperr.Unavailable("order %s: the refund could not be recorded; retry with the same request_id, or it is finished in the background", id).WithReason(ReasonNotFinished)
}

// refund settles pending order o as the repair pass would, then makes the
// refunds due of it, and returns the order as they left it. recorded
// reports whether this call recorded one; an order that was or became
// rejected is returned as it is. An error means a refund is not recorded
// yet; the others are made all the same.
func (s *Service) refund(ctx context.Context, o order.Order, due []order.Refund) (done order.Order, recorded bool, err error) {
	ctx = context.WithoutCancel(ctx) // as in finish: money moves, so see it through
	if o.Status == order.Pending {
		if o, err = s.finish(ctx, o); err != nil {
			return order.Order{}, false, err
		}
	}
	if o.Status != order.Paid {
		return o, false, nil
	}
	var failed error
	for _, r := range due {
		stored, ok, err := s.makeRefund(ctx, r)
		if err != nil {
			if errors.Is(err, ErrRefundRefused) {
				s.refundFailed(ctx, r, err) // parked at once: asking again gets the same refusal
			}
			failed = cmp.Or(failed, err)
			continue
		}
		o, recorded = stored, recorded || ok
	}
	if failed != nil {
		return order.Order{}, recorded, failed
	}
	return o, recorded, nil
}

// makeRefund asks billing for refund r under its key, records what billing
// gave back with its letter and hands the letter over. recorded is false
// when another worker recorded it first and hands its letter over.
func (s *Service) makeRefund(ctx context.Context, r order.Refund) (stored order.Order, recorded bool, err error) {
	given, err := s.payments.Refund(ctx, Refund{
		UserID: r.UserID, OrderID: r.OrderID, Amount: r.Asked, RequestID: r.BillingKey, Reason: r.Reason,
	})
	if errors.Is(err, ErrRefundRefused) {
		s.cfg.Metrics.refundOutcomes.WithLabelValues(refundRefused).Inc()
		s.log.ErrorContext(ctx, "billing refused a refund reserved against the order's price", "order_id", r.OrderID, "refund", r.Seq, "error", err)
		return order.Order{}, false, fmt.Errorf("refund %d of order %s: %w", r.Seq, r.OrderID, err)
	}
	if err != nil {
		s.cfg.Metrics.refundOutcomes.WithLabelValues(refundFailed).Inc()
		s.log.WarnContext(ctx, "billing did not refund; the order stays paid", "order_id", r.OrderID, "refund", r.Seq, "error", err)
		return order.Order{}, false, fmt.Errorf("refund %d of order %s: %w: %w", r.Seq, r.OrderID, errBillingSilent, err)
	}
	stored, recorded, err = s.store.RecordRefund(ctx, r, given, s.cfg.RepairMinAge)
	if err != nil || !recorded {
		return stored, false, err
	}
	s.cfg.Metrics.refundOutcomes.WithLabelValues(refundMade).Inc()
	s.cfg.Metrics.refunds.WithLabelValues(stored.Currency).Add(float64(given))
	// The store wrote the cancellation letter for the refund that ended
	// the order (only a record that ends it cancels it) and a refund
	// letter for any other; this is the same letter.
	letter := order.RefundLetter(stored, r, given)
	if stored.Status == order.Cancelled {
		letter = order.CancelLetter(stored)
	}
	if sent, ok := s.deliver(ctx, letter); ok {
		stored = sent
	}
	return stored, true, nil
}

// refundFailed schedules the next attempt of refund r after its failure
// cause, by the retry policy, or parks it: at once when billing refused it
// for good, else after the policy's last attempt. It reports whether it
// parked it.
func (s *Service) refundFailed(ctx context.Context, r order.Refund, cause error) (parked bool) {
	now := time.Now()
	next, park := s.cfg.Retry.After(now, r.Attempts)
	park = park || errors.Is(cause, ErrRefundRefused)
	delay := next.Sub(now)
	if park {
		delay = 0
	}
	if err := s.store.RefundFailed(ctx, r, delay, park, cause.Error()); err != nil {
		s.log.ErrorContext(ctx, "refund not rescheduled", "order_id", r.OrderID, "refund", r.Seq, "error", err)
		return false
	}
	if park {
		s.cfg.Metrics.parked.WithLabelValues(string(order.StepRefund)).Inc()
		s.log.ErrorContext(ctx, "refund parked", "order_id", r.OrderID, "refund", r.Seq, "attempts", r.Attempts, "error", cause)
	}
	return park
}

// repairRefunds makes the refunds their request did not, as Repair does
// for payments: one claim at a time, due by began, a failure pushed back
// by the retry policy and parked after its last attempt, or at once when
// billing refused it for good.
func (s *Service) repairRefunds(ctx context.Context, began time.Time, rep *RepairReport) error {
	for range s.cfg.RepairBatch {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		claimed, err := s.store.ClaimRefunds(ctx, s.lease(), 1, began)
		if err != nil {
			return err
		}
		if len(claimed) == 0 {
			return nil
		}
		r := claimed[0]
		if _, _, err := s.makeRefund(ctx, r); err != nil {
			rep.RefundsFailed++
			if s.refundFailed(ctx, r, err) {
				rep.RefundsParked++
			}
			continue
		}
		rep.Refunded++
		s.log.InfoContext(ctx, "repair: refund made", "order_id", r.OrderID, "refund", r.Seq)
	}
	return nil
}
