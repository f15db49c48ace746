// Package app holds the order service's use cases: placing an order
// (validate, look up the buyer, record the order, pay through billing,
// send the outcome letter), reading orders, and the repair pass that
// finishes orders a failure left half done. It talks to the store and to
// the user, billing and notification services through the small interfaces
// below and knows nothing about SQL or protobuf.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/validate"
)

// Store is the persistence the use cases need (postgres.Store).
type Store interface {
	FindByRequest(ctx context.Context, userID, requestID string) (o order.Order, found bool, err error)
	Create(ctx context.Context, o order.Order) (stored order.Order, created bool, err error)
	Get(ctx context.Context, userID, id string) (order.Order, error)
	List(ctx context.Context, userID string, after paging.Cursor, limit int) ([]order.Order, error)
	// Settle runs pay for a pending order while no other worker can settle
	// it, and records pay's outcome; a final order is returned untouched.
	Settle(ctx context.Context, id string, pay func(order.Order) (order.Outcome, error)) (order.Order, error)
	MarkNotified(ctx context.Context, id string) (order.Order, error)
	Unfinished(ctx context.Context, minAge time.Duration, limit int) ([]order.Order, error)
}

// Users is the user service.
type Users interface {
	// Email returns the address of user id, or an error wrapping
	// order.ErrUnknownUser when there is no such (live) user.
	Email(ctx context.Context, userID string) (string, error)
}

// Withdrawal asks billing to take an order's price from its buyer.
type Withdrawal struct {
	UserID    string
	Amount    int64
	Currency  string
	RequestID string // idempotency key: order.PaymentRequestID
	OrderID   string
}

// Payments is the billing service.
type Payments interface {
	// Withdraw takes the money. declined is true when billing refused for
	// good (insufficient funds, closed account, ...) with reason as its
	// explanation; err is set when billing did not give an answer, and the
	// withdrawal may or may not have happened.
	Withdraw(ctx context.Context, w Withdrawal) (declined bool, reason string, err error)
}

// Letters is the notification service.
type Letters interface {
	// Send stores the letter; retries with its RequestID store it once.
	Send(ctx context.Context, l order.Letter) error
}

// Config tunes the service.
type Config struct {
	// DefaultCurrency applies to orders without a currency.
	DefaultCurrency string
	// RepairMinAge: the repair pass leaves orders younger than this alone,
	// as their CreateOrder call is most likely still working on them.
	RepairMinAge time.Duration
	// RepairBatch bounds the orders one repair pass resumes.
	RepairBatch int
	Log         *slog.Logger
	// Metrics counts orders; nil counts in unregistered metrics.
	Metrics *Metrics
}

// Service implements the order use cases.
type Service struct {
	store    Store
	users    Users
	payments Payments
	letters  Letters
	cfg      Config
	log      *slog.Logger
}

// New returns a Service. It fails when the default currency is not an ISO
// 4217 code.
func New(store Store, users Users, payments Payments, letters Letters, cfg Config) (*Service, error) {
	if cfg.DefaultCurrency == "" {
		cfg.DefaultCurrency = "USD"
	}
	if err := validate.Currency("default-currency", cfg.DefaultCurrency); err != nil {
		return nil, err
	}
	if cfg.RepairBatch <= 0 {
		cfg.RepairBatch = 100
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil, cfg.DefaultCurrency)
	}
	return &Service{store: store, users: users, payments: payments, letters: letters, cfg: cfg, log: log}, nil
}

// errBillingSilent marks a payment that got no answer from billing.
var errBillingSilent = errors.New("billing did not answer")

// Create places an order for userID at price (minor units) in currency
// ("" = default) and returns it with its final status. A declined payment
// is not an error: the order comes back Rejected with a reason. requestID
// ("" = server-made, so a retry is a new order) makes retries return the
// first order and never pay or notify twice; a retry also finishes what a
// failed attempt left undone.
func (s *Service) Create(ctx context.Context, userID string, price int64, currency, requestID string) (order.Order, error) {
	userID, err := validate.ID("user_id", userID)
	if err != nil {
		return order.Order{}, err
	}
	if err := validate.Amount("order.price", price); err != nil {
		return order.Order{}, err
	}
	if err := validate.Currency("order.currency", currency); err != nil {
		return order.Order{}, err
	}
	if currency == "" {
		currency = s.cfg.DefaultCurrency
	}
	if err := validate.RequestID("request_id", requestID, false); err != nil {
		return order.Order{}, err
	}

	if requestID == "" {
		requestID = uuid.NewString()
	} else {
		o, found, err := s.store.FindByRequest(ctx, userID, requestID)
		if err != nil {
			return order.Order{}, err
		}
		if found {
			if !o.SameTerms(price, currency) {
				return order.Order{}, order.ErrRequestIDReused(requestID)
			}
			s.cfg.Metrics.replays.Inc()
			return s.finish(ctx, o)
		}
	}

	email, err := s.users.Email(ctx, userID)
	if errors.Is(err, order.ErrUnknownUser) {
		return order.Order{}, apperr.NotFound("user %s not found", userID).WithReason("USER_NOT_FOUND")
	}
	if err != nil {
		s.log.WarnContext(ctx, "user service failed", "user_id", userID, "error", err)
		return order.Order{}, apperr.Unavailable("user service did not answer; retry later")
	}

	// The order is recorded before any money moves, so a payment can
	// always be traced to an order and resumed from it.
	o, created, err := s.store.Create(ctx, order.Order{
		UserID: userID, Price: price, Currency: currency, RequestID: requestID, Email: email,
	})
	if err != nil {
		return order.Order{}, err
	}
	if !created {
		if !o.SameTerms(price, currency) { // a concurrent request won with other terms
			return order.Order{}, order.ErrRequestIDReused(requestID)
		}
		s.cfg.Metrics.replays.Inc() // a concurrent retry won: this call answers with its order
	}
	return s.finish(ctx, o)
}

