package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/lib/pq"
)

// LetterFailed schedules the next delivery attempt of order id's letter
// requestID after delay, or parks it (park), noting lastErr. A letter
// delivered in the meantime is left alone.
func (s *Store) LetterFailed(ctx context.Context, id, requestID string, delay time.Duration, park bool, lastErr string) error {
	_, err := pgdb.Exec(ctx, s.db, `UPDATE order_letters
		SET next_attempt_time = now() + make_interval(secs => $2),
		    parked_time = CASE WHEN $3 THEN now() ELSE parked_time END,
		    last_error = $4
		WHERE order_id = $1 AND request_id = $5 AND sent_time IS NULL`, id, delay.Seconds(), park, lastErr, requestID)
	if err != nil {
		return fmt.Errorf("schedule letter of order %s: %w", id, err)
	}
	return nil
}

// HandOverFailed makes letter requestID of order id due after delay when its
// request could not hand it over, so the relay need not wait out the lease.
// Only a letter the relay has never claimed moves: one the relay has
// claimed or scheduled (attempts > 0) or parked keeps its schedule, so a
// client's retry neither releases a parked letter nor cuts a relay's lease.
func (s *Store) HandOverFailed(ctx context.Context, id, requestID string, delay time.Duration, lastErr string) error {
	_, err := pgdb.Exec(ctx, s.db, `UPDATE order_letters
		SET next_attempt_time = least(next_attempt_time, now() + make_interval(secs => $2)),
		    last_error = $3
		WHERE order_id = $1 AND request_id = $4 AND sent_time IS NULL AND parked_time IS NULL AND attempts = 0`,
		id, delay.Seconds(), lastErr, requestID)
	if err != nil {
		return fmt.Errorf("reschedule letter of order %s: %w", id, err)
	}
	return nil
}

// CountParked counts the parked items of each step.
func (s *Store) CountParked(ctx context.Context) (map[order.Step]int, error) {
	var n struct {
		Payments int `db:"payments"`
		Letters  int `db:"letters"`
		Refunds  int `db:"refunds"`
	}
	err := pgdb.Get(ctx, s.db, &n, `SELECT
		(SELECT count(*) FROM orders WHERE pay_parked_time IS NOT NULL) AS payments,
		(SELECT count(*) FROM order_letters WHERE parked_time IS NOT NULL) AS letters,
		(SELECT count(*) FROM order_refunds WHERE parked_time IS NOT NULL) AS refunds`)
	if err != nil {
		return nil, fmt.Errorf("count parked items: %w", err)
	}
	return map[order.Step]int{order.StepPayment: n.Payments, order.StepLetter: n.Letters, order.StepRefund: n.Refunds}, nil
}

type parkedRow struct {
	Step      string    `db:"step"`
	OrderID   string    `db:"order_id"`
	UserID    string    `db:"user_id"`
	Attempts  int       `db:"attempts"`
	LastError string    `db:"last_error"`
	ParkTime  time.Time `db:"park_time"`
}

// ListParked returns up to limit parked items, the most recently parked
// first, after the cursor. An order has at most one parked payment (it is
// pending), or parked letters and refunds (final: its outcome, its
// refunds, its cancellation), each parked by a transaction of its own at
// its own time, so (park time, order id) orders them totally.
func (s *Store) ListParked(ctx context.Context, after paging.Cursor, limit int) ([]order.ParkedItem, error) {
	first := after.IsFirst()
	var rows []parkedRow
	err := pgdb.Select(ctx, s.db, &rows, `SELECT step, order_id, user_id, attempts, last_error, park_time FROM (
			SELECT 'payment' AS step, id AS order_id, user_id, pay_attempts AS attempts,
			       pay_last_error AS last_error, pay_parked_time AS park_time
			FROM orders WHERE pay_parked_time IS NOT NULL
			UNION ALL
			SELECT 'letter', order_id, user_id, attempts, last_error, parked_time
			FROM order_letters WHERE parked_time IS NOT NULL
			UNION ALL
			SELECT 'refund', order_id, user_id, attempts, last_error, parked_time
			FROM order_refunds WHERE parked_time IS NOT NULL
		) parked
		WHERE $1 OR (park_time, order_id) < ($2, $3::uuid)
		ORDER BY park_time DESC, order_id DESC
		LIMIT $4`, first, after.Time, nullUUID(after.ID), limit)
	if err != nil {
		return nil, fmt.Errorf("list parked items: %w", err)
	}
	out := make([]order.ParkedItem, len(rows))
	for i, r := range rows {
		out[i] = order.ParkedItem{
			Step: order.Step(r.Step), OrderID: r.OrderID, UserID: r.UserID,
			Attempts: r.Attempts, LastError: r.LastError, ParkTime: r.ParkTime,
		}
	}
	return out, nil
}

// nullUUID passes "" (the first page's cursor) as NULL, which ListParked's
// first-page branch never compares.
func nullUUID(id string) any {
	if id == "" {
		return nil
	}
	return id
}

// RetryParked releases the parked items of orderIDs (all of them when
// orderIDs is empty): attempts reset and due at once. It returns how many
// it released.
func (s *Store) RetryParked(ctx context.Context, orderIDs []string) (int, error) {
	if orderIDs == nil {
		orderIDs = []string{} // an empty array, not NULL: release all
	}
	var n int
	err := pgdb.Get(ctx, s.db, &n, `
		WITH payments AS (
			UPDATE orders
			SET pay_parked_time = NULL, pay_attempts = 0, pay_next_attempt_time = now()
			WHERE pay_parked_time IS NOT NULL AND (cardinality($1::uuid[]) = 0 OR id = ANY($1::uuid[]))
			RETURNING 1
		), letters AS (
			UPDATE order_letters
			SET parked_time = NULL, attempts = 0, next_attempt_time = now()
			WHERE parked_time IS NOT NULL AND (cardinality($1::uuid[]) = 0 OR order_id = ANY($1::uuid[]))
			RETURNING 1
		), refunds AS (
			UPDATE order_refunds
			SET parked_time = NULL, attempts = 0, next_attempt_time = now()
			WHERE parked_time IS NOT NULL AND (cardinality($1::uuid[]) = 0 OR order_id = ANY($1::uuid[]))
			RETURNING 1
		)
		SELECT (SELECT count(*) FROM payments) + (SELECT count(*) FROM letters) + (SELECT count(*) FROM refunds)`, pq.Array(orderIDs))
	if err != nil {
		return 0, fmt.Errorf("release parked items: %w", err)
	}
	return n, nil
}
