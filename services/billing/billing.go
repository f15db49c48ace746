// Package billing is the domain of the billing service: a money account per
// user, the append-only ledger of its transactions, the rules a deposit, a
// withdrawal or a refund must pass and the errors the service reports. Money is int64 in
// minor units of the account currency (cents for USD).
//
// Every movement carries an idempotency key, and the first outcome under a
// key is its answer for good, whether the movement was applied or refused
// by a rule (Stripe's and the IETF Idempotency-Key draft's semantics): a
// retry with the same parameters gets the same entry or the same refusal
// (code, reason and message), even after the account changed so that the
// rules would now decide otherwise; the same key with other parameters is
// apperr.RequestIDReused. Keys have two owners that never meet. A client's key
// is its request_id, scoped to the user. The payment of an order
// (Movement.PaysOrder) is keyed by the order alone, one per order ever; its
// request_id is recorded but takes no client key, so no client request can
// block or pre-empt an order's payment. A refund's key is its request_id
// too, scoped to the user's refunds: the refunder is a service, and its keys
// never meet the customer's.
package billing

import (
	"errors"
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
	// Refund gives back (part of) what a withdrawal took, as an entry of
	// its own: the withdrawal is never changed.
	Refund Kind = "refund"
)

// MaxRefundReasonLen bounds the reason a refund records, in characters.
const MaxRefundReasonLen = 200

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

// Closed reports whether the account refuses deposits and withdrawals
// (refunds still arrive).
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
	// RequestID is "" for an order's payment sent without one.
	RequestID string
	// OrderID is the order a withdrawal pays for, "" when none.
	OrderID string
	// RefundOf is the withdrawal a refund gives money back for, RefundAsked
	// what its request asked (0: all that remained), RefundReason why; all
	// empty for other kinds.
	RefundOf     string
	RefundAsked  int64
	RefundReason string
	CreateTime   time.Time
}

// Movement is a requested change of a balance: a deposit, a withdrawal or
// a refund.
type Movement struct {
	UserID string
	Kind   Kind
	Amount int64
	// Currency is "" for "the account's currency".
	Currency string
	// RequestID is the client's idempotency key; optional (and not a key)
	// when OrderID is set.
	RequestID string
	// OrderID is "" when the withdrawal pays for no order; otherwise it is
	// the movement's key.
	OrderID string
	// A refund names its withdrawal by RefundOf (the entry's id) or by
	// RefundOrder (the order it paid); the store resolves the order to the
	// id under the account's lock. Its Amount is what it asks for, 0 for
	// all that remains (see RefundAmount). RefundReason is recorded and
	// not compared on a retry.
	RefundOf, RefundOrder, RefundReason string
}

// IsRefund reports whether m gives money back for a withdrawal.
func (m Movement) IsRefund() bool { return m.Kind == Refund }

// PaysOrder reports whether m is the payment of an order, keyed by its
// order rather than by its request_id.
func (m Movement) PaysOrder() bool { return m.OrderID != "" }

// Refusal is a movement a business rule refused, remembered under its key
// so that every retry gets the same answer. Entries are never changed or
// deleted.
type Refusal struct {
	ID     string
	UserID string
	Kind   Kind
	Amount int64
	// Currency is the one the request asked for, the account's when it
	// named none.
	Currency  string
	RequestID string
	OrderID   string
	// RefundOf is the withdrawal a refused refund named; Amount is then
	// what it asked for (0: all that remained).
	RefundOf string
	// Reason is the ErrorInfo reason of the refusal, Message the full text
	// of the first answer.
	Reason     string
	Message    string
	CreateTime time.Time
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
	// ErrBalanceLimit refuses a deposit or refund that would overflow the
	// balance.
	ErrBalanceLimit = apperr.FailedPrecondition("balance limit reached").WithReason("BALANCE_LIMIT")
	// ErrTransactionNotFound answers a refund naming no entry of its user,
	// another user's included, so the refunder learns nothing of others.
	ErrTransactionNotFound = apperr.NotFound("transaction not found").WithReason("TRANSACTION_NOT_FOUND")
	// ErrNotRefundable refuses a refund of a deposit or of a refund.
	ErrNotRefundable = apperr.FailedPrecondition("only withdrawals are refunded").WithReason("NOT_REFUNDABLE")
	// ErrRefundExceedsRemaining refuses a refund larger than what the
	// withdrawal's earlier refunds left of it.
	ErrRefundExceedsRemaining = apperr.FailedPrecondition("refund exceeds what remains of the withdrawal").
					WithReason("REFUND_EXCEEDS_REMAINING")
)

