// Package postgres stores the order service's orders in PostgreSQL.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
)

// Store reads and writes orders.
type Store struct {
	db *sqlx.DB
}

// New returns a Store on db, which must have Migrations applied.
func New(db *sqlx.DB) *Store {
	return &Store{db: db}
}

// row is an orders row.
type row struct {
	ID            string       `db:"id"`
	UserID        string       `db:"user_id"`
	Price         int64        `db:"price"`
	Currency      string       `db:"currency"`
	Status        string       `db:"status"`
	FailureReason string       `db:"failure_reason"`
	RequestID     string       `db:"request_id"`
	Email         string       `db:"email"`
	NotifiedAt    sql.NullTime `db:"notified_at"`
	CreateTime    time.Time    `db:"create_time"`
	UpdateTime    time.Time    `db:"update_time"`
	PayAttempts   int          `db:"pay_attempts"`
	CancelReqTime sql.NullTime `db:"cancel_request_time"`
	CancelReason  string       `db:"cancel_reason"`
	CancelTime    sql.NullTime `db:"cancel_time"`
	Refunded      int64        `db:"refunded"`
}

const columns = `id, user_id, price, currency, status, failure_reason, request_id, email,
	notified_at, create_time, update_time, pay_attempts,
	cancel_request_time, cancel_reason, cancel_time, refunded`

func (r row) domain() order.Order {
	o := order.Order{
		ID: r.ID, UserID: r.UserID, Price: r.Price, Currency: r.Currency,
		Status: order.Status(r.Status), FailureReason: r.FailureReason, RequestID: r.RequestID,
		Email: r.Email, CreateTime: r.CreateTime, UpdateTime: r.UpdateTime, PayAttempts: r.PayAttempts,
		CancelRequested: r.CancelReqTime.Valid, CancelReason: r.CancelReason,
		Refunded: r.Refunded,
	}
	if r.CancelTime.Valid {
		o.CancelTime = r.CancelTime.Time
	}
	if r.NotifiedAt.Valid {
		o.NotifyTime = r.NotifiedAt.Time
	}
	return o
}

// FindByRequest returns userID's order made with requestID; found is false
// when there is none.
func (s *Store) FindByRequest(ctx context.Context, userID, requestID string) (o order.Order, found bool, err error) {
	var r row
	err = pgdb.Get(ctx, s.db, &r, `SELECT `+columns+` FROM orders WHERE user_id = $1 AND request_id = $2`,
		userID, requestID)
	if errors.Is(err, sql.ErrNoRows) {
		return order.Order{}, false, nil
	}
	if err != nil {
		return order.Order{}, false, fmt.Errorf("read order by request_id: %w", err)
	}
	return r.domain(), true, nil
}

// Create records o (UserID, Price, Currency, RequestID, Email) as pending,
// with its payment due for the repair loop after grace (the CreateOrder
// call pays it itself before that).
// When o.UserID already used o.RequestID, nothing is written and the
// earlier order is returned with created=false, so the caller can compare
// its terms.
//
// Concurrent creates with one key are safe without explicit locking: the
// unique constraint makes the loser's INSERT wait for the winner and then
// do nothing, and the SELECT that follows (a new statement, so a new
// snapshot under READ COMMITTED) sees the winner's committed row.
func (s *Store) Create(ctx context.Context, o order.Order, grace time.Duration) (stored order.Order, created bool, err error) {
	var r row
	err = pgdb.Get(ctx, s.db, &r, `
		INSERT INTO orders (user_id, price, currency, request_id, email, pay_next_attempt_time)
		VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
		ON CONFLICT (user_id, request_id) DO NOTHING
		RETURNING `+columns,
		o.UserID, o.Price, o.Currency, o.RequestID, o.Email, grace.Seconds())
	if err == nil {
		return r.domain(), true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return order.Order{}, false, fmt.Errorf("insert order: %w", err)
	}
	// Only a conflicting request_id makes ON CONFLICT skip the row.
	stored, found, err := s.FindByRequest(ctx, o.UserID, o.RequestID)
	if err != nil {
		return order.Order{}, false, err
	}
	if !found {
		return order.Order{}, false, errors.New("insert order: skipped as a duplicate, but no order has its request_id")
	}
	return stored, false, nil
}

