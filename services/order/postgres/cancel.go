package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
)

// RequestCancel records that user userID asked to cancel its order id,
// with reason and the request's idempotency key requestID (optional),
// before any money moves back: from then on the refund is the repair
// loop's after grace, should the request not make it itself. Only a
// pending or paid order without a recorded request takes it; any other
// order (rejected, cancelled, already requested) is returned as stored, so
// the first request's reason is the one kept. Another user's order is
// order.ErrNotFound; a key that cancelled another order of the user is
// REQUEST_ID_REUSED.
func (s *Store) RequestCancel(ctx context.Context, userID, id, reason, requestID string, grace time.Duration) (order.Order, error) {
	if requestID != "" {
		var other string
		err := pgdb.Get(ctx, s.db, &other, `SELECT id FROM orders WHERE user_id = $1 AND cancel_request_id = $2`, userID, requestID)
		switch {
		case err == nil && other != id:
			return order.Order{}, apperr.RequestIDReused(requestID)
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return order.Order{}, fmt.Errorf("read cancellation by request_id: %w", err)
		}
	}
	var r row
	err := pgdb.Get(ctx, s.db, &r, `
		UPDATE orders
		SET cancel_request_time = now(), cancel_reason = $3, cancel_request_id = nullif($5, ''),
		    cancel_next_attempt_time = now() + make_interval(secs => $4), update_time = now()
		WHERE user_id = $1 AND id = $2 AND status IN ('pending', 'paid') AND cancel_request_time IS NULL
		RETURNING `+columns, userID, id, reason, grace.Seconds(), requestID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return s.Get(ctx, userID, id)
	case pgdb.IsUniqueViolation(err, "orders_user_cancel_request_key"):
		// A concurrent cancellation of another order took the key first.
		return order.Order{}, apperr.RequestIDReused(requestID)
	case err != nil:
		return order.Order{}, fmt.Errorf("record cancellation of order %s: %w", id, err)
	}
	return r.domain(), nil
}

// RecordCancel makes paid order o, whose cancellation was requested,
// cancelled with refunded given back, and writes letter, the letter saying
// so, into the outbox (due for the relay after letterDelay), in one
// statement. As with RecordOutcome nothing is locked while billing
// refunds: billing's answer under the order's refund key is the same for
// every worker, and only the first to record it changes the row; the
// others get recorded=false and the stored order.
func (s *Store) RecordCancel(ctx context.Context, o order.Order, refunded int64, letter order.Letter, letterDelay time.Duration) (stored order.Order, recorded bool, err error) {
	var r row
	err = pgdb.Get(ctx, s.db, &r, `
		WITH cancelled AS (
			UPDATE orders SET status = 'cancelled', refunded = $2, cancel_time = now(), update_time = now()
			WHERE id = $1 AND status = 'paid' AND cancel_request_time IS NOT NULL
			RETURNING `+columns+`
		), outbox AS (
			INSERT INTO order_letters (order_id, user_id, request_id, email, subject, body, next_attempt_time)
			SELECT id, user_id, $3, $4, $5, $6, now() + make_interval(secs => $7) FROM cancelled
		)
		SELECT `+columns+` FROM cancelled`,
		o.ID, refunded, letter.RequestID, letter.Email, letter.Subject, letter.Body, letterDelay.Seconds())
	if err == nil {
		return r.domain(), true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return order.Order{}, false, fmt.Errorf("record refund of order %s: %w", o.ID, err)
	}
	// Not paid with a requested cancellation any more: another worker
	// recorded the refund first.
	stored, err = s.byID(ctx, o.ID)
	return stored, false, err
}

// ClaimCancels takes up to limit paid orders whose requested refund is
// due, the longest due first, counts an attempt on each and moves the next
// one a lease ahead, as ClaimPayments does for payments.
func (s *Store) ClaimCancels(ctx context.Context, lease time.Duration, limit int, dueBy time.Time) ([]order.Order, error) {
	var rows []row
	err := pgdb.Select(ctx, s.db, &rows, `
		UPDATE orders
		SET cancel_attempts = cancel_attempts + 1, cancel_next_attempt_time = now() + make_interval(secs => $1)
		WHERE id IN (
			SELECT id FROM orders
			WHERE cancel_request_time IS NOT NULL AND status = 'paid'
			  AND cancel_next_attempt_time <= least(now(), $3)
			ORDER BY cancel_next_attempt_time
			LIMIT $2
			FOR UPDATE SKIP LOCKED)
		RETURNING `+columns, lease.Seconds(), limit, dueBy)
	if err != nil {
		return nil, fmt.Errorf("claim due refunds: %w", err)
	}
	return domainAll(rows), nil
}

// CancelFailed schedules the next refund attempt of order id after delay,
// noting lastErr; an order cancelled in the meantime is left alone.
func (s *Store) CancelFailed(ctx context.Context, id string, delay time.Duration, lastErr string) error {
	_, err := pgdb.Exec(ctx, s.db, `UPDATE orders
		SET cancel_next_attempt_time = now() + make_interval(secs => $2), cancel_last_error = $3
		WHERE id = $1 AND status = 'paid' AND cancel_request_time IS NOT NULL`, id, delay.Seconds(), lastErr)
	if err != nil {
		return fmt.Errorf("schedule refund of order %s: %w", id, err)
	}
	return nil
}
