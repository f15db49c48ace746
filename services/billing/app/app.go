// Package app holds the billing service's use cases: it validates requests,
// applies the default currency and the idempotency rules of account creation,
// and pages the ledger. The rules of a movement itself live in package
// billing and run inside the store's transaction. It knows nothing about SQL
// or protobuf.
package app

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/kassa-dev/kassa/services/billing"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/validate"
)

// Store is the persistence the use cases need (postgres.Store).
type Store interface {
	CreateAccount(ctx context.Context, userID, currency string) (acct billing.Account, created bool, err error)
	GetAccount(ctx context.Context, userID string) (billing.Account, error)
	CloseAccount(ctx context.Context, userID string) (billing.Account, error)
	// MoveOnce applies m atomically and idempotently (see
	// postgres.Store.MoveOnce) and tells a movement decided now from a
	// retry answered with its key's first outcome, applied or refused, so
	// replays are counted apart.
	MoveOnce(ctx context.Context, m billing.Movement) (acct billing.Account, tx billing.Transaction, replayed bool, err error)
	ListTransactions(ctx context.Context, userID string, after paging.Cursor, limit int) ([]billing.Transaction, error)
}

// Config tunes the service. Its zero value is not usable: DefaultCurrency
// is required.
type Config struct {
	// DefaultCurrency is the ISO 4217 currency of accounts opened without
	// one; New refuses an empty or malformed one.
	DefaultCurrency string
	// Metrics counts movements; nil counts in unregistered metrics nobody
	// reads.
	Metrics *Metrics
}

// Service implements the billing use cases.
type Service struct {
	store Store
	cfg   Config
}

// New returns a Service over store. It fails when the default currency is
// missing or not an ISO 4217 code.
func New(store Store, cfg Config) (*Service, error) {
	if cfg.DefaultCurrency == "" {
		return nil, fmt.Errorf("default currency is empty")
	}
	if err := validate.Currency("default-currency", cfg.DefaultCurrency); err != nil {
		return nil, err
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil, cfg.DefaultCurrency)
	}
	return &Service{store: store, cfg: cfg}, nil
}

// Result is an account after a deposit or withdrawal with its ledger entry.
type Result struct {
	Account     billing.Account
	Transaction billing.Transaction
}

// Page is one page of an account's ledger, newest first.
type Page struct {
	Transactions []billing.Transaction
	// NextPageToken is "" on the last page.
	NextPageToken string
}

// CreateAccount opens the account of userID, or returns it when it exists.
// An existing account in another currency than the one explicitly asked for
// is refused, since the caller would otherwise believe it got what it asked.
func (s *Service) CreateAccount(ctx context.Context, userID, currency string) (billing.Account, error) {
	userID, err := validate.ID("user_id", userID)
	if err != nil {
		return billing.Account{}, err
	}
	if err := validate.Currency("currency", currency); err != nil {
		return billing.Account{}, err
	}
	want := currency
	if want == "" {
		want = s.cfg.DefaultCurrency
	}
	acct, created, err := s.store.CreateAccount(ctx, userID, want)
	if err != nil {
		return billing.Account{}, err
	}
	if created {
		s.cfg.Metrics.opened.Inc()
	}
	if !created && currency != "" && acct.Currency != currency {
		return billing.Account{}, fmt.Errorf("%w: user %s already has an account in %s, not %s",
			billing.ErrAccountExists, userID, acct.Currency, currency)
	}
	return acct, nil
}

// GetAccount returns the account of userID.
func (s *Service) GetAccount(ctx context.Context, userID string) (billing.Account, error) {
	userID, err := validate.ID("user_id", userID)
	if err != nil {
		return billing.Account{}, err
	}
	return s.store.GetAccount(ctx, userID)
}

// CloseAccount closes the account of userID; closing it again is a no-op.
func (s *Service) CloseAccount(ctx context.Context, userID string) (billing.Account, error) {
	userID, err := validate.ID("user_id", userID)
	if err != nil {
		return billing.Account{}, err
	}
	return s.store.CloseAccount(ctx, userID)
}

// Deposit adds amount to the account of userID.
func (s *Service) Deposit(ctx context.Context, userID string, amount int64, currency, requestID string) (Result, error) {
	return s.move(ctx, billing.Movement{
		UserID: userID, Kind: billing.Deposit, Amount: amount, Currency: currency, RequestID: requestID,
	})
}

// Withdraw takes amount from the account of userID, optionally paying for
// orderID.
func (s *Service) Withdraw(ctx context.Context, userID string, amount int64, currency, requestID, orderID string) (Result, error) {
	return s.move(ctx, billing.Movement{
		UserID: userID, Kind: billing.Withdrawal, Amount: amount, Currency: currency, RequestID: requestID, OrderID: orderID,
	})
}

