// Package app holds the order service's use cases: placing an order
// (validate, look up the buyer, record the order, pay through billing,
// record the outcome with its letter in the outbox, hand the letter over),
// reading orders, and the background passes that finish what a failure
// left undone: the repair pass (payments) and the relay (letters). It talks to the store and to
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
	"github.com/kassa-dev/kassa/services/platform/admission"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/retry"
	"github.com/kassa-dev/kassa/services/platform/validate"
)

// Store is the persistence the use cases need (postgres.Store).
type Store interface {
	// FindByRequest is the order userID made with requestID, if any: for
	// a retry that cannot go through Create.
	FindByRequest(ctx context.Context, userID, requestID string) (o order.Order, found bool, err error)
	// Create records a pending order whose payment the repair loop may
	// take after grace.
	Create(ctx context.Context, o order.Order, grace time.Duration) (stored order.Order, created bool, err error)
	Get(ctx context.Context, userID, id string) (order.Order, error)
	List(ctx context.Context, userID string, after paging.Cursor, limit int) ([]order.Order, error)
	// RecordOutcome records billing's answer for pending order o together
	// with its letter in the outbox (which the relay may take after
	// letterDelay); recorded is false, and the stored order returned, when
	// another worker recorded the answer first.
	RecordOutcome(ctx context.Context, o order.Order, out order.Outcome, letter order.Letter, letterDelay time.Duration) (stored order.Order, recorded bool, err error)
	// MarkSent records that letter requestID of order id is stored by the
	// notification service.
	MarkSent(ctx context.Context, id, requestID string) (order.Order, error)
	// ClaimPayments and ClaimLetters take due work for one attempt each,
	// counting the attempt and hiding it from other loops for lease.
	// Only work due by dueBy is taken, so a pass that started at dueBy
	// does not take again what it rescheduled itself.
	ClaimPayments(ctx context.Context, lease time.Duration, limit int, dueBy time.Time) ([]order.Order, error)
	ClaimLetters(ctx context.Context, lease time.Duration, limit int, dueBy time.Time) ([]order.Letter, error)
	// PaymentFailed and LetterFailed schedule the next attempt after delay
	// or park the item.
	PaymentFailed(ctx context.Context, id string, delay time.Duration, park bool, lastErr string) error
	LetterFailed(ctx context.Context, id, requestID string, delay time.Duration, park bool, lastErr string) error
	// HandOverFailed makes a letter its request could not hand over due
	// after delay, unless the relay already owns its schedule.
	HandOverFailed(ctx context.Context, id, requestID string, delay time.Duration, lastErr string) error
	// RequestRefund records a refund of amount (0: all not yet refunded,
	// which cancels the order) of userID's order id before money moves,
	// reserving it against the price, and returns the order and the
	// refunds the request is to make; they are due for the repair loop
	// after grace. A rejected or cancelled order takes none.
	RequestRefund(ctx context.Context, userID, id string, amount int64, reason, requestID string, grace time.Duration) (order.Order, []order.Refund, error)
	// RecordRefund records billing's refund of r with its letter in the
	// outbox, cancelling the order with the last one; recorded is false
	// when another worker was first.
	RecordRefund(ctx context.Context, r order.Refund, given int64, letterDelay time.Duration) (stored order.Order, recorded bool, err error)
	// ClaimRefunds takes due refunds, as ClaimPayments takes payments, and
	// RefundFailed schedules the next attempt of a failed one or parks it.
	ClaimRefunds(ctx context.Context, lease time.Duration, limit int, dueBy time.Time) ([]order.Refund, error)
	RefundFailed(ctx context.Context, r order.Refund, delay time.Duration, park bool, lastErr string) error
	CountParked(ctx context.Context) (map[order.Step]int, error)
	ListParked(ctx context.Context, after paging.Cursor, limit int) ([]order.ParkedItem, error)
	RetryParked(ctx context.Context, orderIDs []string) (int, error)
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
	// HasAccount reports whether billing has an account for userID, open
	// or closed: every user ever created has one (deleting a user closes
	// it), so false means the user never existed. err is set when billing
	// did not answer.
	HasAccount(ctx context.Context, userID string) (bool, error)
	// Refund gives back Amount (0: what is left) of the withdrawal that
	// paid the order and returns the amount it gave back. Retries with the
	// same RequestID give back once and return the same amount. err is set
	// when billing did not refund: wrapping ErrRefundRefused when it
	// refused for good (which for a refund reserved against the order's
	// price is an anomaly for an operator), otherwise it did not answer
	// and the refund may or may not have happened.
	Refund(ctx context.Context, r Refund) (refunded int64, err error)
}

