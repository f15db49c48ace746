package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/billing"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
)

// keyspace is where a movement's idempotency key lives, in the ledger and
// in the refusals alike: a client's request_id per user, the order an
// order's payment pays, or a refund's request_id per user. Each has a
// partial unique index of the same name in both tables (migrations 00002
// and 00003). In the statements below $1 is the user, $2 the request_id
// and $3 the order.
type keyspace struct {
	// applyStmt inserts the entry and sets the balance; keyStmt reads the
	// key's outcome and may record a refusal (see newKeyspace).
	applyStmt, keyStmt string
}

// The columns refunds write besides those of every movement, with their
// values: in the entry $8 the withdrawal, $9 the amount asked for and $10
// the reason; in a refusal $9 the withdrawal. Other key spaces write none.
const (
	refundEntryCols   = `, refund_of, refund_asked, refund_reason`
	refundEntryVals   = `, $8::uuid, $9::bigint, NULLIF($10::text, '')`
	refundRefusalCols = `, refund_of`
	refundRefusalVals = `, $9::uuid`
)

// newKeyspace builds the statements of a key: match is the condition that
// a transactions or refusals row holds it, conflict the ON CONFLICT target
// (its unique index); the other arguments are the columns only its
// movements have and their values, in the entry and in a refusal. They are
// plain strings so that the statements can be read from this source
// whole (bench/ceiling holds its copies against them).
func newKeyspace(match, conflict, entryCols, entryVals, refusalCols, refusalVals string) keyspace {
	var k keyspace
	// The entry and the balance in one statement. It inserts nothing when
	// the key has an entry (ON CONFLICT) or a refusal (NOT EXISTS), and
	// the balance is then left alone, because the UPDATE joins the
	// inserted rows only. The UPDATE sets the balance the entry records
	// at the entry's time; the commit makes both visible at once.
	// clock_timestamp(), the column default, rather than now(): the time
	// the lock was held rather than the time the transaction began, so
	// the ledger's time order is the order in which movements were
	// applied.
	//
	// The sub-statements of a WITH share one snapshot, taken when the
	// statement starts; that is after the account lock was granted, so it
	// sees what the previous holder committed (a retry's original entry
	// or refusal included, hence the skip). The UPDATE reaches the row
	// this transaction has locked and does not wait.
	k.applyStmt = `
		WITH entry AS (
			INSERT INTO transactions (user_id, kind, amount, currency, balance_after, request_id, order_id` + entryCols + `)
			SELECT $1::uuid, $4::text, $5::bigint, $6::text, $7::bigint, NULLIF($2::text, ''), NULLIF($3::text, '')::uuid` + entryVals + `
			WHERE NOT EXISTS (SELECT 1 FROM refusals WHERE ` + match + `)
			ON CONFLICT ` + conflict + ` DO NOTHING
			RETURNING ` + txColumns + `
		), upd AS (
			UPDATE accounts a SET balance = e.balance_after, update_time = e.create_time
			FROM entry e WHERE a.user_id = e.user_id
			RETURNING 1
		)
		SELECT entry.*, (SELECT count(*) FROM upd) AS updated FROM entry`
	// The key's earlier outcomes, its entry or its refusal; and, when it
	// has none and a refusal is given ($7 is its reason, '' for none),
	// that refusal recorded now, so it commits with the decision. ON
	// CONFLICT can only skip it for an order paid by another user at the
	// same moment (the lock is per user), whose row the caller then reads.
	k.keyStmt = `
		WITH prev AS (
			SELECT 'applied' AS outcome, ` + txColumns + `, '' AS reason, '' AS message
			FROM transactions WHERE ` + match + `
			UNION ALL
			SELECT 'refused', ` + refusalColumns + `
			FROM refusals WHERE ` + match + `
		), recorded AS (
			INSERT INTO refusals (user_id, kind, amount, currency, request_id, order_id, reason, message` + refusalCols + `)
			SELECT $1::uuid, $4::text, $5::bigint, $6::text, NULLIF($2::text, ''), NULLIF($3::text, '')::uuid, $7::text, $8::text` + refusalVals + `
			WHERE $7::text <> '' AND NOT EXISTS (SELECT 1 FROM prev)
			ON CONFLICT ` + conflict + ` DO NOTHING
			RETURNING 'recorded' AS outcome, ` + refusalColumns + `
		)
		SELECT * FROM prev UNION ALL SELECT * FROM recorded`
	return k
}

var (
	clientKeys = newKeyspace(`user_id = $1::uuid AND request_id = $2::text AND order_id IS NULL AND refund_of IS NULL`,
		`(user_id, request_id) WHERE order_id IS NULL AND refund_of IS NULL`, "", "", "", "")
	orderKeys = newKeyspace(`order_id = NULLIF($3::text, '')::uuid`,
		`(order_id) WHERE order_id IS NOT NULL`, "", "", "", "")
	refundKeys = newKeyspace(`user_id = $1::uuid AND request_id = $2::text AND refund_of IS NOT NULL`,
		`(user_id, request_id) WHERE refund_of IS NOT NULL`,
		refundEntryCols, refundEntryVals, refundRefusalCols, refundRefusalVals)
)

