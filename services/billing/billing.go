// Package billing is the domain of the billing service: a money account per
// user, the append-only ledger of its transactions, the rules a deposit or a
// withdrawal must pass and the errors the service reports. Money is int64 in
// minor units of the account currency (cents for USD).
package billing

import (
	"fmt"
	"math"
	"time"

	"github.com/kassa-dev/kassa/services/platform/apperr"
)

// Kind is the direction of a ledger transaction. The values are the ones
// stored in transactions.kind.
type Kind string

// The kinds of ledger transactions.
const (
	Deposit    Kind = "deposit"
	Withdrawal Kind = "withdrawal"
)

// Account is a user's money account.
type Account struct {
	UserID   string
	Balance  int64
	Currency string
	// CreateTime is when the account was opened, UpdateTime when its
	// balance last changed.
	CreateTime time.Time
	UpdateTime time.Time
	// CloseTime is when the account was closed; zero while it is open.
	CloseTime time.Time
}

// Closed reports whether the account refuses deposits and withdrawals.
func (a Account) Closed() bool { return !a.CloseTime.IsZero() }

// Transaction is one ledger entry. Entries are never changed or deleted.
type Transaction struct {
	ID     string
	UserID string
	Kind   Kind
	// Amount is always positive; Kind gives the direction.
	Amount   int64
	Currency string
	// BalanceAfter is the account balance right after this entry.
	BalanceAfter int64
	RequestID    string
	// OrderID is the order a withdrawal pays for, "" when none.
	OrderID    string
	CreateTime time.Time
}

// Movement is a requested change of a balance: a deposit or a withdrawal.
type Movement struct {
	UserID string
	Kind   Kind
	Amount int64
	// Currency is "" for "the account's currency".
	Currency  string
	RequestID string
	// OrderID is "" when the withdrawal pays for no order.
	OrderID string
}

// Errors of the billing service. Callers match them with errors.Is; clients
// see the reason in the status details.
var (
	ErrAccountNotFound = apperr.NotFound("account not found").WithReason("ACCOUNT_NOT_FOUND")
	ErrAccountExists   = apperr.AlreadyExists("account already exists").WithReason("ACCOUNT_EXISTS")
	ErrAccountClosed   = apperr.FailedPrecondition("account is closed").WithReason("ACCOUNT_CLOSED")
	// ErrInsufficientFunds refuses a withdrawal larger than the balance.
	ErrInsufficientFunds = apperr.FailedPrecondition("insufficient funds").WithReason("INSUFFICIENT_FUNDS")
	ErrCurrencyMismatch  = apperr.FailedPrecondition("currency mismatch").WithReason("CURRENCY_MISMATCH")
	// ErrBalanceLimit refuses a deposit that would overflow the balance.
	ErrBalanceLimit = apperr.FailedPrecondition("balance limit reached").WithReason("BALANCE_LIMIT")
)

// ErrRequestIDReused reports an idempotency key used before with other
// parameters.
func ErrRequestIDReused(requestID string) error {
	return apperr.AlreadyExists("request_id %q was already used with different parameters", requestID).
		WithReason("REQUEST_ID_REUSED")
}

// Apply decides whether m may change account a and returns the balance after
// it. It changes nothing; the caller must hold the account's lock from
// reading a until it writes the result, or the decision is stale.
func (a Account) Apply(m Movement) (int64, error) {
	if a.Closed() {
		return 0, fmt.Errorf("%w: the account of user %s was closed at %s",
			ErrAccountClosed, a.UserID, a.CloseTime.UTC().Format(time.RFC3339))
	}
	if m.Currency != "" && m.Currency != a.Currency {
		return 0, fmt.Errorf("%w: the account is in %s, the request is in %s", ErrCurrencyMismatch, a.Currency, m.Currency)
	}
	if m.Amount <= 0 {
		// Validated before; a non-positive amount here is a bug, not a request.
		return 0, fmt.Errorf("billing: amount must be positive, got %d", m.Amount)
	}
	switch m.Kind {
	case Deposit:
		if a.Balance > math.MaxInt64-m.Amount {
			return 0, fmt.Errorf("%w: a balance of %d %s minor units cannot take a deposit of %d",
				ErrBalanceLimit, a.Balance, a.Currency, m.Amount)
		}
		return a.Balance + m.Amount, nil
	case Withdrawal:
		if a.Balance < m.Amount {
			return 0, fmt.Errorf("%w: the balance is %d %s minor units, the withdrawal needs %d",
				ErrInsufficientFunds, a.Balance, a.Currency, m.Amount)
		}
		return a.Balance - m.Amount, nil
	}
	return 0, fmt.Errorf("billing: unknown transaction kind %q", m.Kind)
}

// Matches reports whether t is what m would have recorded, so m is a retry
// of the request that made t. An empty m.Currency means the account's
// currency, which t recorded.
func (m Movement) Matches(t Transaction) bool {
	return m.UserID == t.UserID && m.Kind == t.Kind && m.Amount == t.Amount &&
		(m.Currency == "" || m.Currency == t.Currency) && m.OrderID == t.OrderID
}

// VerifyLedger checks the ledger invariants of an account: ledger holds all
// of its transactions oldest first, every entry's balance_after follows from
// the one before (starting at zero) and is never negative, every amount is
// positive and in the account currency, and the last balance_after is the
// account balance. Tests use it to audit the store.
func VerifyLedger(a Account, ledger []Transaction) error {
	var balance int64
	for i, t := range ledger {
		if t.Amount <= 0 || t.Currency != a.Currency || t.UserID != a.UserID {
			return fmt.Errorf("entry %d (%s): amount %d %s of user %s on a %s account of user %s",
				i, t.ID, t.Amount, t.Currency, t.UserID, a.Currency, a.UserID)
		}
		switch t.Kind {
		case Deposit:
			balance += t.Amount
		case Withdrawal:
			balance -= t.Amount
		default:
			return fmt.Errorf("entry %d (%s): unknown kind %q", i, t.ID, t.Kind)
		}
		if balance < 0 || t.BalanceAfter != balance {
			return fmt.Errorf("entry %d (%s): balance_after %d, want %d", i, t.ID, t.BalanceAfter, balance)
		}
	}
	if balance != a.Balance {
		return fmt.Errorf("balance %d differs from the ledger sum %d", a.Balance, balance)
	}
	return nil
}