// AccountNotFound is the answer for userID's account when there is none,
// and also when it belongs to someone the caller may not see: both must read
// the same, so another customer cannot learn whether an account exists.
func AccountNotFound(userID string) error {
	return fmt.Errorf("%w: user %s has no account", ErrAccountNotFound, userID)
}

// ErrOrderIDReused reports a payment of an order that has one already with
// other parameters (another user, amount or currency). The key is the
// order's, so the reason is the same as for a client key.
func ErrOrderIDReused(orderID string) error {
	return apperr.AlreadyExists("order_id %q already has a payment with different parameters", orderID).
		WithReason(apperr.ReasonRequestIDReused)
}

// TransactionNotFound is the answer for a refund of m naming no
// withdrawal of m's user.
func TransactionNotFound(m Movement) error {
	if m.RefundOrder != "" {
		return fmt.Errorf("%w: user %s has no payment of order %s", ErrTransactionNotFound, m.UserID, m.RefundOrder)
	}
	return fmt.Errorf("%w: user %s has no transaction %s", ErrTransactionNotFound, m.UserID, m.RefundOf)
}

// ErrKeyReused is ErrOrderIDReused for an order's payment and
// apperr.RequestIDReused otherwise.
func (m Movement) ErrKeyReused() error {
	if m.PaysOrder() {
		return ErrOrderIDReused(m.OrderID)
	}
	return apperr.RequestIDReused(m.RequestID)
}

// rules are the refusals Apply makes, by reason: the outcomes remembered
// under a key. A missing account is not among them: there is no account to
// hold the key, and the request may be retried once the account is opened.
var rules = map[string]*apperr.Error{
	ErrAccountClosed.Reason:     ErrAccountClosed,
	ErrCurrencyMismatch.Reason:  ErrCurrencyMismatch,
	ErrInsufficientFunds.Reason: ErrInsufficientFunds,
	ErrBalanceLimit.Reason:      ErrBalanceLimit,

	ErrNotRefundable.Reason:          ErrNotRefundable,
	ErrRefundExceedsRemaining.Reason: ErrRefundExceedsRemaining,
}

// NewRefusal returns the record of m refused by err on account a, or false
// when err is not a business rule's refusal (a bug or the database) and so
// must not be remembered.
func NewRefusal(a Account, m Movement, err error) (Refusal, bool) {
	for reason, rule := range rules {
		if errors.Is(err, rule) {
			return Refusal{
				UserID: m.UserID, Kind: m.Kind, Amount: m.Amount, Currency: m.currencyIn(a),
				RequestID: m.RequestID, OrderID: m.OrderID, RefundOf: m.RefundOf, Reason: reason, Message: err.Error(),
			}, true
		}
	}
	return Refusal{}, false
}

// Err is the refusal as it was first answered: the same rule (so the same
// code and reason, and errors.Is matches it) and the same message.
func (r Refusal) Err() error {
	rule, ok := rules[r.Reason]
	if !ok {
		return fmt.Errorf("billing: refusal %s has an unknown reason %q", r.ID, r.Reason)
	}
	return &refused{rule: rule, message: r.Message}
}

// refused is a remembered refusal: its text is the first answer's, its
// kind and reason those of the rule.
type refused struct {
	rule    *apperr.Error
	message string
}

func (e *refused) Error() string { return e.message }
func (e *refused) Unwrap() error { return e.rule }

