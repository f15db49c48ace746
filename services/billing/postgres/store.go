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

// txRow is a transactions row; a NULL order_id is read as "".
type txRow struct {
	ID           string    `db:"id"`
	UserID       string    `db:"user_id"`
	Kind         string    `db:"kind"`
	Amount       int64     `db:"amount"`
	Currency     string    `db:"currency"`
	BalanceAfter int64     `db:"balance_after"`
	RequestID    string    `db:"request_id"`
	OrderID      string    `db:"order_id"`
	CreateTime   time.Time `db:"create_time"`
}

const txColumns = `id, user_id, kind, amount, currency, balance_after, request_id,
	coalesce(order_id::text, '') AS order_id, create_time`

// movedRow is the ledger entry a movement inserted and the number of
// account rows the same statement updated.
type movedRow struct {
	txRow
	Updated int64 `db:"updated"`
}

func (r txRow) domain() billing.Transaction {
	return billing.Transaction{
		ID: r.ID, UserID: r.UserID, Kind: billing.Kind(r.Kind), Amount: r.Amount, Currency: r.Currency,
		BalanceAfter: r.BalanceAfter, RequestID: r.RequestID, OrderID: r.OrderID, CreateTime: r.CreateTime,
	}
}

func notFound(userID string) error {
	return fmt.Errorf("%w: user %s has no account", billing.ErrAccountNotFound, userID)
}

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
	err := s.db.GetContext(ctx, &r, `
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
	err := s.db.GetContext(ctx, &r, `SELECT `+accountColumns+` FROM accounts WHERE user_id = $1`, userID)
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
	err := s.db.GetContext(ctx, &r, `
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

// Move applies a deposit or withdrawal: it changes the balance and appends
// the ledger entry in one transaction, and returns the account after it with
// the entry. A retry of an earlier request (same user and request_id, same
// parameters) changes nothing and returns the account as it is now with the
// original entry; the same request_id with other parameters is
// billing.ErrRequestIDReused. A refused movement (closed account, other
// currency, insufficient funds, balance limit) writes nothing, so it may be
// retried with the same request_id.
func (s *Store) Move(ctx context.Context, m billing.Movement) (billing.Account, billing.Transaction, error) {
	acct, tx, _, err := s.MoveOnce(ctx, m)
	return acct, tx, err
}

// MoveOnce is Move that also reports whether m was a retry answered with
// the original entry (replayed) rather than applied now.
//
// A movement that is applied costs four round trips: BEGIN, the lock, the
// entry with the balance (one statement), COMMIT. The ledger is read by
// request_id only when the entry's insert finds the request_id taken (a
// retry) or when the rules refuse the movement.
func (s *Store) MoveOnce(ctx context.Context, m billing.Movement) (billing.Account, billing.Transaction, bool, error) {
	var (
		acct     billing.Account
		tx       billing.Transaction
		replayed bool
	)
	// replay answers m with the entry its request_id already has, read
	// under the lock: a retry gets the first result, applied once; other
	// parameters under the same request_id are refused.
	replay := func(dbtx *sqlx.Tx) (found bool, err error) {
		prev, found, err := entryByRequest(ctx, dbtx, m.UserID, m.RequestID)
		if err != nil || !found {
			return false, err
		}
		if !m.Matches(prev) {
			return true, billing.ErrRequestIDReused(m.RequestID)
		}
		tx, replayed = prev, true
		return true, nil
	}
	err := pgdb.InTx(ctx, s.db, func(dbtx *sqlx.Tx) error {
		// Invariants: balance >= 0, balance == sum of the ledger, and one
		// entry per request_id. They hold because every change of an
		// account's balance or ledger runs in a transaction that first takes
		// this row lock and keeps it until commit, so the read balance,
		// the idempotency check and the writes below cannot interleave with
		// another movement of the same account. Under READ COMMITTED a
		// waiter that gets the lock reads the row as the previous holder
		// committed it, and its later statements see that holder's ledger
		// entry. Movements of different accounts do not wait for each other.
		var r accountRow
		err := dbtx.GetContext(ctx, &r, `SELECT `+accountColumns+` FROM accounts WHERE user_id = $1 FOR UPDATE`, m.UserID)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(m.UserID)
		}
		if err != nil {
			return fmt.Errorf("lock account: %w", err)
		}
		acct = r.domain()

		// The rules are applied before the idempotency check, which the
		// insert below makes on the way (ON CONFLICT), so that a new
		// movement needs no statement of its own for it. Either order gives
		// the same answers: a refusal stands only if the request_id is
		// unused, because a retry of an applied request must get its first
		// result even when the rules would refuse it now (say the original
		// withdrawal emptied the account, or the account was closed since).
		balance, err := acct.Apply(m)
		if err != nil {
			if found, replayErr := replay(dbtx); found || replayErr != nil {
				return replayErr
			}
			return err
		}

		// The entry and the balance in one statement: ON CONFLICT skips the
		// entry when the request_id has one already, and the balance is then
		// left alone, because the UPDATE joins the inserted rows only. The
		// UPDATE sets the balance the entry records at the entry's time; the
		// commit makes both visible at once. clock_timestamp(), the column
		// default, rather than now(): the time the lock was held rather than
		// the time the transaction began, so the ledger's time order is the
		// order in which movements were applied.
		//
		// The sub-statements of a WITH share one snapshot, taken when the
		// statement starts; that is after the lock above was granted, so it
		// sees what the previous holder committed (the ledger entry of a
		// retry's original included, hence the skip). The UPDATE reaches
		// the row this transaction has locked and does not wait.
		var row movedRow
		err = dbtx.GetContext(ctx, &row, `
			WITH entry AS (
				INSERT INTO transactions (user_id, kind, amount, currency, balance_after, request_id, order_id)
				VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, '')::uuid)
				ON CONFLICT (user_id, request_id) DO NOTHING
				RETURNING `+txColumns+`
			), upd AS (
				UPDATE accounts a SET balance = e.balance_after, update_time = e.create_time
				FROM entry e WHERE a.user_id = e.user_id
				RETURNING 1
			)
			SELECT entry.*, (SELECT count(*) FROM upd) AS updated FROM entry`,
			m.UserID, string(m.Kind), m.Amount, acct.Currency, balance, m.RequestID, m.OrderID)
		if errors.Is(err, sql.ErrNoRows) {
			// Skipped by ON CONFLICT: the request_id has an entry.
			found, replayErr := replay(dbtx)
			if replayErr == nil && !found {
				replayErr = errors.New("insert transaction: skipped as a duplicate, but no entry has its request_id")
			}
			return replayErr
		}
		if err != nil {
			return fmt.Errorf("insert transaction: %w", err)
		}
		if row.Updated != 1 {
			// Cannot happen while this transaction holds the account's
			// lock; refuse to commit an entry without its balance.
			return fmt.Errorf("update balance: %d rows updated, want 1", row.Updated)
		}
		tx = row.domain()
		acct.Balance, acct.UpdateTime = balance, tx.CreateTime
		return nil
	})
	if err != nil {
		return billing.Account{}, billing.Transaction{}, false, err
	}
	return acct, tx, replayed, nil
}