// Get returns the order id of user userID, or order.ErrNotFound.
func (s *Store) Get(ctx context.Context, userID, id string) (order.Order, error) {
	var r row
	err := pgdb.Get(ctx, s.db, &r, `SELECT `+columns+` FROM orders WHERE user_id = $1 AND id = $2`, userID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return order.Order{}, fmt.Errorf("%w: user %s has no order %s", order.ErrNotFound, userID, id)
	}
	if err != nil {
		return order.Order{}, fmt.Errorf("read order: %w", err)
	}
	return r.domain(), nil
}

// List returns up to limit orders of userID, newest first, starting after
// the cursor (from the newest when it is the first page).
func (s *Store) List(ctx context.Context, userID string, after paging.Cursor, limit int) ([]order.Order, error) {
	var rows []row
	var err error
	if after.IsFirst() {
		err = pgdb.Select(ctx, s.db, &rows, `SELECT `+columns+` FROM orders
			WHERE user_id = $1
			ORDER BY create_time DESC, id DESC LIMIT $2`, userID, limit)
	} else {
		err = pgdb.Select(ctx, s.db, &rows, `SELECT `+columns+` FROM orders
			WHERE user_id = $1 AND (create_time, id) < ($2, $3::uuid)
			ORDER BY create_time DESC, id DESC LIMIT $4`, userID, after.Time, after.ID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return domainAll(rows), nil
}

// replayable is a WITH item that lets the statement's transaction commit
// without waiting for its WAL to reach the disk (synchronous_commit off,
// for this transaction only). Only a statement that records what a
// durable peer already holds as final uses it, so a server crash that
// loses the commit loses nothing that cannot be asked for again: billing's
// answer for an order (RecordOutcome; the order is pending again and the
// repair loop asks billing, which answers the same), a letter handed over
// (MarkSent; the relay hands it over again and the notification service
// keeps the one it has). The next commit on the same server that waits
// (the next order's insert, say) flushes it too: the WAL is one sequence.
// The statement must read the item (FROM ... replayable), or PostgreSQL
// skips it; when the statement changes no row it does not matter.
const replayable = `replayable AS (SELECT set_config('synchronous_commit', 'off', true) AS synchronous_commit)`

// RecordOutcome gives pending order o billing's answer out and writes
// letter, the letter announcing it, into the outbox; the relay may take
// the letter after letterDelay (the request hands it over itself before
// that). Both happen in one statement, so in one transaction: there is no
// recorded outcome without its letter. Its commit does not wait for the
// disk (see replayable): billing holds the answer durably.
//
// Nothing is locked while billing is asked: billing's answer for an order
// is final (its withdrawals are idempotent by order id and it remembers a
// refusal), so every worker of one order gets the same answer, and the
// conditional UPDATE (only while the order is still pending) lets exactly
// one of them record it. The others get recorded=false and the stored
// order, with the same outcome. o must be the order as read (its price,
// currency and email never change), as the letter is written from it.
func (s *Store) RecordOutcome(ctx context.Context, o order.Order, out order.Outcome, letter order.Letter, letterDelay time.Duration) (stored order.Order, recorded bool, err error) {
	var r row
	// A data-modifying WITH runs exactly once whether or not the outer
	// SELECT reads it, and only for the row the UPDATE changed.
	err = pgdb.Get(ctx, s.db, &r, `
		WITH settled AS (
			UPDATE orders SET status = $2, failure_reason = $3, update_time = now(), pay_parked_time = NULL,
			    -- nothing was taken, so requested refunds have nothing to give back
			    cancel_request_time = CASE WHEN $2 = 'rejected' THEN NULL ELSE cancel_request_time END,
			    refund_reserved = CASE WHEN $2 = 'rejected' THEN 0 ELSE refund_reserved END
			WHERE id = $1 AND status = 'pending'
			RETURNING `+columns+`
		), voided AS (
			DELETE FROM order_refunds WHERE order_id = (SELECT id FROM settled WHERE status = 'rejected')
		), outbox AS (
			INSERT INTO order_letters (order_id, user_id, request_id, email, subject, body, next_attempt_time)
			SELECT id, user_id, $4, $5, $6, $7, now() + make_interval(secs => $8) FROM settled
		), `+replayable+`
		SELECT `+columns+` FROM settled, replayable`,
		o.ID, string(out.Status), out.Reason,
		letter.RequestID, letter.Email, letter.Subject, letter.Body, letterDelay.Seconds())
	if err == nil {
		return r.domain(), true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return order.Order{}, false, fmt.Errorf("record payment outcome of order %s: %w", o.ID, err)
	}
	// Not pending any more: another worker recorded billing's answer first.
	stored, err = s.byID(ctx, o.ID)
	return stored, false, err
}

// byID reads order id whoever its buyer, for a worker that lost the race
// to record a step and answers with the order as the winner left it.
func (s *Store) byID(ctx context.Context, id string) (order.Order, error) {
	var r row
	if err := pgdb.Get(ctx, s.db, &r, `SELECT `+columns+` FROM orders WHERE id = $1`, id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return order.Order{}, fmt.Errorf("%w: no order %s", order.ErrNotFound, id)
		}
		return order.Order{}, fmt.Errorf("read order %s: %w", id, err)
	}
	return r.domain(), nil
}

// ClaimPayments takes up to limit pending orders whose payment is due
// (next attempt reached, not parked), the longest due first, counts an
// attempt on each and moves its next attempt a lease into the future, so
// that no other repair loop takes it while this one asks billing.
//
// FOR UPDATE SKIP LOCKED lets several replicas claim at once without
// waiting for each other or claiming the same order; the locks last only
// for this statement, so nothing is held while billing answers. A loop
// that dies mid-payment leaves its orders to be claimed again after the
// lease.
func (s *Store) ClaimPayments(ctx context.Context, lease time.Duration, limit int, dueBy time.Time) ([]order.Order, error) {
	var rows []row
	err := pgdb.Select(ctx, s.db, &rows, `
		UPDATE orders
		SET pay_attempts = pay_attempts + 1, pay_next_attempt_time = now() + make_interval(secs => $1)
		WHERE id IN (
			SELECT id FROM orders
			WHERE status = 'pending' AND pay_parked_time IS NULL AND pay_next_attempt_time <= least(now(), $3)
			ORDER BY pay_next_attempt_time
			LIMIT $2
			FOR UPDATE SKIP LOCKED)
		RETURNING `+columns, lease.Seconds(), limit, dueBy)
	if err != nil {
		return nil, fmt.Errorf("claim due payments: %w", err)
	}
	return domainAll(rows), nil
}

// PaymentFailed schedules the next attempt of pending order id's payment
// after delay, or parks it (park), noting lastErr. An order settled in the
// meantime is left alone.
func (s *Store) PaymentFailed(ctx context.Context, id string, delay time.Duration, park bool, lastErr string) error {
	_, err := pgdb.Exec(ctx, s.db, `UPDATE orders
		SET pay_next_attempt_time = now() + make_interval(secs => $2),
		    pay_parked_time = CASE WHEN $3 THEN now() ELSE pay_parked_time END,
		    pay_last_error = $4
		WHERE id = $1 AND status = 'pending'`, id, delay.Seconds(), park, lastErr)
	if err != nil {
		return fmt.Errorf("schedule payment of order %s: %w", id, err)
	}
	return nil
}

func domainAll(rows []row) []order.Order {
	out := make([]order.Order, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out
}
