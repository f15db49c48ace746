package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
)

// letterRow is an order_letters row.
type letterRow struct {
	OrderID   string `db:"order_id"`
	UserID    string `db:"user_id"`
	RequestID string `db:"request_id"`
	Email     string `db:"email"`
	Subject   string `db:"subject"`
	Body      string `db:"body"`
	Attempts  int    `db:"attempts"`
}

func (r letterRow) domain() order.Letter {
	return order.Letter{
		UserID: r.UserID, Email: r.Email, Subject: r.Subject, Body: r.Body,
		OrderID: r.OrderID, RequestID: r.RequestID, Attempts: r.Attempts,
	}
}

// MarkSent records that the notification service stored letter requestID
// of order id: the outbox row is done and, for the outcome letter, the
// order notified, in one statement. Repeating it keeps the first times.
// Its commit does not wait for the disk (see replayable): the notification
// service holds the letter durably, and a lost mark only sends it again.
func (s *Store) MarkSent(ctx context.Context, id, requestID string) (order.Order, error) {
	var r row
	err := pgdb.Get(ctx, s.db, &r, `
		WITH sent AS (
			UPDATE order_letters SET sent_time = coalesce(sent_time, now()), parked_time = NULL
			WHERE order_id = $1 AND request_id = $2
			RETURNING order_id
		), `+replayable+`
		UPDATE orders
		SET notified_at = CASE WHEN $3 THEN coalesce(notified_at, now()) ELSE notified_at END,
		    update_time = CASE WHEN $3 AND notified_at IS NULL THEN now() ELSE update_time END
		FROM replayable
		WHERE id = (SELECT order_id FROM sent)
		RETURNING `+columns, id, requestID, requestID == order.LetterRequestID(id))
	if errors.Is(err, sql.ErrNoRows) {
		return order.Order{}, fmt.Errorf("%w: no letter of order %s in the outbox", order.ErrNotFound, id)
	}
	if err != nil {
		return order.Order{}, fmt.Errorf("mark letter of order %s sent: %w", id, err)
	}
	return r.domain(), nil
}

// ClaimLetters takes up to limit letters that are due (not sent, not
// parked, next attempt reached), the longest due first, counts an attempt
// on each and moves their next attempt lease into the future, so that no
// other relay takes them while this one sends.
//
// FOR UPDATE SKIP LOCKED lets relays of several replicas claim at once
// without waiting for each other or claiming the same row; the locks last
// only for this statement, so no connection or lock is held while the
// notification service answers. A relay that dies mid-send leaves its rows
// to be claimed again once the lease has passed.
func (s *Store) ClaimLetters(ctx context.Context, lease time.Duration, limit int, dueBy time.Time) ([]order.Letter, error) {
	var rows []letterRow
	err := pgdb.Select(ctx, s.db, &rows, `
		UPDATE order_letters
		SET attempts = attempts + 1, next_attempt_time = now() + make_interval(secs => $1)
		WHERE (order_id, request_id) IN (
			SELECT order_id, request_id FROM order_letters
			WHERE sent_time IS NULL AND parked_time IS NULL AND next_attempt_time <= least(now(), $3)
			ORDER BY next_attempt_time
			LIMIT $2
			FOR UPDATE SKIP LOCKED)
		RETURNING order_id, user_id, request_id, email, subject, body, attempts`,
		lease.Seconds(), limit, dueBy)
	if err != nil {
		return nil, fmt.Errorf("claim due letters: %w", err)
	}
	out := make([]order.Letter, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}
