// Package order is the domain of the order service: an order is a purchase
// by a user for a price, paid through billing and announced to the user by
// a letter. The package holds the order type, its life cycle, the letters
// and the errors the service reports; it does no I/O.
package order

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kassa-dev/kassa/services/platform/apperr"
)

// Status is where an order is in its life cycle. The values are the ones
// stored in the orders.status column.
type Status string

const (
	// Pending: recorded, payment not finished yet (billing has not answered
	// or the answer was not recorded).
	Pending Status = "pending"
	// Paid: billing withdrew the price.
	Paid Status = "paid"
	// Rejected: billing declined the withdrawal; FailureReason says why.
	Rejected Status = "rejected"
	// Cancelled: the order was paid, then cancelled, and billing refunded
	// Refunded of its price.
	Cancelled Status = "cancelled"
)

// MaxCancelReasonLen bounds the reason a cancellation records, in
// characters; it is billing's bound on a refund's reason, which it is
// passed on as.
const MaxCancelReasonLen = 200

// MaxReasonLen bounds a stored failure reason (billing's message); longer
// messages are cut so the letter stays well within the notification
// service's limits.
const MaxReasonLen = 1000

// Order is a purchase by a user. Money is in minor units of Currency.
type Order struct {
	ID     string
	UserID string
	Price  int64
	// Currency is an ISO 4217 code; always set on stored orders.
	Currency string
	Status   Status
	// FailureReason is billing's explanation for Rejected orders, else "".
	FailureReason string
	// RequestID is the client's idempotency key (or a server-made one).
	RequestID string
	// Email is where the outcome letter goes, read from the user service
	// when the order was recorded. Kept on the order so a resumed order
	// sends the same letter without asking the user service again.
	Email string
	// NotifyTime is when the notification service confirmed it stored the
	// outcome letter; zero until then (the letter then waits in the outbox).
	NotifyTime time.Time
	CreateTime time.Time
	UpdateTime time.Time
	// PayAttempts counts the repair loop's attempts at the payment of a
	// pending order (the CreateOrder call's own attempt is not counted).
	PayAttempts int
	// CancelRequested is set once a cancellation was asked for and stored,
	// before billing is asked for the refund; the repair loop finishes a
	// requested cancellation of a paid order that its request did not.
	CancelRequested bool
	// CancelReason is what the cancelling request gave as its reason.
	CancelReason string
	// Refunded is what billing gave back so far: the running total of the
	// recorded refunds, the whole price once the order is Cancelled.
	Refunded   int64
	CancelTime time.Time
}

// Final reports whether the payment has an outcome (paid or rejected; a
// cancelled order was paid).
func (o Order) Final() bool { return o.Status != Pending }

// Notified reports whether the outcome letter is stored.
func (o Order) Notified() bool { return !o.NotifyTime.IsZero() }

// Done reports whether nothing is left to do for the order.
func (o Order) Done() bool { return o.Final() && o.Notified() }

// SameTerms reports whether a retried request asks for the same purchase as
// the stored order (currency already defaulted).
func (o Order) SameTerms(price int64, currency string) bool {
	return o.Price == price && o.Currency == currency
}

// Outcome is billing's answer to an order's payment.
type Outcome struct {
	Status Status // Paid or Rejected
	Reason string // for Rejected
}

// Declined makes the outcome of a declined payment. The reason is billing's
// message; it is never empty (the schema requires a reason for rejected
// orders) and is cut to MaxReasonLen.
func Declined(reason string) Outcome {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		reason = "the payment was declined by billing"
	}
	if utf8.RuneCountInString(reason) > MaxReasonLen {
		reason = string([]rune(reason)[:MaxReasonLen-3]) + "..."
	}
	return Outcome{Status: Rejected, Reason: reason}
}

// PaymentRequestID is the idempotency key of an order's withdrawal in
// billing. It depends only on the order id, so however often the payment
// is retried (by the client, by concurrent retries or by the repair loop)
// billing applies it at most once.
func PaymentRequestID(orderID string) string { return "order/" + orderID }

// LetterRequestID is the idempotency key of an order's outcome letter in
// the notification service: one letter per order.
func LetterRequestID(orderID string) string { return "order/" + orderID + "/letter" }

// RefundRequestID is the idempotency key of an order's refund in billing:
// an order is refunded once however often its cancellation is retried.
func RefundRequestID(orderID string) string { return "order/" + orderID + "/refund" }