// keysOf is the key space of m.
func keysOf(m billing.Movement) keyspace {
	switch {
	case m.IsRefund():
		return refundKeys
	case m.PaysOrder():
		return orderKeys
	}
	return clientKeys
}

// refusalColumns are a refusals row in the shape of keyRow. A refused
// refund's amount is what it asked for, so refund_asked repeats it.
const refusalColumns = `id, user_id, kind, amount, currency, 0::bigint AS balance_after,
	coalesce(request_id, '') AS request_id, coalesce(order_id::text, '') AS order_id,
	coalesce(refund_of::text, '') AS refund_of, amount AS refund_asked, '' AS refund_reason,
	create_time, reason, message`

// refundedStmt reads, under the account's lock, the entry a refund names
// ($2 its id or $3 the order it paid, the other one ”) if it is the
// user's, with what earlier refunds gave back of it. The running total is
// written by the refunds' insert trigger under this same lock, so it is
// exact until the lock is released.
const refundedStmt = `SELECT ` + txColumns + `,
		coalesce((SELECT r.refunded FROM refund_totals r WHERE r.withdrawal_id = t.id), 0) AS refunded
	FROM transactions t
	WHERE t.user_id = $1::uuid
	  AND (t.id = NULLIF($2::text, '')::uuid OR t.order_id = NULLIF($3::text, '')::uuid)`

// movedRow is the ledger entry a movement inserted and the number of
// account rows the same statement updated.
type movedRow struct {
	txRow
	Updated int64 `db:"updated"`
}

// keyRow is an outcome of a key: its entry ("applied"), its earlier
// refusal ("refused") or the refusal recorded by the statement that read
// it ("recorded"). Refusals leave balance_after at 0.
type keyRow struct {
	Outcome string `db:"outcome"`
	txRow
	Reason  string `db:"reason"`
	Message string `db:"message"`
}

func (r keyRow) refusal() billing.Refusal {
	return billing.Refusal{
		ID: r.ID, UserID: r.UserID, Kind: billing.Kind(r.Kind), Amount: r.Amount, Currency: r.Currency,
		RequestID: r.RequestID, OrderID: r.OrderID, RefundOf: r.RefundOf, Reason: r.Reason, Message: r.Message,
		CreateTime: r.CreateTime,
	}
}

// refundedRow is a refund's withdrawal and what was refunded of it.
type refundedRow struct {
	txRow
	Refunded int64 `db:"refunded"`
}

// Move applies a deposit, withdrawal or refund: it changes the balance and appends
// the ledger entry in one transaction, and returns the account after it with
// the entry. The first outcome under the movement's key is final (see
// package billing): a retry with the same parameters changes nothing and
// returns the account as it is now with the original entry, or the
// original refusal; other parameters under the key are
// apperr.RequestIDReused (billing.ErrOrderIDReused for an order's
// payment). A refusal by a rule (closed account, other currency,
// insufficient funds, balance limit, nothing left to refund) is recorded
// under the key in the same transaction, then returned.
//
// A refund (m.IsRefund) first reads the withdrawal it names, by id or by
// order, under the account's lock, and decides its amount from what
// earlier refunds left (billing.RefundAmount): a withdrawal that is not the
// user's is billing.ErrTransactionNotFound and an amount above the
// withdrawal's is INVALID_ARGUMENT, neither remembered. The insert trigger
// adds the refund to the withdrawal's running total, which a CHECK keeps
// within the withdrawal.
func (s *Store) Move(ctx context.Context, m billing.Movement) (billing.Account, billing.Transaction, error) {
	acct, tx, _, err := s.MoveOnce(ctx, m)
	return acct, tx, err
}