// ErrRefundRefused marks a refund billing refused for good: asking again
// under its key gets the same answer.
var ErrRefundRefused = errors.New("billing refused the refund")

// Refund asks billing to give money of an order back to its buyer.
type Refund struct {
	UserID    string
	OrderID   string // the withdrawal is the one that paid this order
	Amount    int64  // 0: all that remains
	RequestID string // idempotency key: order.Refund.BillingKey
	Reason    string
}

// Letters is the notification service.
type Letters interface {
	// Send stores the letter; retries with its RequestID store it once.
	Send(ctx context.Context, l order.Letter) error
}

// Config tunes the service. The zero value of every field is usable and
// means what its comment says.
type Config struct {
	// DefaultCurrency applies to orders without a currency; "" means USD.
	DefaultCurrency string
	// RepairMinAge: the background passes leave orders and letters younger
	// than this alone, as their CreateOrder call is most likely still
	// working on them; it is also the lease of a letter the relay sends (at
	// least a second). 0 spares no order, for tests.
	RepairMinAge time.Duration
	// RepairBatch bounds the orders one repair pass resumes and the letters
	// one relay pass sends; 0 means DefaultRepairBatch.
	RepairBatch int
	// Retry schedules the background loops' next attempt of a failed item
	// and when to park it; the zero value means retry.Default.
	Retry retry.Policy
	// Log receives what the peers and the database failed to do; nil logs
	// nothing.
	Log *slog.Logger
	// Metrics counts orders; nil counts in unregistered metrics.
	Metrics *Metrics
	// BuyerLimit bounds the CreateOrder calls of one buyer at once (zero:
	// no bound). Every payment of a buyer takes the row lock of the same
	// billing account, one after the other, so more of them at once only
	// queue there, holding database connections, until their deadline;
	// beyond the bound an order is refused before it is recorded
	// (RESOURCE_EXHAUSTED, HTTP 429 with Retry-After), so nothing is
	// created, paid or written to the buyer.
	BuyerLimit admission.Config
}

// DefaultBuyerLimit is cmd/order's Config.BuyerLimit (-buyer-max-*): one
// account serves about 230 payments a second on two cores, each behind
// the previous one's commit, so four at once keep its row lock busy while
// their other work (the user lookup, the order's insert, the letter)
// overlaps, and a 10ms queue in front of them keeps an admitted order's
// wait short and a refusal quick.
var DefaultBuyerLimit = admission.Config{MaxInFlight: 4, MaxQueue: 4, MaxWait: 10 * time.Millisecond}

// DefaultRepairBatch is the batch of a repair or relay pass when
// Config.RepairBatch is 0.
const DefaultRepairBatch = 100

// Service implements the order use cases.
type Service struct {
	store    Store
	users    Users
	payments Payments
	letters  Letters
	cfg      Config
	log      *slog.Logger
	buyers   *admission.Keyed
}

