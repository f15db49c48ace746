package app

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/validate"
)

// Cancel cancels order id of userID and returns it. A paid order becomes
// Cancelled once billing refunded it, with a letter saying so; a pending
// one is settled first and cancelled if it was paid. A rejected or
// cancelled order comes back unchanged. The cancellation is stored before
// billing is asked, so when billing does not answer the call is
// UNAVAILABLE (ORDER_NOT_FINISHED) and the repair loop, or a retry,
// finishes it; billing refunds once under order.RefundRequestID. An order
// is cancelled at most once whatever the key; requestID ("" = none) only
// may not name the cancellation of another order (REQUEST_ID_REUSED).
func (s *Service) Cancel(ctx context.Context, userID, id, reason, requestID string) (order.Order, error) {
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
	o, err := s.store.RequestCancel(ctx, userID, id, reason, requestID, s.cfg.RepairMinAge)
	if err != nil {
		return order.Order{}, err
	}
	if o.Status == order.Rejected || o.Status == order.Cancelled {
		s.cfg.Metrics.cancels.WithLabelValues(cancelUnchanged).Inc()
		return o, nil
	}
	done, recorded, err := s.cancel(ctx, o)
	switch {
	case err == nil:
		if recorded {
			s.cfg.Metrics.cancels.WithLabelValues(cancelRefunded).Inc()
		} else {
			s.cfg.Metrics.cancels.WithLabelValues(cancelUnchanged).Inc()
		}
		return done, nil
	case errors.Is(err, errBillingSilent):
		s.cfg.Metrics.cancels.WithLabelValues(cancelUnfinished).Inc()
		return order.Order{}, apperr.Unavailable("order %s is being cancelled: billing did not refund it yet; retry, or the refund is finished in the background", id).WithReason(ReasonNotFinished)
	}
	s.cfg.Metrics.cancels.WithLabelValues(cancelUnfinished).Inc()
	s.log.WarnContext(ctx, "cancellation recorded but not finished", "order_id", id, "error", err)
	return order.Order{}, apperr.Unavailable("order %s is being cancelled: the refund could not be recorded; retry, or it is finished in the background", id).WithReason(ReasonNotFinished)
}

// cancel finishes the requested cancellation of o: it settles a pending
// order as the repair pass would, refunds a paid one and records the
// refund with its letter, then hands the letter over. recorded reports
// whether this call recorded the refund; an order that was or became
// rejected or cancelled is returned as it is. An error means the refund is
// not recorded yet (errBillingSilent when billing did not answer).
func (s *Service) cancel(ctx context.Context, o order.Order) (done order.Order, recorded bool, err error) {
	ctx = context.WithoutCancel(ctx) // as in finish: money moves, so see it through
	if o.Status == order.Pending {
		if o, err = s.finish(ctx, o); err != nil {
			return order.Order{}, false, err
		}
	}
	if o.Status != order.Paid || !o.CancelRequested {
		return o, false, nil
	}
	refunded, err := s.payments.Refund(ctx, Refund{
		UserID: o.UserID, OrderID: o.ID, RequestID: order.RefundRequestID(o.ID), Reason: o.CancelReason,
	})
	if err != nil {
		s.log.WarnContext(ctx, "billing did not refund; the order stays paid", "order_id", o.ID, "error", err)
		return order.Order{}, false, fmt.Errorf("refund of order %s: %w: %w", o.ID, errBillingSilent, err)
	}
	final := o
	final.Status, final.Refunded = order.Cancelled, refunded
	stored, recorded, err := s.store.RecordCancel(ctx, o, refunded, order.CancelLetter(final), s.cfg.RepairMinAge)
	if err != nil {
		return order.Order{}, false, err
	}
	if !recorded { // another worker recorded it and hands its letter over
		return stored, false, nil
	}
	s.cfg.Metrics.refunds.WithLabelValues(stored.Currency).Add(float64(stored.Refunded))
	if sent, ok := s.deliver(ctx, order.CancelLetter(stored)); ok {
		stored = sent
	}
	return stored, true, nil
}

// repairCancels finishes the refunds of requested cancellations their
// request did not, as Repair does for payments: one claim at a time, due
// by began, a failure pushed back by the retry policy. A refund is not
// parked: the order is paid, the customer asked for the money back, and
// each attempt is as safe as the first.
func (s *Service) repairCancels(ctx context.Context, began time.Time, rep *RepairReport) error {
	for range s.cfg.RepairBatch {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		claimed, err := s.store.ClaimCancels(ctx, s.lease(), 1, began)
		if err != nil {
			return err
		}
		if len(claimed) == 0 {
			return nil
		}
		o := claimed[0]
		if _, _, err := s.cancel(ctx, o); err != nil {
			rep.RefundsFailed++
			now := time.Now()
			next, _ := s.cfg.Retry.After(now, o.CancelAttempts)
			if err := s.store.CancelFailed(ctx, o.ID, next.Sub(now), err.Error()); err != nil {
				s.log.ErrorContext(ctx, "repair: refund not rescheduled", "order_id", o.ID, "error", err)
			}
			continue
		}
		rep.Refunded++
		s.log.InfoContext(ctx, "repair: order cancelled", "order_id", o.ID)
	}
	return nil
}