// MoveOnce is Move that also reports whether m was a retry answered with
// the key's first outcome (replayed) rather than decided now; a replayed
// refusal comes with the error.
//
// Round trips (TestMove_RoundTrips): an applied movement four (BEGIN, the
// lock, the entry with the balance in one statement, COMMIT), a refused
// one four (the key is read and the refusal recorded in one statement), a
// retry answered from its entry or refusal four or five. The key is read
// on its own only when the rules refuse the movement or the insert skips
// it because the key is taken.
func (s *Store) MoveOnce(ctx context.Context, m billing.Movement) (billing.Account, billing.Transaction, bool, error) {
	keys := keysOf(m)
	var (
		acct     billing.Account
		tx       billing.Transaction
		replayed bool
		// refusal is the answer when m is refused, now or the first time.
		refusal error
	)
	// answer takes the key's outcome as m's: the entry or the refusal a
	// retry repeats, the refusal just recorded, or ErrKeyReused for other
	// parameters. It runs under the lock, after the statement that read
	// the key, so a retry queued behind its original sees the original.
	answer := func(rows []keyRow, rule error) error {
		if len(rows) == 0 {
			return fmt.Errorf("read key of %s: no outcome", m.UserID)
		}
		// An entry outranks a refusal; both exist only after the race the
		// key statement's comment describes.
		prev := rows[0]
		for _, r := range rows {
			if r.Outcome == "applied" {
				prev = r
			}
		}
		switch prev.Outcome {
		case "applied":
			if !m.Matches(prev.domain()) {
				return m.ErrKeyReused()
			}
			tx, replayed = prev.domain(), true
		case "refused":
			if !m.MatchesRefusal(prev.refusal(), acct) {
				return m.ErrKeyReused()
			}
			refusal, replayed = prev.refusal().Err(), true
		case "recorded":
			refusal = rule
		default:
			return fmt.Errorf("read key: unknown outcome %q", prev.Outcome)
		}
		return nil
	}
	err := pgdb.InTx(ctx, s.db, func(dbtx *sqlx.Tx) error {
		// Invariants: balance >= 0, balance == sum of the ledger, and one
		// outcome (entry or refusal) per key. They hold because every
		// change of an account's balance, ledger or refusals runs in a
		// transaction that first takes this row lock and keeps it until
		// commit, so the read balance, the key check and the writes below
		// cannot interleave with another movement of the same account.
		// Under READ COMMITTED a waiter that gets the lock reads the row as
		// the previous holder committed it, and its later statements see
		// that holder's entry or refusal. Movements of different accounts
		// do not wait for each other.
		var r accountRow
		err := dbtx.GetContext(ctx, &r, `SELECT `+accountColumns+` FROM accounts WHERE user_id = $1 FOR UPDATE`, m.UserID)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(m.UserID)
		}
		if err != nil {
			return fmt.Errorf("lock account: %w", err)
		}
		acct = r.domain()

		// applied is m as it changes the balance: a refund's Amount is
		// what it asked for, applied's what it gives back.
		applied := m
		var ruleErr error
		if m.IsRefund() {
			var w refundedRow
			err := dbtx.GetContext(ctx, &w, refundedStmt, m.UserID, m.RefundOf, m.RefundOrder)
			if errors.Is(err, sql.ErrNoRows) {
				return billing.TransactionNotFound(m)
			}
			if err != nil {
				return fmt.Errorf("read refunded withdrawal: %w", err)
			}
			// The key is compared by the withdrawal's id however the
			// request named it.
			m.RefundOf, m.RefundOrder = w.ID, ""
			applied = m
			applied.Amount, ruleErr = billing.RefundAmount(w.domain(), w.Refunded, m.Amount)
		}

		// The rules are applied before the key is checked, which the
		// insert below does on the way, so that a new movement needs no
		// statement of its own for it. Either order gives the same
		// answers: a refusal stands only if the key is unused, because a
		// retry must get its first outcome even when the rules would now
		// decide otherwise (say the original withdrawal emptied the
		// account, or a deposit since made a refused one affordable).
		var balance int64
		if ruleErr == nil {
			balance, ruleErr = acct.Apply(applied)
		}
		if ruleErr != nil {
			ref, ok := billing.NewRefusal(acct, m, ruleErr)
			if !ok {
				return ruleErr
			}
			rows, err := readKey(ctx, dbtx, keys, m, ref)
			if err != nil {
				return err
			}
			// A recorded refusal must commit: its error is returned after
			// the commit, not from here (an error here rolls back).
			return answer(rows, ruleErr)
		}

		args := []any{m.UserID, m.RequestID, m.OrderID, string(m.Kind), applied.Amount, acct.Currency, balance}
		if m.IsRefund() {
			args = append(args, m.RefundOf, m.Amount, m.RefundReason)
		}
		var row movedRow
		err = dbtx.GetContext(ctx, &row, keys.applyStmt, args...)
		if errors.Is(err, sql.ErrNoRows) {
			// Skipped: the key has an entry or a refusal.
			rows, err := readKey(ctx, dbtx, keys, m, billing.Refusal{})
			if err != nil {
				return err
			}
			return answer(rows, nil)
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
	if refusal != nil {
		return billing.Account{}, billing.Transaction{}, replayed, refusal
	}
	return acct, tx, replayed, nil
}

// readKey returns the outcomes of m's key and, when it has none and ref is
// a refusal (its Reason set), records ref. A second read covers the one
// case the first can come back empty: the refusal's insert skipped because
// another user's payment of the same order took the key meanwhile (it
// waited for that commit, which a new statement sees).
func readKey(ctx context.Context, dbtx *sqlx.Tx, keys keyspace, m billing.Movement, ref billing.Refusal) ([]keyRow, error) {
	args := []any{m.UserID, m.RequestID, m.OrderID, string(m.Kind), m.Amount, ref.Currency, ref.Reason, ref.Message}
	if m.IsRefund() {
		args = append(args, m.RefundOf)
	}
	for range 2 {
		var rows []keyRow
		err := dbtx.SelectContext(ctx, &rows, keys.keyStmt, args...)
		if err != nil {
			return nil, fmt.Errorf("read key: %w", err)
		}
		if len(rows) > 0 {
			return rows, nil
		}
	}
	return nil, errors.New("read key: the key has no outcome and none was recorded")
}
