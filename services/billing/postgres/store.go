// Package postgres stores the billing service's accounts and ledger in
// PostgreSQL.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/billing"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
)

// Store reads and writes accounts and their ledgers.
type Store struct {
	db *sqlx.DB
}

// New returns a Store on db, which must have Migrations applied.
func New(db *sqlx.DB) *Store {
	return &Store{db: db}
}

type accountRow struct {
	UserID     string       `db:"user_id"`
	Balance    int64        `db:"balance"`
	Currency   string       `db:"currency"`
	CreateTime time.Time    `db:"create_time"`
	UpdateTime time.Time    `db:"update_time"`
	CloseTime  sql.NullTime `db:"close_time"`
}

const accountColumns = `user_id, balance, currency, create_time, update_time, close_time`

func (r accountRow) domain() billing.Account {
	return billing.Account{
		UserID: r.UserID, Balance: r.Balance, Currency: r.Currency,
		CreateTime: r.CreateTime, UpdateTime: r.UpdateTime, CloseTime: r.CloseTime.Time,
	}
}

// txRow is a transactions row; a NULL request_id, order_id or refund
// column is read as "" or 0.
type txRow struct {
	ID           string    `db:"id"`
	UserID       string    `db:"user_id"`
	Kind         string    `db:"kind"`
	Amount       int64     `db:"amount"`
	Currency     string    `db:"currency"`
	BalanceAfter int64     `db:"balance_after"`
	RequestID    string    `db:"request_id"`
	OrderID      string    `db:"order_id"`
	RefundOf     string    `db:"refund_of"`
	RefundAsked  int64     `db:"refund_asked"`
	RefundReason string    `db:"refund_reason"`
	CreateTime   time.Time `db:"create_time"`
}

const txColumns = `id, user_id, kind, amount, currency, balance_after,
	coalesce(request_id, '') AS request_id, coalesce(order_id::text, '') AS order_id,
	coalesce(refund_of::text, '') AS refund_of, coalesce(refund_asked, 0) AS refund_asked,
	coalesce(refund_reason, '') AS refund_reason, create_time`

func (r txRow) domain() billing.Transaction {
	return billing.Transaction{
		ID: r.ID, UserID: r.UserID, Kind: billing.Kind(r.Kind), Amount: r.Amount, Currency: r.Currency,
		BalanceAfter: r.BalanceAfter, RequestID: r.RequestID, OrderID: r.OrderID,
		RefundOf: r.RefundOf, RefundAsked: r.RefundAsked, RefundReason: r.RefundReason, CreateTime: r.CreateTime,
	}
}

func notFound(userID string) error { return billing.AccountNotFound(userID) }

// CreateAccount opens an empty account for userID in currency. When the user
// already has an account, nothing changes and the existing account is
// returned with created=false (whatever its currency: the caller decides
// whether that is a conflict).
//
// Concurrent calls for one user are safe: the unique indexes make the
// loser's INSERT wait for the winner's commit and then do nothing, and the
// SELECT that follows (a new statement, so a new snapshot under READ
// COMMITTED) sees the winner's row. ON CONFLICT names no index on purpose:
// accounts has two unique ones that both contain user_id (the primary key
// and (user_id, currency)), and a loser that meets the winner's row first in
// an index ON CONFLICT does not watch fails with a unique violation.
func (s *Store) CreateAccount(ctx context.Context, userID, currency string) (billing.Account, bool, error) {
	var r accountRow
	err := pgdb.Get(ctx, s.db, &r, `
		INSERT INTO accounts (user_id, currency) VALUES ($1, $2)
		ON CONFLICT DO NOTHING
		RETURNING `+accountColumns, userID, currency)
	if err == nil {
		return r.domain(), true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return billing.Account{}, false, fmt.Errorf("insert account: %w", err)
	}
	a, err := s.GetAccount(ctx, userID)
	return a, false, err
}

// GetAccount returns the account of userID or billing.ErrAccountNotFound.
func (s *Store) GetAccount(ctx context.Context, userID string) (billing.Account, error) {
	var r accountRow
	err := pgdb.Get(ctx, s.db, &r, `SELECT `+accountColumns+` FROM accounts WHERE user_id = $1`, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return billing.Account{}, notFound(userID)
	}
	if err != nil {
		return billing.Account{}, fmt.Errorf("read account: %w", err)
	}
	return r.domain(), nil
}

// CloseAccount marks the account of userID closed. Closing a closed account
// keeps its first close time. The UPDATE takes the row lock, so a close
// waits for a deposit or withdrawal in flight and every later one sees it.
func (s *Store) CloseAccount(ctx context.Context, userID string) (billing.Account, error) {
	var r accountRow
	err := pgdb.Get(ctx, s.db, &r, `
		UPDATE accounts SET close_time = coalesce(close_time, clock_timestamp())
		WHERE user_id = $1
		RETURNING `+accountColumns, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return billing.Account{}, notFound(userID)
	}
	if err != nil {
		return billing.Account{}, fmt.Errorf("close account: %w", err)
	}
	return r.domain(), nil
}

// ListTransactions returns up to limit ledger entries of userID, newest
// first, starting after the cursor (from the newest on the first page). An
// unknown account is billing.ErrAccountNotFound.
func (s *Store) ListTransactions(ctx context.Context, userID string, after paging.Cursor, limit int) ([]billing.Transaction, error) {
	var rows []txRow
	var err error
	if after.IsFirst() {
		err = pgdb.Select(ctx, s.db, &rows, `SELECT `+txColumns+` FROM transactions
			WHERE user_id = $1
			ORDER BY create_time DESC, id DESC LIMIT $2`, userID, limit)
	} else {
		err = pgdb.Select(ctx, s.db, &rows, `SELECT `+txColumns+` FROM transactions
			WHERE user_id = $1 AND (create_time, id) < ($2, $3::uuid)
			ORDER BY create_time DESC, id DESC LIMIT $4`, userID, after.Time, after.ID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list transactions: %w", err)
	}
	if len(rows) == 0 {
		// Entries imply the account (foreign key); only an empty page needs
		// the check. Accounts are never deleted, so it cannot go stale.
		var exists bool
		if err := pgdb.Get(ctx, s.db, &exists, `SELECT EXISTS (SELECT 1 FROM accounts WHERE user_id = $1)`, userID); err != nil {
			return nil, fmt.Errorf("check account: %w", err)
		}
		if !exists {
			return nil, notFound(userID)
		}
	}
	out := make([]billing.Transaction, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}