// entryByRequest reads the ledger entry of userID's requestID; found is
// false when there is none.
func entryByRequest(ctx context.Context, q sqlx.QueryerContext, userID, requestID string) (t billing.Transaction, found bool, err error) {
	var r txRow
	err = sqlx.GetContext(ctx, q, &r, `SELECT `+txColumns+` FROM transactions WHERE user_id = $1 AND request_id = $2`,
		userID, requestID)
	if errors.Is(err, sql.ErrNoRows) {
		return billing.Transaction{}, false, nil
	}
	if err != nil {
		return billing.Transaction{}, false, fmt.Errorf("read transaction by request_id: %w", err)
	}
	return r.domain(), true, nil
}

// ListTransactions returns up to limit ledger entries of userID, newest
// first, starting after the cursor (from the newest on the first page). An
// unknown account is billing.ErrAccountNotFound.
func (s *Store) ListTransactions(ctx context.Context, userID string, after paging.Cursor, limit int) ([]billing.Transaction, error) {
	var rows []txRow
	var err error
	if after.IsFirst() {
		err = s.db.SelectContext(ctx, &rows, `SELECT `+txColumns+` FROM transactions
			WHERE user_id = $1
			ORDER BY create_time DESC, id DESC LIMIT $2`, userID, limit)
	} else {
		err = s.db.SelectContext(ctx, &rows, `SELECT `+txColumns+` FROM transactions
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
		if err := s.db.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM accounts WHERE user_id = $1)`, userID); err != nil {
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
