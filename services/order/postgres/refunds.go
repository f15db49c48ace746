package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
)

// refundRow is an order_refunds row.
type refundRow struct {
	OrderID    string       `db:"order_id"`
	Seq        int          `db:"seq"`
	UserID     string       `db:"user_id"`
	RequestID  string       `db:"request_id"`
	Amount     int64        `db:"amount"`
	Asked      int64        `db:"asked"`
	BillingKey string       `db:"billing_key"`
	Reason     string       `db:"reason"`
	Attempts   int          `db:"attempts"`
	RefundTime sql.NullTime `db:"refund_time"`
}

const refundColumns = `order_id, seq, user_id, coalesce(request_id, '') AS request_id, amount, asked,
	billing_key, reason, attempts, refund_time`

func (r refundRow) domain() order.Refund {
	return order.Refund{
		OrderID: r.OrderID, UserID: r.UserID, Seq: r.Seq, RequestID: r.RequestID, Amount: r.Amount,
		Asked: r.Asked, BillingKey: r.BillingKey, Reason: r.Reason, Attempts: r.Attempts, Done: r.RefundTime.Valid,
	}
}

func refundsOf(rows []refundRow) []order.Refund {
	out := make([]order.Refund, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out
}

// lockedOrder is an orders row read under its lock, with what its refunds
// reserved of the price.
type lockedOrder struct {
	row
	Reserved int64 `db:"refund_reserved"`
}

// RequestRefund records, before any money moves, that user userID asked
// for amount of its order id back (0: everything not yet refunded, which
// cancels the order), with reason and the request's key requestID
// (required for a partial refund), and returns the order and the refunds
// the request is to make: its own, or for a cancel every one of the order
// not yet made. They are due for the repair loop after grace.
//
// The order's row lock (NO KEY UPDATE, the lock an UPDATE of the row takes,
// so rows that only reference the order, its letters and refunds, are not
// held up by it) serializes the requests of one order: each reads
// what the earlier ones reserved of the price and adds its amount, so the
// refunds of an order never add up to more than its price (the schema
// checks it too). A partial refund that reserves the rest of the price
// makes the order's cancellation requested, as a cancel does.
//
// A rejected or cancelled order takes no new refund: a cancel gets it as
// stored, a partial refund order.ErrNotPaid or
// order.ErrRefundExceedsRemaining, as it does for more than remains. An
// amount above the price is INVALID_ARGUMENT. A key that named another
// order's refund or another amount is REQUEST_ID_REUSED; with the same
// order and amount it returns that refund again. Every refusal writes
// nothing.
func (s *Store) RequestRefund(ctx context.Context, userID, id string, amount int64, reason, requestID string, grace time.Duration) (o order.Order, due []order.Refund, err error) {
	err = pgdb.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var locked lockedOrder
		err := tx.GetContext(ctx, &locked, `SELECT `+columns+`, refund_reserved FROM orders
			WHERE user_id = $1 AND id = $2 FOR NO KEY UPDATE`, userID, id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: user %s has no order %s", order.ErrNotFound, userID, id)
		}
		if err != nil {
			return fmt.Errorf("lock order %s: %w", id, err)
		}
		o = locked.domain()
		if requestID != "" {
			// Read under the order's lock: a concurrent request with the
			// key for this order has committed its row or not started.
			known, found, err := refundByKey(ctx, tx, userID, requestID)
			if err != nil {
				return err
			}
			if found {
				if known.OrderID != id || known.Cancels() != (amount == 0) || (amount != 0 && known.Amount != amount) {
					return apperr.RequestIDReused(requestID)
				}
				if amount != 0 { // the partial refund again: only its own
					if !known.Done {
						due = []order.Refund{known}
					}
					return nil
				}
			}
		}
		if amount > o.Price {
			return apperr.Invalid("amount", "must be at most the order's price %d, got %d", o.Price, amount)
		}
		remaining := o.Price - locked.Reserved
		switch {
		case amount == 0 && (o.Status == order.Rejected || o.Status == order.Cancelled):
			return nil
		case o.Status == order.Rejected:
			return order.ErrNotPaid(id)
		case amount > remaining || o.Status == order.Cancelled:
			return order.ErrRefundExceedsRemaining(id, amount, max(remaining, 0))
		case amount == 0 && o.CancelRequested:
			// Everything is reserved already: this cancel finishes what is
			// under way.
			due, err = pendingRefunds(ctx, tx, id)
			return err
		}
		r := order.Refund{OrderID: id, UserID: userID, RequestID: requestID, Amount: amount, Asked: amount, Reason: reason}
		if amount == 0 {
			r.Amount, r.Asked, r.BillingKey = remaining, remaining, order.RefundRequestID(id)
		} else {
			if err := tx.GetContext(ctx, &r.Seq, `SELECT coalesce(max(seq), 0) + 1 FROM order_refunds WHERE order_id = $1`, id); err != nil {
				return fmt.Errorf("number refund of order %s: %w", id, err)
			}
			r.BillingKey = order.PartialRefundRequestID(id, r.Seq)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO order_refunds
			(order_id, seq, user_id, request_id, amount, asked, billing_key, reason, next_attempt_time)
			VALUES ($1, $2, $3, nullif($4, ''), $5, $6, $7, $8, now() + make_interval(secs => $9))`,
			id, r.Seq, userID, requestID, r.Amount, r.Asked, r.BillingKey, reason, grace.Seconds())
		if pgdb.IsUniqueViolation(err, "order_refunds_user_request_key") {
			// A concurrent request of another order took the key first.
			return apperr.RequestIDReused(requestID)
		}
		if err != nil {
			return fmt.Errorf("record refund of order %s: %w", id, err)
		}
		// The last of the price reserved is the cancellation: 'infinity'
		// keeps the previous release's repair loop off it (see 00005).
		var updated row
		err = tx.GetContext(ctx, &updated, `UPDATE orders
			SET refund_reserved = refund_reserved + $2, update_time = now(),
			    cancel_request_time = CASE WHEN $3 THEN now() ELSE cancel_request_time END,
			    cancel_reason = CASE WHEN $3 THEN $4 ELSE cancel_reason END,
			    cancel_next_attempt_time = CASE WHEN $3 THEN 'infinity' ELSE cancel_next_attempt_time END
			WHERE id = $1
			RETURNING `+columns, id, r.Amount, r.Amount == remaining, reason)
		if err != nil {
			return fmt.Errorf("reserve refund of order %s: %w", id, err)
		}
		o = updated.domain()
		if amount != 0 {
			due = []order.Refund{r}
			return nil
		}
		due, err = pendingRefunds(ctx, tx, id)
		return err
	})
	if err != nil {
		return order.Order{}, nil, err
	}
	return o, due, nil
}

func refundByKey(ctx context.Context, tx *sqlx.Tx, userID, requestID string) (order.Refund, bool, error) {
	var r refundRow
	err := tx.GetContext(ctx, &r, `SELECT `+refundColumns+` FROM order_refunds WHERE user_id = $1 AND request_id = $2`, userID, requestID)
	if errors.Is(err, sql.ErrNoRows) {
		return order.Refund{}, false, nil
	}
	if err != nil {
		return order.Refund{}, false, fmt.Errorf("read refund by request_id: %w", err)
	}
	return r.domain(), true, nil
}

// pendingRefunds lists the refunds of order id not made yet, parked ones
// included: a request that finds them tries them again.
func pendingRefunds(ctx context.Context, tx *sqlx.Tx, id string) ([]order.Refund, error) {
	var rows []refundRow
	if err := tx.SelectContext(ctx, &rows, `SELECT `+refundColumns+` FROM order_refunds
		WHERE order_id = $1 AND refund_time IS NULL ORDER BY seq`, id); err != nil {
		return nil, fmt.Errorf("read refunds of order %s: %w", id, err)
	}
	return refundsOf(rows), nil
}

// Refunds lists every refund of order id, made or not, in the order they
// were asked for (the cancellation, seq 0, first).
func (s *Store) Refunds(ctx context.Context, id string) ([]order.Refund, error) {
	var rows []refundRow
	if err := pgdb.Select(ctx, s.db, &rows, `SELECT `+refundColumns+` FROM order_refunds
		WHERE order_id = $1 ORDER BY seq`, id); err != nil {
		return nil, fmt.Errorf("read refunds of order %s: %w", id, err)
	}
	return refundsOf(rows), nil
}

// RecordRefund records that billing gave back given for refund r of a
// paid order: the refund is done, the order's refunded total grows by it
// and, when it was the last refund of an order whose cancellation is
// requested, the order is cancelled. The letter saying so goes into the
// outbox (due for the relay after letterDelay) in the same transaction:
// order.CancelLetter for the refund that ends the order,
// order.RefundLetter for any other. As with RecordOutcome nothing is
// locked while billing refunds: billing answers every worker of r the
// same under r's key, and only the first to record it changes anything;
// the others get recorded=false and the stored order.
func (s *Store) RecordRefund(ctx context.Context, r order.Refund, given int64, letterDelay time.Duration) (stored order.Order, recorded bool, err error) {
	err = pgdb.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		// The order's lock orders the records of its refunds, so exactly
		// one of them sees no other left and ends the order.
		var locked row
		if err := tx.GetContext(ctx, &locked, `SELECT `+columns+` FROM orders WHERE id = $1 FOR NO KEY UPDATE`, r.OrderID); err != nil {
			return fmt.Errorf("lock order %s: %w", r.OrderID, err)
		}
		stored = locked.domain()
		res, err := tx.ExecContext(ctx, `UPDATE order_refunds SET refund_time = now(), parked_time = NULL
			WHERE order_id = $1 AND seq = $2 AND refund_time IS NULL`, r.OrderID, r.Seq)
		if err != nil {
			return fmt.Errorf("record refund %d of order %s: %w", r.Seq, r.OrderID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // another worker recorded it first
		}
		if stored.Status != order.Paid {
			return fmt.Errorf("record refund %d of order %s: the order is %s, not paid", r.Seq, r.OrderID, stored.Status)
		}
		var left int
		if err := tx.GetContext(ctx, &left, `SELECT count(*) FROM order_refunds WHERE order_id = $1 AND refund_time IS NULL`, r.OrderID); err != nil {
			return fmt.Errorf("count refunds of order %s: %w", r.OrderID, err)
		}
		ends := left == 0 && stored.CancelRequested
		var updated row
		if err := tx.GetContext(ctx, &updated, `UPDATE orders
			SET refunded = refunded + $2, update_time = now(),
			    status = CASE WHEN $3 THEN 'cancelled' ELSE status END,
			    cancel_time = CASE WHEN $3 THEN now() ELSE cancel_time END
			WHERE id = $1
			RETURNING `+columns, r.OrderID, given, ends); err != nil {
			return fmt.Errorf("add refund to order %s: %w", r.OrderID, err)
		}
		stored, recorded = updated.domain(), true
		letter := order.RefundLetter(stored, r, given)
		if ends {
			letter = order.CancelLetter(stored)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO order_letters (order_id, user_id, request_id, email, subject, body, next_attempt_time)
			VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))`,
			r.OrderID, stored.UserID, letter.RequestID, letter.Email, letter.Subject, letter.Body, letterDelay.Seconds()); err != nil {
			return fmt.Errorf("write refund letter of order %s: %w", r.OrderID, err)
		}
		return nil
	})
	if err != nil {
		return order.Order{}, false, err
	}
	return stored, recorded, nil
}

