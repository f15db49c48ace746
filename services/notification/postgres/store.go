// Package postgres stores the notification service's letters in PostgreSQL.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/notification"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
)

// Store reads and writes letters.
type Store struct {
	db *sqlx.DB
}

// New returns a Store on db, which must have Migrations applied.
func New(db *sqlx.DB) *Store {
	return &Store{db: db}
}

// row is a notifications row; nullable columns are read as "" so the
// domain type needs no pointers.
type row struct {
	ID         string    `db:"id"`
	UserID     string    `db:"user_id"`
	Email      string    `db:"email"`
	Subject    string    `db:"subject"`
	Body       string    `db:"body"`
	OrderID    string    `db:"order_id"`
	RequestID  string    `db:"request_id"`
	CreateTime time.Time `db:"create_time"`
}

const columns = `id, user_id, email, subject, body,
	coalesce(order_id::text, '') AS order_id, coalesce(request_id, '') AS request_id, create_time`

func (r row) domain() notification.Notification {
	return notification.Notification{
		ID: r.ID, UserID: r.UserID, Email: r.Email, Subject: r.Subject, Body: r.Body,
		OrderID: r.OrderID, RequestID: r.RequestID, CreateTime: r.CreateTime,
	}
}

// Send stores n. When n's key was already used in its namespace, nothing
// is stored and the earlier letter is returned with created=false, so the
// caller can tell a retry from a reuse of the key.
//
// A letter about an order (OrderID set) is keyed by (order_id, request_id):
// the key belongs to the order, and the caller compares the recipient too.
// Any other letter is keyed by (user_id, request_id). The two partial
// unique indexes never see each other's rows, so a client letter cannot
// take an order's key, nor an order letter a client's.
//
// Concurrent sends with one key are safe without explicit locking: the
// unique index makes the loser's INSERT wait for the winner and then do
// nothing, and the SELECT that follows (a new statement, so a new snapshot
// under READ COMMITTED) sees the winner's committed row.
func (s *Store) Send(ctx context.Context, n notification.Notification) (notification.Notification, bool, error) {
	ns := clientKeys
	if n.OrderID != "" {
		ns = orderKeys
	}
	var r row
	err := pgdb.Get(ctx, s.db, &r, `
		INSERT INTO notifications (user_id, email, subject, body, order_id, request_id)
		VALUES ($1, $2, $3, $4, NULLIF($5, '')::uuid, NULLIF($6, ''))
		ON CONFLICT `+ns.conflict+` DO NOTHING
		RETURNING `+columns,
		n.UserID, n.Email, n.Subject, n.Body, n.OrderID, n.RequestID)
	if err == nil {
		return r.domain(), true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return notification.Notification{}, false, fmt.Errorf("insert notification: %w", err)
	}
	// Only a conflicting key makes ON CONFLICT skip the row.
	err = pgdb.Get(ctx, s.db, &r, `SELECT `+columns+` FROM notifications WHERE `+ns.lookup,
		ns.owner(n), n.RequestID)
	if err != nil {
		return notification.Notification{}, false, fmt.Errorf("read notification by request_id: %w", err)
	}
	return r.domain(), false, nil
}

// keySpace is one idempotency namespace: the ON CONFLICT target naming its
// partial unique index, and the lookup of the row that holds a key.
type keySpace struct {
	conflict string
	lookup   string
	owner    func(notification.Notification) string
}

var (
	clientKeys = keySpace{
		conflict: `(user_id, request_id) WHERE order_id IS NULL`,
		lookup:   `order_id IS NULL AND user_id = $1 AND request_id = $2`,
		owner:    func(n notification.Notification) string { return n.UserID },
	}
	orderKeys = keySpace{
		conflict: `(order_id, request_id) WHERE order_id IS NOT NULL`,
		lookup:   `order_id = $1::uuid AND request_id = $2`,
		owner:    func(n notification.Notification) string { return n.OrderID },
	}
)

// Get returns the letter id of user userID, or notification.ErrNotFound.
func (s *Store) Get(ctx context.Context, userID, id string) (notification.Notification, error) {
	var r row
	err := pgdb.Get(ctx, s.db, &r, `SELECT `+columns+` FROM notifications WHERE user_id = $1 AND id = $2`, userID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return notification.Notification{}, fmt.Errorf("%w: user %s has no notification %s", notification.ErrNotFound, userID, id)
	}
	if err != nil {
		return notification.Notification{}, fmt.Errorf("read notification: %w", err)
	}
	return r.domain(), nil
}

// List returns up to limit letters of userID, newest first, starting after
// the cursor (from the newest when it is the first page).
func (s *Store) List(ctx context.Context, userID string, after paging.Cursor, limit int) ([]notification.Notification, error) {
	var rows []row
	var err error
	if after.IsFirst() {
		err = pgdb.Select(ctx, s.db, &rows, `SELECT `+columns+` FROM notifications
			WHERE user_id = $1
			ORDER BY create_time DESC, id DESC LIMIT $2`, userID, limit)
	} else {
		err = pgdb.Select(ctx, s.db, &rows, `SELECT `+columns+` FROM notifications
			WHERE user_id = $1 AND (create_time, id) < ($2, $3::uuid)
			ORDER BY create_time DESC, id DESC LIMIT $4`, userID, after.Time, after.ID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	out := make([]notification.Notification, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}
