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
}

const columns = `id, user_id, price, currency, status, failure_reason, request_id, email,
	notified_at, create_time, update_time`

func (r row) domain() order.Order {
	o := order.Order{
		ID: r.ID, UserID: r.UserID, Price: r.Price, Currency: r.Currency,
		Status: order.Status(r.Status), FailureReason: r.FailureReason, RequestID: r.RequestID,
		Email: r.Email, CreateTime: r.CreateTime, UpdateTime: r.UpdateTime,
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
	err = s.db.GetContext(ctx, &r, `SELECT `+columns+` FROM orders WHERE user_id = $1 AND request_id = $2`,
		userID, requestID)
	if errors.Is(err, sql.ErrNoRows) {
		return order.Order{}, false, nil
	}
	if err != nil {
		return order.Order{}, false, fmt.Errorf("read order by request_id: %w", err)
	}
	return r.domain(), true, nil
}

// Create records o (UserID, Price, Currency, RequestID, Email) as pending.
// When o.UserID already used o.RequestID, nothing is written and the
// earlier order is returned with created=false, so the caller can compare
// its terms.
//
// Concurrent creates with one key are safe without explicit locking: the
// unique constraint makes the loser's INSERT wait for the winner and then
// do nothing, and the SELECT that follows (a new statement, so a new
// snapshot under READ COMMITTED) sees the winner's committed row.
func (s *Store) Create(ctx context.Context, o order.Order) (stored order.Order, created bool, err error) {
	var r row
	err = s.db.GetContext(ctx, &r, `
		INSERT INTO orders (user_id, price, currency, request_id, email)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, request_id) DO NOTHING
		RETURNING `+columns,
		o.UserID, o.Price, o.Currency, o.RequestID, o.Email)
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
	err := s.db.GetContext(ctx, &r, `SELECT `+columns+` FROM orders WHERE user_id = $1 AND id = $2`, userID, id)
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
		err = s.db.SelectContext(ctx, &rows, `SELECT `+columns+` FROM orders
			WHERE user_id = $1
			ORDER BY create_time DESC, id DESC LIMIT $2`, userID, limit)
	} else {
		err = s.db.SelectContext(ctx, &rows, `SELECT `+columns+` FROM orders
			WHERE user_id = $1 AND (create_time, id) < ($2, $3::uuid)
			ORDER BY create_time DESC, id DESC LIMIT $4`, userID, after.Time, after.ID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return domainAll(rows), nil
}

// Settle gives a pending order its payment outcome. It locks the order's
// row, and only if the order is still pending calls pay and records the
// outcome pay returns, all in one transaction. A pay error leaves the order
// pending and is returned as is.
//
// The row lock is held across pay (a call to billing) on purpose: it makes
// the workers of one order (concurrent client retries, the repair loop)
// take turns, so a second worker sees the first one's outcome instead of
// paying again. Billing's idempotency key already prevents a double
// charge; the lock prevents two workers from recording different outcomes
// (say one declined, then one paid after a deposit landed in between).
// pay must not use the database: its transaction holds a pooled connection
// for as long as billing takes (bounded by the call timeout).
func (s *Store) Settle(ctx context.Context, id string, pay func(order.Order) (order.Outcome, error)) (order.Order, error) {
	var settled order.Order
	err := pgdb.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var r row
		if err := tx.GetContext(ctx, &r, `SELECT `+columns+` FROM orders WHERE id = $1 FOR UPDATE`, id); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%w: no order %s", order.ErrNotFound, id)
			}
			return fmt.Errorf("lock order: %w", err)
		}
		if r.Status != string(order.Pending) {
			settled = r.domain() // another worker got here first
			return nil
		}
		out, err := pay(r.domain())
		if err != nil {
			return err
		}
		err = tx.GetContext(ctx, &r, `UPDATE orders
			SET status = $2, failure_reason = $3, update_time = now()
			WHERE id = $1 RETURNING `+columns, id, string(out.Status), out.Reason)
		if err != nil {
			return fmt.Errorf("record payment outcome: %w", err)
		}
		settled = r.domain()
		return nil
	})
	if err != nil {
		return order.Order{}, err
	}
	return settled, nil
}

// MarkNotified records that the outcome letter of order id is stored. It is
// idempotent: an order notified before keeps its first time.
func (s *Store) MarkNotified(ctx context.Context, id string) (order.Order, error) {
	var r row
	err := s.db.GetContext(ctx, &r, `UPDATE orders
		SET notified_at = coalesce(notified_at, now()),
		    update_time = CASE WHEN notified_at IS NULL THEN now() ELSE update_time END
		WHERE id = $1 RETURNING `+columns, id)
	if errors.Is(err, sql.ErrNoRows) {
		return order.Order{}, fmt.Errorf("%w: no order %s", order.ErrNotFound, id)
	}
	if err != nil {
		return order.Order{}, fmt.Errorf("mark order notified: %w", err)
	}
	return r.domain(), nil
}

// Unfinished returns up to limit orders that are pending or whose letter
// is not stored, and that have not changed for at least minAge (younger
// ones are most likely still being worked on by their CreateOrder call),
// the longest waiting first.
func (s *Store) Unfinished(ctx context.Context, minAge time.Duration, limit int) ([]order.Order, error) {
	var rows []row
	err := s.db.SelectContext(ctx, &rows, `SELECT `+columns+` FROM orders
		WHERE (status = 'pending' OR notified_at IS NULL)
		  AND update_time <= now() - make_interval(secs => $1)
		ORDER BY update_time LIMIT $2`, minAge.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("list unfinished orders: %w", err)
	}
	return domainAll(rows), nil
}

func domainAll(rows []row) []order.Order {
	out := make([]order.Order, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out
}