// RefundRequest is what Refund is asked: the withdrawal of UserID to give
// money back for, named by exactly one of TransactionID and OrderID.
type RefundRequest struct {
	UserID                 string
	TransactionID, OrderID string
	// Amount is what to give back, 0 for all that remains.
	Amount    int64
	RequestID string
	Reason    string
}

// Refund gives back money a withdrawal of userID took (see
// postgres.Store.MoveOnce for the rules it passes under the lock).
func (s *Service) Refund(ctx context.Context, r RefundRequest) (Result, error) {
	return s.move(ctx, billing.Movement{
		UserID: r.UserID, Kind: billing.Refund, Amount: r.Amount, RequestID: r.RequestID,
		RefundOf: r.TransactionID, RefundOrder: r.OrderID, RefundReason: r.Reason,
	})
}

func (s *Service) move(ctx context.Context, m billing.Movement) (Result, error) {
	m, err := checkMovement(m)
	if err != nil {
		return Result{}, err
	}
	var (
		acct     billing.Account
		tx       billing.Transaction
		replayed bool
	)
	acct, tx, replayed, err = s.store.MoveOnce(ctx, m)
	if err != nil {
		if replayed {
			s.cfg.Metrics.replays.WithLabelValues(string(m.Kind), outcomeRefused).Inc()
		} else {
			s.cfg.Metrics.refusedBy(m.Kind, err)
		}
		return Result{}, err
	}
	if replayed {
		s.cfg.Metrics.replays.WithLabelValues(string(m.Kind), outcomeApplied).Inc()
	} else {
		s.cfg.Metrics.moved(tx)
	}
	return Result{Account: acct, Transaction: tx}, nil
}

func checkMovement(m billing.Movement) (billing.Movement, error) {
	var err error
	if m.UserID, err = validate.ID("user_id", m.UserID); err != nil {
		return m, err
	}
	if m.IsRefund() {
		return checkRefund(m)
	}
	if err := validate.Amount("amount", m.Amount); err != nil {
		return m, err
	}
	if err := validate.Currency("currency", m.Currency); err != nil {
		return m, err
	}
	if m.OrderID, err = validate.OptionalID("order_id", m.OrderID); err != nil {
		return m, err
	}
	// An order's payment is keyed by its order; a request_id it carries
	// is recorded, not required.
	if err := validate.RequestID("request_id", m.RequestID, !m.PaysOrder()); err != nil {
		return m, err
	}
	return m, nil
}

// checkRefund checks the fields of a refund other than its user. The
// withdrawal is named exactly once, so a retry cannot name it two ways
// that disagree; whether it is the user's is the store's to say.
func checkRefund(m billing.Movement) (billing.Movement, error) {
	var err error
	switch {
	case m.RefundOf == "" && m.RefundOrder == "":
		return m, apperr.Invalid("transaction_id", "or order_id is required: name the withdrawal to refund")
	case m.RefundOf != "" && m.RefundOrder != "":
		return m, apperr.Invalid("transaction_id", "and order_id both name the withdrawal; send only one")
	}
	if m.RefundOf, err = validate.OptionalID("transaction_id", m.RefundOf); err != nil {
		return m, err
	}
	if m.RefundOrder, err = validate.OptionalID("order_id", m.RefundOrder); err != nil {
		return m, err
	}
	// 0 asks for all that remains.
	if m.Amount != 0 {
		if err := validate.Amount("amount", m.Amount); err != nil {
			return m, err
		}
	}
	if err := validate.RequestID("request_id", m.RequestID, true); err != nil {
		return m, err
	}
	if n := utf8.RuneCountInString(m.RefundReason); n > billing.MaxRefundReasonLen {
		return m, apperr.Invalid("reason", "must be at most %d characters, got %d", billing.MaxRefundReasonLen, n)
	}
	return m, nil
}

// ListTransactions returns a page of the ledger of userID, newest first.
func (s *Service) ListTransactions(ctx context.Context, userID string, pageSize int32, pageToken string) (Page, error) {
	userID, err := validate.ID("user_id", userID)
	if err != nil {
		return Page{}, err
	}
	req, err := paging.Parse(pageSize, pageToken)
	if err != nil {
		return Page{}, err
	}
	items, err := s.store.ListTransactions(ctx, userID, req.After, req.Limit())
	if err != nil {
		return Page{}, err
	}
	items, next := paging.Cut(req, items, func(t billing.Transaction) paging.Cursor {
		return paging.Cursor{Time: t.CreateTime, ID: t.ID}
	})
	return Page{Transactions: items, NextPageToken: next}, nil
}