// CancelLetterRequestID is the idempotency key of the letter announcing an
// order's cancellation: one such letter per order.
func CancelLetterRequestID(orderID string) string { return "order/" + orderID + "/cancel-letter" }

// CancelLetter writes the letter for cancelled order o from its stored
// fields, so every retry sends the identical letter.
func CancelLetter(o Order) Letter {
	return Letter{
		UserID: o.UserID, Email: o.Email, OrderID: o.ID, RequestID: CancelLetterRequestID(o.ID),
		Subject: fmt.Sprintf("Order %s was cancelled", o.ID),
		Body: fmt.Sprintf("Hello,\n\nyour order %s was cancelled, %s was refunded.\n\nThank you for shopping with kassa.\n",
			o.ID, FormatAmount(o.Refunded, o.Currency)),
	}
}

// Letter is an email to the buyer about an order's outcome.
type Letter struct {
	UserID    string
	Email     string
	Subject   string
	Body      string
	OrderID   string
	RequestID string
	// Attempts counts the relay's delivery attempts of a letter taken from
	// the outbox, this one included; 0 for a letter not from the outbox.
	Attempts int
}

// OutcomeLetter writes the letter for a final order. It depends only on
// stored fields of the order, so every retry sends the identical letter
// (the notification service refuses a reused key with another letter).
func OutcomeLetter(o Order) Letter {
	l := Letter{UserID: o.UserID, Email: o.Email, OrderID: o.ID, RequestID: LetterRequestID(o.ID)}
	amount := FormatAmount(o.Price, o.Currency)
	switch o.Status {
	case Paid, Cancelled: // a cancelled order was paid; its cancellation has a letter of its own
		l.Subject = fmt.Sprintf("Order %s is paid", o.ID)
		l.Body = fmt.Sprintf("Hello,\n\nyour order %s is paid: %s was withdrawn from your account.\n\nThank you for shopping with kassa.\n",
			o.ID, amount)
	default:
		l.Subject = fmt.Sprintf("Order %s was declined", o.ID)
		l.Body = fmt.Sprintf("Hello,\n\nyour order %s for %s was declined and nothing was withdrawn from your account.\nReason: %s\n\nYou may place the order again once the problem is solved.\n",
			o.ID, amount, o.FailureReason)
	}
	return l
}

// minorDigits lists currencies whose minor unit is not a hundredth.
// Everything else is shown with two decimals, which is right for most
// ISO 4217 currencies (USD, EUR, GBP, ...). This is a display rule for
// letters only; amounts are always stored and charged in minor units.
var minorDigits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

// FormatAmount shows an amount in minor units as "12.34 USD" (or "1234 JPY",
// "1.234 KWD" for currencies with other minor units).
func FormatAmount(amount int64, currency string) string {
	digits, ok := minorDigits[currency]
	if !ok {
		digits = 2
	}
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	if digits == 0 {
		return fmt.Sprintf("%s%d %s", sign, amount, currency)
	}
	scale := int64(1)
	for range digits {
		scale *= 10
	}
	return fmt.Sprintf("%s%d.%0*d %s", sign, amount/scale, digits, amount%scale, currency)
}

// Step is a piece of an order's background work; the values are the ones
// ParkedItem.Step reports and the step label of the parked-items metrics.
type Step string

const (
	// StepPayment: settle a pending order (a withdrawal in billing).
	StepPayment Step = "payment"
	// StepLetter: deliver a final order's letter from the outbox.
	StepLetter Step = "letter"
)

// Steps lists every step, in the order the metrics and listings use.
var Steps = []Step{StepPayment, StepLetter, StepRefund}

// ParkedItem is a step the background loops gave up on after too many
// failed attempts; it waits for an operator to release it.
type ParkedItem struct {
	Step      Step
	OrderID   string
	UserID    string
	Attempts  int
	LastError string
	ParkTime  time.Time
}

// ErrNotFound is returned for an order that does not exist or belongs to
// another user (the two are indistinguishable on purpose).
var ErrNotFound = apperr.NotFound("order not found").WithReason("ORDER_NOT_FOUND")

// ErrUserNotFound is the answer for a buyer that does not exist or was
// deleted, and for another customer's user id: the two look alike, so
// nobody learns from the order API which user ids exist.
func ErrUserNotFound(userID string) error {
	return apperr.NotFound("user %s not found", userID).WithReason("USER_NOT_FOUND")
}

// ErrUnknownUser is what the user peer reports for a user that does not
// exist (or was deleted).
var ErrUnknownUser = errors.New("no such user")