// Apply decides whether m may change account a and returns the balance after
// it. It changes nothing; the caller must hold the account's lock from
// reading a until it writes the result, or the decision is stale.
//
// A refund on a closed account is applied: the money is owed to the
// customer whatever became of the account, and closing keeps the balance
// anyway. m.Amount of a refund must be the amount RefundAmount decided.
func (a Account) Apply(m Movement) (int64, error) {
	if a.Closed() && !m.IsRefund() {
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
	case Deposit, Refund:
		if a.Balance > math.MaxInt64-m.Amount {
			return 0, fmt.Errorf("%w: a balance of %d %s minor units cannot take a %s of %d",
				ErrBalanceLimit, a.Balance, a.Currency, m.Kind, m.Amount)
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

// RefundAmount decides how much a refund asking for asked (0: all that
// remains) gives back of w, of which earlier refunds gave back refunded.
// The caller must hold the account's lock from reading refunded until it
// writes the refund. Asking for more than w ever took is a bad request
// (whatever was refunded, it can never pass); more than remains is a
// refusal, remembered under the refund's key like every rule's.
func RefundAmount(w Transaction, refunded, asked int64) (int64, error) {
	if w.Kind != Withdrawal {
		return 0, fmt.Errorf("%w: transaction %s is a %s", ErrNotRefundable, w.ID, w.Kind)
	}
	if asked > w.Amount {
		return 0, apperr.Invalid("amount", "must be at most the %d minor units withdrawal %s took, got %d", w.Amount, w.ID, asked)
	}
	remaining := w.Amount - refunded
	switch {
	case remaining <= 0:
		return 0, fmt.Errorf("%w: all %d %s minor units of withdrawal %s were refunded already",
			ErrRefundExceedsRemaining, w.Amount, w.Currency, w.ID)
	case asked == 0:
		return remaining, nil
	case asked > remaining:
		return 0, fmt.Errorf("%w: withdrawal %s took %d %s minor units and %d of them were refunded, so at most %d remain, the refund asks for %d",
			ErrRefundExceedsRemaining, w.ID, w.Amount, w.Currency, refunded, remaining, asked)
	}
	return asked, nil
}

// Matches reports whether t is what m would have recorded, so m is a retry
// of the request that made t. An empty m.Currency means the account's
// currency, which t recorded. The request_id of an order's payment is not
// compared: the order is its key. A refund matches by its withdrawal and
// the amount it asked for: asking for the rest again is a retry although
// the rest is now 0.
func (m Movement) Matches(t Transaction) bool {
	if m.IsRefund() {
		return m.UserID == t.UserID && t.Kind == Refund && m.RefundOf == t.RefundOf && m.Amount == t.RefundAsked
	}
	return m.UserID == t.UserID && m.Kind == t.Kind && m.Amount == t.Amount &&
		(m.Currency == "" || m.Currency == t.Currency) && m.OrderID == t.OrderID
}

// MatchesRefusal reports whether m is a retry of the request r records, m
// being a movement of account a (whose currency an empty m.Currency means).
func (m Movement) MatchesRefusal(r Refusal, a Account) bool {
	return m.UserID == r.UserID && m.Kind == r.Kind && m.Amount == r.Amount &&
		m.currencyIn(a) == r.Currency && m.OrderID == r.OrderID && m.RefundOf == r.RefundOf
}

// currencyIn is the currency m asks for on account a.
func (m Movement) currencyIn(a Account) string {
	if m.Currency == "" {
		return a.Currency
	}
	return m.Currency
}

// VerifyLedger checks the ledger invariants of an account: ledger holds all
// of its transactions oldest first, every entry's balance_after follows from
// the one before (starting at zero) and is never negative, every amount is
// positive and in the account currency, every refund names an earlier
// withdrawal of the account and the refunds of a withdrawal add up to at
// most its amount, and the last balance_after is the account balance. Tests
// use it to audit the store.
func VerifyLedger(a Account, ledger []Transaction) error {
	var balance int64
	withdrawn := map[string]int64{} // withdrawal id → amount less its refunds
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
			withdrawn[t.ID] = t.Amount
		case Refund:
			left, ok := withdrawn[t.RefundOf]
			if !ok {
				return fmt.Errorf("entry %d (%s): refund of %q, which is no earlier withdrawal of the account", i, t.ID, t.RefundOf)
			}
			if t.Amount > left {
				return fmt.Errorf("entry %d (%s): refunds %d of withdrawal %s, which has %d left to refund", i, t.ID, t.Amount, t.RefundOf, left)
			}
			withdrawn[t.RefundOf] = left - t.Amount
			balance += t.Amount
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