// New returns a Service over store and its peers. It fails when the
// default currency is not an ISO 4217 code or the retry policy is unusable.
func New(store Store, users Users, payments Payments, letters Letters, cfg Config) (*Service, error) {
	if cfg.DefaultCurrency == "" {
		cfg.DefaultCurrency = "USD"
	}
	if err := validate.Currency("default-currency", cfg.DefaultCurrency); err != nil {
		return nil, err
	}
	if cfg.RepairBatch <= 0 {
		cfg.RepairBatch = DefaultRepairBatch
	}
	if cfg.Retry == (retry.Policy{}) {
		cfg.Retry = retry.Default
	}
	if err := cfg.Retry.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil, cfg.DefaultCurrency)
	}
	if err := cfg.BuyerLimit.Validate(); err != nil {
		return nil, fmt.Errorf("buyer limit: %w", err)
	}
	if cfg.BuyerLimit.What == "" {
		cfg.BuyerLimit.What = "this buyer's orders"
	}
	return &Service{store: store, users: users, payments: payments, letters: letters, cfg: cfg, log: log,
		buyers: admission.NewKeyed(cfg.BuyerLimit)}, nil
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
	// Before anything is read or recorded: a refusal leaves no trace, and
	// a retry of it is a first attempt.
	release, err := s.buyers.Acquire(ctx, userID)
	if err != nil {
		return order.Order{}, err
	}
	defer release()

	retry, keyed := "retry with the same request_id", requestID != ""
	if !keyed {
		requestID = uuid.NewString()
		// The client has no key to retry with: it gets the server's, so a
		// retry of a call whose answer it did not get cannot pay twice.
		retry = fmt.Sprintf("retry with request_id %q", requestID)
	}

	// A new order is not looked up by its key first: the insert below is
	// the lookup (it finds an earlier order with the key and writes
	// nothing), which saves every first attempt a round trip. A retry pays
	// for it with the user lookup, and when that fails it still gets its
	// order, which needs neither the user service nor a live user.
	email, err := s.users.Email(ctx, userID)
	if err != nil {
		if keyed {
			o, found, ferr := s.store.FindByRequest(ctx, userID, requestID)
			if ferr != nil {
				// Whether an order (and maybe a payment) exists is unknown,
				// so no answer may look final, not even "user not found".
				return order.Order{}, s.notRecorded(ctx, retry, ferr)
			}
			if found {
				return s.replay(ctx, o, price, currency, retry)
			}
		}
		if errors.Is(err, order.ErrUnknownUser) {
			return order.Order{}, order.ErrUserNotFound(userID)
		}
		s.log.WarnContext(ctx, "user service failed", "user_id", userID, "error", err)
		return order.Order{}, apperr.Unavailable("user service did not answer; retry later")
	}

	// The order is recorded before any money moves, so a payment can
	// always be traced to an order and resumed from it.
	o, created, err := s.store.Create(ctx, order.Order{
		UserID: userID, Price: price, Currency: currency, RequestID: requestID, Email: email,
	}, s.cfg.RepairMinAge)
	if err != nil {
		return order.Order{}, s.notRecorded(ctx, retry, err)
	}
	if !created { // a retry, or a concurrent request with the key won
		return s.replay(ctx, o, price, currency, retry)
	}
	return s.complete(ctx, o, retry)
}

// replay answers a CreateOrder whose key already has order o: with o,
// finished if a failed attempt left it pending, when the terms are the
// same, and as a reused key otherwise.
func (s *Service) replay(ctx context.Context, o order.Order, price int64, currency, retry string) (order.Order, error) {
	if !o.SameTerms(price, currency) {
		return order.Order{}, apperr.RequestIDReused(o.RequestID)
	}
	s.cfg.Metrics.replays.Inc()
	return s.complete(ctx, o, retry)
}

// ReasonNotFinished is the ErrorInfo reason of a CreateOrder that recorded
// its order but could not finish it: the client retries with its key.
const ReasonNotFinished = "ORDER_NOT_FINISHED"

// complete is finish for a CreateOrder call: whatever stops it after the
// order was recorded (billing silent, the database failing) is answered
// as UNAVAILABLE naming the order and how to retry, never as an internal
// error a client would take as final while its money may have moved.
func (s *Service) complete(ctx context.Context, o order.Order, retry string) (order.Order, error) {
	done, err := s.finish(ctx, o)
	switch {
	case err == nil:
		return done, nil
	case errors.Is(err, errBillingSilent):
		return order.Order{}, apperr.Unavailable("order %s is pending: billing did not answer; %s", o.ID, retry).WithReason(ReasonNotFinished)
	}
	s.log.WarnContext(ctx, "order recorded but not finished", "order_id", o.ID, "error", err)
	return order.Order{}, apperr.Unavailable("order %s is pending: its payment could not be recorded; %s", o.ID, retry).WithReason(ReasonNotFinished)
}

// notRecorded answers a store failure before the order was known to be
// recorded. The insert may have committed without its reply arriving, so
// the client is told to retry with the key that finds it.
func (s *Service) notRecorded(ctx context.Context, retry string, err error) error {
	if apperr.KindOf(err) != 0 {
		return err
	}
	s.log.WarnContext(ctx, "order database failed before the order was recorded", "error", err)
	return apperr.Unavailable("the order database did not answer; %s", retry).WithReason("DATABASE_UNAVAILABLE")
}

// finish pays a pending order and hands over the letter of a final one
// that is not yet confirmed; it is the part of Create that retries and the
// repair pass repeat. An error means the order is still pending. A letter
// the notification service did not take is no error: it waits in the
// outbox for the relay, and the order is returned with its final status.
func (s *Service) finish(ctx context.Context, o order.Order) (order.Order, error) {
	// Once money may move, carry on even if the caller hangs up: each peer
	// call still has its own deadline (the peer connection's call timeout),
	// and stopping halfway would only leave work for the background loops.
	ctx = context.WithoutCancel(ctx)
	if o.Status == order.Pending {
		var err error
		if o, err = s.settle(ctx, o); err != nil {
			return order.Order{}, err
		}
	}
	if !o.Notified() {
		o = s.handOver(ctx, o)
	}
	return o, nil
}