// ClaimRefunds takes up to limit refunds of paid orders that are due (not
// made, not parked, next attempt reached), the longest due first, counts
// an attempt on each and moves the next one a lease ahead, as
// ClaimPayments does for payments. Refunds of pending orders wait for
// their payment.
func (s *Store) ClaimRefunds(ctx context.Context, lease time.Duration, limit int, dueBy time.Time) ([]order.Refund, error) {
	var rows []refundRow
	err := pgdb.Select(ctx, s.db, &rows, `
		UPDATE order_refunds
		SET attempts = attempts + 1, next_attempt_time = now() + make_interval(secs => $1)
		WHERE (order_id, seq) IN (
			SELECT r.order_id, r.seq FROM order_refunds r JOIN orders o ON o.id = r.order_id
			WHERE r.refund_time IS NULL AND r.parked_time IS NULL AND o.status = 'paid'
			  AND r.next_attempt_time <= least(now(), $3)
			ORDER BY r.next_attempt_time
			LIMIT $2
			FOR UPDATE OF r SKIP LOCKED)
		RETURNING `+refundColumns, lease.Seconds(), limit, dueBy)
	if err != nil {
		return nil, fmt.Errorf("claim due refunds: %w", err)
	}
	return refundsOf(rows), nil
}

// RefundFailed schedules the next attempt of refund r after delay, or
// parks it (park), noting lastErr. A refund made in the meantime is left
// alone.
func (s *Store) RefundFailed(ctx context.Context, r order.Refund, delay time.Duration, park bool, lastErr string) error {
	_, err := pgdb.Exec(ctx, s.db, `UPDATE order_refunds
		SET next_attempt_time = now() + make_interval(secs => $3),
		    parked_time = CASE WHEN $4 THEN now() ELSE parked_time END,
		    last_error = $5
		WHERE order_id = $1 AND seq = $2 AND refund_time IS NULL`, r.OrderID, r.Seq, delay.Seconds(), park, lastErr)
	if err != nil {
		return fmt.Errorf("schedule refund %d of order %s: %w", r.Seq, r.OrderID, err)
	}
	return nil
}