// finish pays a pending order and sends the letter of a final one; it is
// the part of Create that retries and the repair pass repeat. Both steps
// use idempotency keys derived from the order id, so repeating them is
// safe.
func (s *Service) finish(ctx context.Context, o order.Order) (order.Order, error) {
	// Once money may move, carry on even if the caller hangs up: each peer
	// call still has its own deadline (the peer connection's call timeout),
	// and stopping halfway would only leave work for the repair loop.
	ctx = context.WithoutCancel(ctx)
	var err error
	if o.Status == order.Pending {
		id := o.ID
		var paid bool // billing answered this call's payment step
		o, err = s.store.Settle(ctx, id, s.pay(ctx, &paid))
		if errors.Is(err, errBillingSilent) {
			return order.Order{}, apperr.Unavailable("order %s is pending: billing did not answer; retry with the same request_id", id)
		}
		if err != nil {
			return order.Order{}, err
		}
		if paid { // not when another worker settled it first
			s.cfg.Metrics.settled(o)
		}
	}
	if !o.Notified() {
		if err := s.letters.Send(ctx, order.OutcomeLetter(o)); err != nil {
			s.log.WarnContext(ctx, "outcome letter not stored", "order_id", o.ID, "error", err)
			return order.Order{}, apperr.Unavailable("order %s is %s but its letter was not stored; retry with the same request_id", o.ID, o.Status)
		}
		if o, err = s.store.MarkNotified(ctx, o.ID); err != nil {
			return order.Order{}, err
		}
	}
	return o, nil
}

// pay returns the payment step Settle runs under the order's lock. It sets
// *answered when billing gave a final answer.
func (s *Service) pay(ctx context.Context, answered *bool) func(order.Order) (order.Outcome, error) {
	return func(o order.Order) (order.Outcome, error) {
		declined, reason, err := s.payments.Withdraw(ctx, Withdrawal{
			UserID: o.UserID, Amount: o.Price, Currency: o.Currency,
			RequestID: order.PaymentRequestID(o.ID), OrderID: o.ID,
		})
		if err != nil {
			s.log.WarnContext(ctx, "billing did not answer; order stays pending", "order_id", o.ID, "error", err)
			return order.Outcome{}, fmt.Errorf("order %s: %w: %w", o.ID, errBillingSilent, err)
		}
		*answered = true
		if declined {
			return order.Declined(reason), nil
		}
		return order.Outcome{Status: order.Paid}, nil
	}
}

// Get returns the order id of userID; another user's order is NOT_FOUND.
func (s *Service) Get(ctx context.Context, userID, id string) (order.Order, error) {
	userID, err := validate.ID("user_id", userID)
	if err != nil {
		return order.Order{}, err
	}
	if id, err = validate.ID("id", id); err != nil {
		return order.Order{}, err
	}
	return s.store.Get(ctx, userID, id)
}

// Page is one page of a user's orders, newest first.
type Page struct {
	Orders []order.Order
	// NextPageToken is "" on the last page.
	NextPageToken string
}

// List returns a page of userID's orders, newest first.
func (s *Service) List(ctx context.Context, userID string, pageSize int32, pageToken string) (Page, error) {
	userID, err := validate.ID("user_id", userID)
	if err != nil {
		return Page{}, err
	}
	req, err := paging.Parse(pageSize, pageToken)
	if err != nil {
		return Page{}, err
	}
	items, err := s.store.List(ctx, userID, req.After, req.Limit())
	if err != nil {
		return Page{}, err
	}
	items, next := paging.Cut(req, items, func(o order.Order) paging.Cursor {
		return paging.Cursor{Time: o.CreateTime, ID: o.ID}
	})
	return Page{Orders: items, NextPageToken: next}, nil
}

// RepairReport counts what one repair pass did.
type RepairReport struct {
	Finished int // orders that are now paid/rejected and notified
	Failed   int // orders still unfinished (a peer is still failing)
}

// Repair finishes orders that a failure left pending or without a letter:
// it pays or re-asks billing (same idempotency key, so never twice) and
// sends missing letters. It runs one pass over at most Config.RepairBatch
// orders; RunRepair calls it periodically.
func (s *Service) Repair(ctx context.Context) (RepairReport, error) {
	var rep RepairReport
	orders, err := s.store.Unfinished(ctx, s.cfg.RepairMinAge, s.cfg.RepairBatch)
	if err != nil {
		return rep, err
	}
	for _, o := range orders {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		done, err := s.finish(ctx, o)
		if err != nil {
			rep.Failed++
			s.cfg.Metrics.repaired.WithLabelValues("failed").Inc()
			s.log.WarnContext(ctx, "repair: order still unfinished", "order_id", o.ID, "status", o.Status, "error", err)
			continue
		}
		rep.Finished++
		s.cfg.Metrics.repaired.WithLabelValues("finished").Inc()
		s.log.InfoContext(ctx, "repair: order finished", "order_id", done.ID, "status", done.Status)
	}
	return rep, nil
}

// RunRepair runs Repair every interval until ctx is done.
func (s *Service) RunRepair(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.Repair(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "repair pass failed", "error", err)
		}
	}
}