// settle asks billing to pay pending order o and records the answer with
// its letter. No database connection is held while billing answers.
func (s *Service) settle(ctx context.Context, o order.Order) (order.Order, error) {
	declined, reason, err := s.payments.Withdraw(ctx, Withdrawal{
		UserID: o.UserID, Amount: o.Price, Currency: o.Currency,
		RequestID: order.PaymentRequestID(o.ID), OrderID: o.ID,
	})
	if err != nil {
		s.log.WarnContext(ctx, "billing did not answer; order stays pending", "order_id", o.ID, "error", err)
		return order.Order{}, fmt.Errorf("order %s: %w: %w", o.ID, errBillingSilent, err)
	}
	out := order.Outcome{Status: order.Paid}
	if declined {
		out = order.Declined(reason)
	}
	final := o
	final.Status, final.FailureReason = out.Status, out.Reason
	stored, recorded, err := s.store.RecordOutcome(ctx, o, out, order.OutcomeLetter(final), s.cfg.RepairMinAge)
	if err != nil {
		return order.Order{}, err
	}
	if recorded { // not when another worker recorded it first
		s.cfg.Metrics.settled(stored)
	}
	return stored, nil
}

// handOver gives the letter of final order o to the notification service
// right away, so that in the normal case it is stored when CreateOrder
// returns, and returns o as now stored. When that fails the letter stays
// in the outbox and the relay delivers it.
func (s *Service) handOver(ctx context.Context, o order.Order) order.Order {
	if sent, ok := s.deliver(ctx, order.OutcomeLetter(o)); ok {
		return sent
	}
	return o
}

// deliver hands letter l, already in the outbox, to the notification
// service and marks it sent; ok is false, and the letter left to the
// relay, when either fails.
func (s *Service) deliver(ctx context.Context, l order.Letter) (sent order.Order, ok bool) {
	if err := s.letters.Send(ctx, l); err != nil {
		s.log.WarnContext(ctx, "letter not handed over; the relay will deliver it", "order_id", l.OrderID, "letter", l.RequestID, "error", err)
		// The letter was due only after the lease, which keeps the relay
		// off letters whose request may still hand them over. This one's
		// request has given up, so the relay may take it after the first
		// backoff step instead. No attempt is counted: the relay counts its
		// own. If this write fails, the lease stands and the relay is later.
		next, _ := s.cfg.Retry.After(time.Now(), 1)
		if err := s.store.HandOverFailed(ctx, l.OrderID, l.RequestID, time.Until(next), err.Error()); err != nil {
			s.log.WarnContext(ctx, "letter not rescheduled for the relay", "order_id", l.OrderID, "error", err)
		}
		return order.Order{}, false
	}
	sent, err := s.store.MarkSent(ctx, l.OrderID, l.RequestID)
	if err != nil {
		// Stored but not marked: the relay sends it again and the
		// notification service keeps the one it has.
		s.log.WarnContext(ctx, "letter stored but not marked sent", "order_id", l.OrderID, "error", err)
		return order.Order{}, false
	}
	return sent, true
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

// List returns a page of userID's orders, newest first. An empty page for
// a user that never existed is USER_NOT_FOUND, as billing's ledger of such
// a user is, while a deleted user's orders stay listed. Only an empty page
// needs billing's word (orders imply their user), and only when the caller
// is not the user itself (byOwner: a verified token of that user), so an
// owner's list never waits for billing. If billing does not answer, the
// answer is UNAVAILABLE, never a guess.
func (s *Service) List(ctx context.Context, userID string, pageSize int32, pageToken string, byOwner bool) (Page, error) {
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
	if len(items) == 0 && !byOwner {
		exists, err := s.payments.HasAccount(ctx, userID)
		if err != nil {
			s.log.WarnContext(ctx, "billing did not say whether the user exists", "user_id", userID, "error", err)
			return Page{}, apperr.Unavailable("billing did not answer whether user %s exists; retry later", userID)
		}
		if !exists {
			return Page{}, order.ErrUserNotFound(userID)
		}
	}
	items, next := paging.Cut(req, items, func(o order.Order) paging.Cursor {
		return paging.Cursor{Time: o.CreateTime, ID: o.ID}
	})
	return Page{Orders: items, NextPageToken: next}, nil
}
